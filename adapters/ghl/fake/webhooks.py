"""Signed webhooks, as GHL sends them: a flat JSON event POSTed with an Ed25519
``x-ghl-signature`` (base64) over the exact body bytes, re-delivered only after a 429."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# GHL's policy (reference/ghl/webhook-delivery-policy.json): only a 429 is retried, up to six
# times, ten minutes apart plus jitter; any other answer, or none, ends the delivery.
MAX_RETRIES = 6


@dataclass(slots=True)
class DeliveryAttempt:
    webhook_id: str
    event_type: str
    attempt: int
    status: int | None  # None: no answer
    error: str | None = None


class WebhookSender:
    """Queues events and delivers them in order; a 429 schedules that event's next attempt
    `retry_delay` seconds (+ up to 10 % jitter) later without holding the queue back."""

    def __init__(
        self,
        url: str | None,
        *,
        private_key: Ed25519PrivateKey | None = None,
        retry_delay: float = 600.0,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.private_key = private_key or Ed25519PrivateKey.generate()
        self.retry_delay = retry_delay
        self.attempts: list[DeliveryAttempt] = []
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._retries: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    def public_key_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.private_key.sign(body)).decode()

    def emit(self, event: dict[str, Any]) -> None:
        """Queue an event. It gets the envelope fields GHL documents for signed bodies."""
        if self.url is None:
            return
        event = {
            **event,
            "webhookId": str(uuid.uuid4()),
            "timestamp": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        # Compact JSON in insertion order: what GHL's own verification samples assume it sends.
        self._queue.put_nowait(json.dumps(event, separators=(",", ":")).encode())

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [*self._retries, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()

    async def drain(self) -> None:
        """Wait until every queued event was delivered (retries included)."""
        await self._queue.join()
        while self._retries:
            await asyncio.gather(*self._retries, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                if await self._deliver(body, attempt=1) == 429:
                    self._schedule_retry(body, attempt=2)
            finally:
                self._queue.task_done()

    def _schedule_retry(self, body: bytes, attempt: int) -> None:
        task = asyncio.create_task(self._retry(body, attempt))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, body: bytes, attempt: int) -> None:
        while attempt <= MAX_RETRIES + 1:
            await asyncio.sleep(self.retry_delay * (1 + self._rng.random() / 10))
            if await self._deliver(body, attempt) != 429:
                return
            attempt += 1

    async def _deliver(self, body: bytes, attempt: int) -> int | None:
        assert self.url is not None
        assert self._session is not None
        event = json.loads(body)
        record = DeliveryAttempt(event["webhookId"], event["type"], attempt, None)
        self.attempts.append(record)
        headers = {"Content-Type": "application/json", "x-ghl-signature": self.sign(body)}
        try:
            async with self._session.post(self.url, data=body, headers=headers) as resp:
                record.status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            record.error = type(err).__name__
        return record.status

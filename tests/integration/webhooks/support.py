"""Helpers of the webhook tests: GHL's reference payloads, a sender that signs like GHL (with a
test key pair), and a TCP proxy that can cut the database off."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.signatures import (
    WebhookSignatureVerifier,
    hmac_signature,
    standard_webhooks_signature,
)
from adapters.persistence.models import WEBHOOK_DELIVERIES
from domain.values import SecretStr
from tests.support.reference import GHL_REFERENCE

REFERENCE = GHL_REFERENCE


def reference_payload(name: str) -> bytes:
    """One of GHL's documented examples, byte for byte."""
    return (REFERENCE / name).read_bytes()


@dataclass(frozen=True)
class Signer:
    """Signs bodies as GHL does, with a key pair of its own that the tests' verifier trusts
    (GHL's private keys are GHL's)."""

    ed25519: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    rsa: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def verifier(self) -> WebhookSignatureVerifier:
        return WebhookSignatureVerifier(
            ghl_ed25519_key=self.ed25519.public_key(), ghl_rsa_key=self.rsa.public_key()
        )

    def ghl(self, body: bytes) -> dict[str, str]:
        return {"x-ghl-signature": base64.b64encode(self.ed25519.sign(body)).decode()}

    def ghl_rsa(self, body: bytes) -> dict[str, str]:
        signature = self.rsa.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return {"x-wh-signature": base64.b64encode(signature).decode()}

    @staticmethod
    def hmac(secret: str, body: bytes) -> dict[str, str]:
        return {"x-webhook-signature": hmac_signature(SecretStr(secret), body)}

    @staticmethod
    def standard(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_webhooks_signature(
                SecretStr(secret), message_id, timestamp, body
            ),
        }


class TcpProxy:
    """Forwards loopback connections to host:port. `cut()` drops every connection and refuses
    new ones (as a database that went away) until `restore()`."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def cut(self) -> None:
        self._cut = True
        for writer in list(self._writers):
            writer.close()

    def restore(self) -> None:
        self._cut = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        for pump in pumps:
            pump.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def stored_deliveries(engine: AsyncEngine) -> list[Any]:
    """Every webhook_deliveries row, in arrival order."""
    async with engine.connect() as connection:
        result = await connection.execute(
            select(WEBHOOK_DELIVERIES).order_by(WEBHOOK_DELIVERIES.c.id)
        )
        return list(result.all())

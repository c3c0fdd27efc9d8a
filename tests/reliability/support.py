"""The real service on a fresh Postgres database, restartable on fixed ports (so that it can be
killed and started again under load), a sender that retries like GHL, and a TCP proxy that can
slow the database down or cut it off."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.engine import make_url

from adapters.ghl.fake import FakeGhl, RateLimitConfig
from adapters.persistence.migrate import upgrade
from bench.common import (
    PATHS,
    Keys,
    Service,
    create_ghl_integration,
    fake_ghl,
    fresh_database,
    service_env,
    sql,
    start_service,
)

UNSETTLED = "('pending', 'processing', 'failed')"


def record(test: str, **figures: object) -> None:
    """Append a test's figures (faults survived, deliveries, ...) as a JSON line to the file
    named by RELIABILITY_FIGURES, when set: docs/reliability.md is written from them."""
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"test": test, **figures}, default=str) + "\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Deployment:
    """One `integrations serve` at a time on fixed ports, over one database."""

    database_url: str
    """Where the test reads the database (never through the proxy)."""
    env: dict[str, str]
    keys: Keys
    workdir: Path
    webhook_port: int
    grpc_port: int
    integration_id: str = ""
    ghl: FakeGhl | None = None
    """The fake GHL the service talks to (in this process)."""
    only: str | None = None
    """Run one part of the service only (`serve --only`)."""
    service: Service | None = None
    starts: int = 0

    def start(self) -> Service:
        """Start the service (blocking: call it through asyncio.to_thread)."""
        self.starts += 1
        log = self.workdir / f"service-{self.starts}.log"
        self.service = start_service(self.env, log, only=self.only)
        return self.service

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, claims stay held."""
        assert self.service is not None
        self.service.process.send_signal(signal.SIGKILL)
        self.service.process.wait(timeout=10)
        if self.service.process.stdout is not None:
            self.service.process.stdout.close()
        self.service = None

    def terminate(self) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        assert self.service is not None
        code, _ = self.service.stop(timeout=60)
        self.service = None
        return code

    def url(self, scheme: str = "ed25519") -> str:
        return f"http://127.0.0.1:{self.webhook_port}{PATHS[scheme]}"

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.workdir.glob("service-*.log"))
        )


@contextlib.asynccontextmanager
async def deployment(
    workdir: Path,
    *,
    database_via: Callable[[str, int], Awaitable[int]] | None = None,
    only: str | None = None,
    fake_ghl_seed: dict[str, Any] | None = None,
    fake_ghl_limit: RateLimitConfig | None = None,
    **extra_env: str,
) -> AsyncIterator[Deployment]:
    """A fresh database, the fake GHL, the service started with a GHL integration created.
    `database_via(host, port) -> port` may interpose a proxy between the service and Postgres."""
    keys = Keys()
    async with (
        fake_ghl(fake_ghl_seed, rate_limit=fake_ghl_limit) as (ghl_url, ghl),
        fresh_database() as url,
    ):
        service_url = url
        if database_via is not None:
            parsed = make_url(url)
            port = await database_via(parsed.host or "127.0.0.1", parsed.port or 5432)
            service_url = parsed.set(port=port).render_as_string(hide_password=False)
        webhook_port, grpc_port = free_port(), free_port()
        settings = {
            "WEBHOOK_PORT": str(webhook_port),
            "GRPC_PORT": str(grpc_port),
            "WEBHOOK_RETRY_AFTER_SECONDS": "1",
            "INBOX_LEASE_SECONDS": "3",
            "GRPC_GRACE_SECONDS": "20",
        }
        env = service_env(service_url, keys, workdir, ghl_url=ghl_url, **settings | extra_env)
        await upgrade(service_url)  # in this process: a CLI process would start Python again
        running = Deployment(url, env, keys, workdir, webhook_port, grpc_port, ghl=ghl, only=only)
        await asyncio.to_thread(running.start)
        try:
            running.integration_id = await create_ghl_integration(grpc_port, keys)
            yield running
        finally:
            if running.service is not None:
                await asyncio.to_thread(running.terminate)


@dataclass
class Sent:
    """What a sender saw: every answer's status, and the bodies answered 200."""

    statuses: collections.Counter[int | str] = field(default_factory=collections.Counter)
    answered: set[int] = field(default_factory=set)

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if isinstance(s, int) and s >= 500)


async def deliver(
    url: str,
    keys: Keys,
    bodies: Sequence[bytes],
    *,
    scheme: str = "ed25519",
    sign: Callable[[bytes], tuple[str, str]] | None = None,
    concurrency: int = 16,
    rate: float | None = None,
    deadline: float = 120.0,
    retry_pause: float = 0.1,
) -> Sent:
    """POST each body until it is answered 200: a 429 or a broken connection is retried after
    `retry_pause` (GHL retries only 429s; a sender that also retries lost connections shows
    that nothing answered 200 is lost, and that everything retried is stored once). Any other
    answer is final. `rate` paces the first attempts; everything stops at `deadline`. `sign`
    (body -> header, value) signs as another sender does, instead of `keys` with `scheme`."""
    sent = Sent()
    stop_at = time.monotonic() + deadline
    started = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(bodies)):
        queue.put_nowait(index)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(index: int) -> None:
            body = bodies[index]
            header, signature = sign(body) if sign is not None else keys.sign(scheme, body)
            headers = {header: signature, "Content-Type": "application/json"}
            while time.monotonic() < stop_at:
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        status: int | str = response.status
                except (aiohttp.ClientError, TimeoutError, OSError) as err:
                    status = type(err).__name__
                sent.statuses[status] += 1
                if status == 200:
                    sent.answered.add(index)
                    return
                if status != 429 and isinstance(status, int):
                    return
                await asyncio.sleep(retry_pause)

        async def client() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                if rate is not None:
                    await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
                await one(index)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return sent


async def wait_settled(database_url: str, *, expected: int, within: float) -> None:
    """Until `expected` deliveries are stored and none is left to process."""
    stop_at = time.monotonic() + within
    while True:
        [(stored, unsettled)] = await sql(
            database_url,
            "SELECT count(*), count(*) FILTER (WHERE status IN "  # noqa: S608 - a constant
            f"{UNSETTLED}) FROM webhook_deliveries",
        )
        if stored >= expected and unsettled == 0:
            return
        if time.monotonic() > stop_at:
            raise AssertionError(f"{stored} stored, {unsettled} still unsettled after {within}s")
        await asyncio.sleep(0.2)


async def counts(database_url: str) -> dict[str, int]:
    """What the database holds: deliveries by status, leads, distinct contacts, LeadCaptured."""
    result: dict[str, int] = {}
    for status, n in await sql(
        database_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
    ):
        result[f"deliveries_{status}"] = int(n)
    [(leads, contacts)] = await sql(
        database_url, "SELECT count(*), count(DISTINCT external_id) FROM leads"
    )
    [(captured,)] = await sql(
        database_url, "SELECT count(*) FROM outbox WHERE event_type = 'LeadCaptured'"
    )
    result.update(leads=int(leads), contacts=int(contacts), lead_captured=int(captured))
    return result


class DelayProxy:
    """A loopback TCP proxy to host:port that can hold every chunk back `delay` seconds, or
    `cut()` every connection (refusing new ones) until `restore()`."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.delay = 0.0
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._target = (host, port)
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    def cut(self) -> None:
        self._cut = True
        for writer in list(self._writers):
            writer.close()

    def restore(self) -> None:
        self._cut = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

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
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._writers.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self._cut and (chunk := await reader.read(65536)):
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()

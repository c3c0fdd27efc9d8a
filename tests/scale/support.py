"""Several copies of the service as separate `integrations serve` processes on one Postgres and
one Redis, the schema migrated once beforehand (as docs/deployment.md says), with the fake GHL in
this process; and what the multi-copy tests send and read."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from google.protobuf import struct_pb2

from adapters.ghl.fake import FakeGhl, RateLimitConfig
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from adapters.persistence.migrate import upgrade
from bench.common import (
    Keys,
    Service,
    fake_ghl,
    fresh_database,
    service_env,
    sql,
    start_service,
)
from integrations.v1 import integration_pb2, integration_service_pb2, integration_service_pb2_grpc

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SUB_ACCOUNT = "sa-scale"
PROCESSED = "inbox_delivery_processed"


@dataclass
class Cluster:
    """N copies over one database; `copies[i]` is None once copy i was killed or stopped."""

    database_url: str
    keys: Keys
    env: dict[str, str]
    workdir: Path
    ghl: FakeGhl
    copies: list[Service | None] = field(default_factory=list)

    @property
    def live(self) -> list[Service]:
        return [copy for copy in self.copies if copy is not None]

    def copy(self, index: int) -> Service:
        service = self.copies[index]
        assert service is not None, f"copy {index} is not running"
        return service

    def grpc_target(self, index: int) -> str:
        return f"127.0.0.1:{self.copy(index).grpc_port}"

    def webhook_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.copy(index).webhook_port}/webhooks/ghl"

    def admin(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.keys.token('admin')}"),)

    async def start(self, count: int, *, only: str | None = None) -> None:
        """Start `count` more copies at once (each its own process and log)."""
        first = len(self.copies)
        started = await asyncio.gather(
            *(
                asyncio.to_thread(
                    start_service, self.env, self.workdir / f"copy-{first + i}.log", only=only
                )
                for i in range(count)
            )
        )
        self.copies.extend(started)

    def kill(self, index: int) -> None:
        """SIGKILL: no handler runs, its claims stay held until their leases end."""
        service = self.copy(index)
        service.process.send_signal(signal.SIGKILL)
        service.process.wait(timeout=10)
        if service.process.stdout is not None:
            service.process.stdout.close()
        self.copies[index] = None

    async def stop_all(self) -> None:
        running = [(i, c) for i, c in enumerate(self.copies) if c is not None]
        await asyncio.gather(*(asyncio.to_thread(c.stop, 60) for _, c in running))
        for i, _ in running:
            self.copies[i] = None

    def log_records(self, index: int) -> list[dict[str, Any]]:
        """Copy `index`'s JSON log lines (a line cut short by a kill is skipped)."""
        records = []
        path = self.workdir / f"copy-{index}.log"
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records


@contextlib.asynccontextmanager
async def cluster(
    workdir: Path,
    *,
    copies: int,
    seed: Mapping[str, Any] | None = None,
    ghl_limit: RateLimitConfig | None = None,
    **extra_env: str,
) -> AsyncIterator[Cluster]:
    """A fresh database migrated once (what `integrations migrate` does, here in-process to
    save a Python start), then `copies` copies started at once, sharing it, Redis (REDIS_URL,
    RATE_LIMIT_COPIES) and the keys; every copy is stopped afterwards."""
    keys = Keys()
    async with (
        fake_ghl(seed, rate_limit=ghl_limit) as (ghl_url, ghl),
        fresh_database() as url,
    ):
        env = service_env(
            url,
            keys,
            workdir,
            ghl_url=ghl_url,
            INTEGRATIONS_ENV="production",
            GRPC_INSECURE="true",
            META_APP_ID="1234567890",
            META_APP_SECRET="a-meta-app-secret",
            META_WEBHOOK_VERIFY_TOKEN="a-meta-verify-token",
            PUBLIC_BASE_URL="https://integrations.example",
            REDIS_URL=REDIS_URL,
            RATE_LIMIT_COPIES=str(copies),
            GRPC_GRACE_SECONDS="5",
            **extra_env,
        )
        await upgrade(url)
        running = Cluster(url, keys, env, workdir, ghl)
        try:
            await running.start(copies)
            yield running
        finally:
            await running.stop_all()


async def create_integration(
    target: str,
    keys: Keys,
    *,
    location_id: str = DEMO_LOCATION_ID,
    api_key: str = DEMO_PRIVATE_TOKEN,
    calendar_id: str | None = None,
) -> str:
    """A GoHighLevel integration created (and connection-tested) through the copy at `target`;
    returns its resource name."""
    config = struct_pb2.Struct()
    config.update(
        {"apiKey": api_key, "locationId": location_id}
        | ({"calendarId": calendar_id} if calendar_id else {})
    )
    async with grpc.aio.insecure_channel(target) as channel:
        created = await integration_service_pb2_grpc.IntegrationServiceStub(
            channel
        ).CreateIntegration(
            integration_service_pb2.CreateIntegrationRequest(
                integration=integration_pb2.Integration(
                    sub_account_id=SUB_ACCOUNT,
                    template="integrationTemplates/gohighlevel",
                    display_name=f"Clinic {location_id}",
                    config=config,
                )
            ),
            metadata=(("authorization", f"Bearer {keys.token()}"),),
            timeout=30,
        )
    assert created.integration.state == integration_pb2.Integration.STATE_ACTIVE
    name: str = created.integration.name
    return name


async def send_webhooks(
    urls: Callable[[], Sequence[str]],
    keys: Keys,
    bodies: Sequence[bytes],
    *,
    concurrency: int = 24,
    deadline: float = 300.0,
) -> collections.Counter[int | str]:
    """POST body i to `urls()[i % n]`, signed as GHL signs; a 429 or a refused connection (a copy
    that died) is retried on the next copy, as a load balancer would. Returns every answer's
    status; raises if a body is not answered 200 by `deadline`."""
    statuses: collections.Counter[int | str] = collections.Counter()
    pending: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(bodies)):
        pending.put_nowait(index)
    stop_at = time.monotonic() + deadline
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:

        async def one(index: int) -> None:
            header, signature = keys.sign("ed25519", bodies[index])
            headers = {header: signature, "Content-Type": "application/json"}
            for attempt in range(1_000_000):
                targets = urls()
                url = targets[(index + attempt) % len(targets)]
                try:
                    async with http.post(url, data=bodies[index], headers=headers) as response:
                        await response.read()
                        status: int | str = response.status
                except (aiohttp.ClientError, TimeoutError, OSError) as err:
                    status = type(err).__name__
                statuses[status] += 1
                if status == 200:
                    return
                if isinstance(status, int) and status != 429:
                    raise AssertionError(f"delivery {index} answered {status}")
                if time.monotonic() > stop_at:
                    raise AssertionError(f"delivery {index} unanswered after {deadline}s")
                await asyncio.sleep(0.05)

        async def worker() -> None:
            while not pending.empty():
                await one(pending.get_nowait())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def wait_until_settled(database_url: str, *, expected: int, within: float) -> None:
    """Until `expected` deliveries are stored and none is pending, failed or processing."""
    stop_at = time.monotonic() + within
    while True:
        [(stored, unsettled)] = await sql(
            database_url,
            "SELECT count(*), count(*) FILTER (WHERE status IN ('pending', 'processing', "
            "'failed')) FROM webhook_deliveries",
        )
        if stored >= expected and unsettled == 0:
            return
        if time.monotonic() > stop_at:
            raise AssertionError(f"{stored} stored, {unsettled} unsettled after {within} s")
        await asyncio.sleep(0.25)


async def outcome(database_url: str) -> dict[str, int]:
    """What the copies left in the database: deliveries by status, leads, distinct contacts,
    LeadCaptured events, and outbox events written more than once for one aggregate version."""
    found = {
        f"deliveries_{status}": int(n)
        for status, n in await sql(
            database_url, "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"
        )
    }
    [(leads, contacts)] = await sql(
        database_url, "SELECT count(*), count(DISTINCT external_id) FROM leads"
    )
    [(captured,)] = await sql(
        database_url, "SELECT count(*) FROM outbox WHERE event_type = 'LeadCaptured'"
    )
    [(duplicated,)] = await sql(
        database_url,
        "SELECT count(*) FROM (SELECT 1 FROM outbox GROUP BY event_type, aggregate_id, "
        "aggregate_version HAVING count(*) > 1) AS twice",
    )
    return found | {
        "leads": int(leads),
        "contacts": int(contacts),
        "lead_captured": int(captured),
        "duplicated_events": int(duplicated),
    }


def processed_by(running: Cluster, index: int) -> list[str]:
    """The deliveries copy `index` says it processed (its log's `inbox_delivery_processed`)."""
    return [
        str(record["webhook_delivery_id"])
        for record in running.log_records(index)
        if record.get("event") == PROCESSED
    ]

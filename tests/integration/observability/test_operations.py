"""/healthz and /readyz on the webhook port: alive whatever happens; ready only while the
database answers and the copy is not draining. /metrics keeps answering when it does not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.signatures import WebhookSignatureVerifier
from adapters.ghl.webhooks import GhlWebhooks
from adapters.ids import Uuid7Generator
from adapters.persistence.engine import create_engine
from adapters.persistence.observability import SqlAlchemyDatabaseProbe, SqlAlchemyInboxStats
from adapters.persistence.webhook_inbox import (
    SqlAlchemyInboxWriter,
    SqlAlchemyPlatformDeliveries,
    SqlAlchemyWebhookTargets,
)
from application.webhooks import ReceiveWebhook
from entrypoints.webhooks.app import create_webhook_app
from entrypoints.webhooks.metrics import IngressObserver, SignatureFailureLog
from entrypoints.webhooks.ops import Operations, Readiness
from tests.fakes import FakeCipher, FixedClock
from tests.integration.observability.conftest import Scrape
from tests.integration.webhooks.support import TcpProxy
from tests.support.databases import opened_driver_pool

Client = TestClient[web.Request, web.Application]


@dataclass
class Ops:
    client: Client
    readiness: Readiness


def operations_app(engine: AsyncEngine, pool: Any, readiness: Readiness) -> web.Application:
    """The webhook app with its operations endpoints; `pool`: the inbox writer's (None on
    SQLite)."""
    clock = FixedClock()
    targets = SqlAlchemyWebhookTargets(engine)
    receive = ReceiveWebhook(
        sender=GhlWebhooks(),
        targets=targets,
        verifier=WebhookSignatureVerifier.from_files(),
        inbox=SqlAlchemyInboxWriter(engine, pool),
        platform=SqlAlchemyPlatformDeliveries(engine),
        cipher=FakeCipher(),
        ids=Uuid7Generator(),
        clock=clock,
    )
    return create_webhook_app(
        [receive],
        operations=Operations(
            readiness=readiness,
            inbox_stats=SqlAlchemyInboxStats(engine),
            ingress=IngressObserver(
                targets=targets,
                failures=SignatureFailureLog(),
                clock=clock,
                senders={"ghl": GhlWebhooks()},
            ),
            scrape_timeout=1.0,
        ),
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def ops(
    aiohttp_client: AiohttpClient, engine: AsyncEngine, database_url: str
) -> AsyncIterator[Ops]:
    readiness = Readiness(SqlAlchemyDatabaseProbe(engine).ping, timeout=1.0)
    async with opened_driver_pool(database_url, size=1) as pool:
        yield Ops(await aiohttp_client(operations_app(engine, pool, readiness)), readiness)


async def test_a_copy_with_its_database_is_alive_and_ready(ops: Ops) -> None:
    alive = await ops.client.get("/healthz")
    ready = await ops.client.get("/readyz")

    assert (alive.status, await alive.json()) == (200, {"status": "alive"})
    assert (ready.status, await ready.json()) == (200, {"status": "ready"})


async def test_a_draining_copy_is_alive_but_not_ready(ops: Ops) -> None:
    ops.readiness.drain()

    ready = await ops.client.get("/readyz")

    assert ready.status == 503
    assert await ready.json() == {
        "status": "draining",
        "problems": ["draining: the service is shutting down"],
    }
    assert (await ops.client.get("/healthz")).status == 200


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_a_copy_whose_database_is_unreachable_is_not_ready_until_it_is_back(
    aiohttp_client: AiohttpClient, database_url: str
) -> None:
    target = make_url(database_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    proxied = target.set(port=port).render_as_string(hide_password=False)
    engine = create_engine(proxied)
    readiness = Readiness(SqlAlchemyDatabaseProbe(engine).ping, timeout=1.0)
    try:
        async with opened_driver_pool(proxied, size=1) as pool:
            client = await aiohttp_client(operations_app(engine, pool, readiness))
            assert (await client.get("/readyz")).status == 200

            proxy.cut()
            down = await client.get("/readyz")
            scrape = await client.get("/metrics")

            assert down.status == 503
            assert await down.json() == {
                "status": "not ready",
                "problems": ["the database is unreachable"],
            }
            assert (await client.get("/healthz")).status == 200
            assert scrape.status == 200
            assert Scrape(await scrape.text()).value("integrations_inbox_stats_up") == 0

            proxy.restore()
            statuses = []
            for _ in range(20):  # the pool may hand out a connection the cut closed, once
                statuses.append((await client.get("/readyz")).status)
                if statuses[-1] == 200:
                    break
                await asyncio.sleep(0.05)
            assert statuses[-1] == 200
    finally:
        await engine.dispose()
        await proxy.stop()

"""Fixtures: the fake GHL on a real loopback port (contract-checked against GHL's specs when
the reference folder is there) and HttpGhlClients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from adapters.ghl.client import GhlTimeouts, HttpGhlClient, RetryPolicy
from adapters.ghl.fake import FAKE_GHL, create_app
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import ProviderCall
from application.ports.oauth import TokenStore
from tests.integration.ghl.support import (
    FAST_RETRY,
    FAST_TIMEOUTS,
    SPECS_DIR,
    MakeClient,
    RunningFake,
    StartFake,
    pit_auth,
)


@pytest.fixture
async def start_fake() -> AsyncIterator[StartFake]:
    """Starts fake GHLs; at teardown, fails the test if any request broke GHL's contract
    (a test that provokes violations on purpose clears them from the log)."""
    servers: list[TestServer] = []

    async def start(**kwargs: Any) -> RunningFake:
        if SPECS_DIR.is_dir():
            kwargs.setdefault("validate_requests_against", SPECS_DIR)
        kwargs.setdefault("random_seed", 7)
        app = create_app(**kwargs)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return RunningFake(str(server.make_url("")).rstrip("/"), app[FAKE_GHL], app)

    yield start
    violations = [v for s in servers for v in s.app[FAKE_GHL].contract_violations()]
    for server in servers:
        await server.close()
    assert violations == [], f"requests or answers that break GHL's contract: {violations}"


@pytest.fixture
async def running(start_fake: StartFake) -> RunningFake:
    return await start_fake()


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    clients: list[HttpGhlClient] = []

    def make(
        running: RunningFake,
        *,
        token_store: TokenStore | None = None,
        retry: RetryPolicy = FAST_RETRY,
        timeouts: GhlTimeouts = FAST_TIMEOUTS,
    ) -> HttpGhlClient:
        client = HttpGhlClient(
            rate_limiter=TokenBucketRateLimiter(),
            token_store=token_store,
            base_url=running.url,
            retry=retry,
            timeouts=timeouts,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
def client(running: RunningFake, make_client: MakeClient) -> HttpGhlClient:
    return make_client(running)


@pytest.fixture
def auth() -> ProviderCall:
    return pit_auth()

"""Fixtures: the fake provider on a loopback port, and ProviderHttpClients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import pytest
from aiohttp.test_utils import TestServer

from adapters.http import HttpTimeouts, ProviderHttpClient, RetryPolicy
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports.rate_limits import RateLimiter
from tests.integration.http.support import FakeCall, FakePolicy, FakeProviderServer

FAST_RETRY = RetryPolicy(
    max_attempts=4, base_delay=0.01, max_delay=0.05, total_seconds=5.0, rate_limit_wait=2.0
)


class MakeClient(Protocol):
    def __call__(
        self,
        *,
        policy: FakePolicy | None = None,
        retry: RetryPolicy = FAST_RETRY,
        rate_limiter: RateLimiter | None = None,
        base_url: str | None = None,
    ) -> ProviderHttpClient[FakeCall]: ...


@pytest.fixture
def provider() -> FakeProviderServer:
    return FakeProviderServer()


@pytest.fixture
async def server(provider: FakeProviderServer) -> AsyncIterator[TestServer]:
    server = TestServer(provider.app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield server
    provider.release()
    await server.close()


@pytest.fixture
async def make_client(server: TestServer) -> AsyncIterator[MakeClient]:
    clients: list[ProviderHttpClient[FakeCall]] = []

    def make(
        *,
        policy: FakePolicy | None = None,
        retry: RetryPolicy = FAST_RETRY,
        rate_limiter: RateLimiter | None = None,
        base_url: str | None = None,
    ) -> ProviderHttpClient[FakeCall]:
        client = ProviderHttpClient(
            policy or FakePolicy(),
            rate_limiter=rate_limiter or TokenBucketRateLimiter(),
            base_url=base_url or str(server.make_url("")).rstrip("/"),
            timeouts=HttpTimeouts(connect=1.0, read=2.0),
            retry=retry,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()

"""The GHL client's OAuth refreshes and transport failures, as counted in the process's metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import REGISTRY

from adapters.ghl.client import GhlTimeouts, HttpGhlClient, RetryPolicy
from adapters.ghl.fake.seed import (
    DEMO_REFRESH_TOKEN,
)
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import ProviderCall
from domain.errors import ConnectionFailedError, InvalidCredentialsError
from tests.integration.ghl.support import InMemoryTokenStore, oauth_call, pit_auth


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def oauth(integration_id: str, refresh_token: str) -> ProviderCall:
    return oauth_call(integration_id, refresh_token)


@pytest.fixture
async def client(fake_ghl: TestServer) -> AsyncIterator[HttpGhlClient]:
    client = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        token_store=InMemoryTokenStore(),
        base_url=str(fake_ghl.make_url("")).rstrip("/"),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, total_seconds=2.0),
        timeouts=GhlTimeouts(connect=0.5, read=1.0),
    )
    yield client
    await client.close()


async def test_token_refreshes_are_counted_by_outcome(client: HttpGhlClient) -> None:
    ok, refused = (
        count("integrations_ghl_token_refreshes_total", outcome="ok"),
        count("integrations_ghl_token_refreshes_total", outcome="refused"),
    )

    await client.get_account(oauth("oauth-1", DEMO_REFRESH_TOKEN))
    await client.get_account(oauth("oauth-1", DEMO_REFRESH_TOKEN))  # the token is cached
    with pytest.raises(InvalidCredentialsError):
        await client.get_account(oauth("oauth-2", "rt-nobody-issued"))

    assert count("integrations_ghl_token_refreshes_total", outcome="ok") == ok + 1
    assert count("integrations_ghl_token_refreshes_total", outcome="refused") == refused + 1


async def test_a_ghl_out_of_reach_counts_failed_requests_and_their_retries() -> None:
    client = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        base_url="http://127.0.0.1:1",
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, total_seconds=2.0),
    )
    labels = {"method": "GET", "endpoint": "/locations/{id}"}
    failed = count("integrations_ghl_requests_total", status="error", **labels)
    retried = count(
        "integrations_ghl_retries_total", endpoint="/locations/{id}", reason="transport"
    )
    auth = pit_auth("pit-unused", integration_id="pit-1")
    try:
        with pytest.raises(ConnectionFailedError):
            await client.get_account(auth)
    finally:
        await client.close()

    assert count("integrations_ghl_requests_total", status="error", **labels) == failed + 3
    assert (
        count("integrations_ghl_retries_total", endpoint="/locations/{id}", reason="transport")
        == retried + 2
    )

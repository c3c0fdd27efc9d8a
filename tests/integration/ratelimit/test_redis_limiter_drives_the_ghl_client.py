"""RedisRateLimiter as a drop-in for the in-process limiter: the GHL client's rate-limit tests
run again here against the fake GHL, the client given a RedisRateLimiter; and copies of the
client, each with its own limiter, together keep to the fake's limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from adapters.ghl.client import GhlTimeouts, HttpGhlClient, RetryPolicy
from adapters.ghl.fake import RateLimitConfig
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports.oauth import TokenStore
from application.ports.rate_limits import RateLimiter
from tests.integration.ghl.conftest import start_fake
from tests.integration.ghl.support import (
    FAST_RETRY,
    FAST_TIMEOUTS,
    MakeClient,
    RunningFake,
    StartFake,
    pit_auth,
)
from tests.integration.ghl.test_ghl_rate_limit import (
    test_a_429_pause_longer_than_the_deadline_fails_with_rate_limit_exceeded,
    test_a_429_pauses_the_integration_for_ghls_interval_then_succeeds,
    test_a_burst_of_500_calls_completes_at_the_fakes_limit,
    test_a_client_following_the_headers_never_gets_a_429,
    test_a_restarted_process_spends_only_what_is_left_of_the_window,
    test_integrations_on_one_location_stay_under_its_limit_together,
    test_locations_have_separate_buckets,
    test_the_templates_limit_per_minute_holds_calls_back_until_the_deadline,
)
from tests.integration.ratelimit.conftest import MakeLimiter

# Collected here too, so they run with this module's `make_client`.
__all__ = [
    "start_fake",
    "test_a_429_pause_longer_than_the_deadline_fails_with_rate_limit_exceeded",
    "test_a_429_pauses_the_integration_for_ghls_interval_then_succeeds",
    "test_a_burst_of_500_calls_completes_at_the_fakes_limit",
    "test_a_client_following_the_headers_never_gets_a_429",
    "test_a_restarted_process_spends_only_what_is_left_of_the_window",
    "test_integrations_on_one_location_stay_under_its_limit_together",
    "test_locations_have_separate_buckets",
    "test_the_templates_limit_per_minute_holds_calls_back_until_the_deadline",
]


@pytest.fixture
async def clients() -> AsyncIterator[list[HttpGhlClient]]:
    made: list[HttpGhlClient] = []
    yield made
    for client in made:
        await client.close()


@pytest.fixture
def make_client(make_limiter: MakeLimiter, clients: list[HttpGhlClient]) -> MakeClient:
    """HttpGhlClients on RedisRateLimiters: every client is a copy drawing on one budget."""

    def make(
        running: RunningFake,
        *,
        token_store: TokenStore | None = None,
        retry: RetryPolicy = FAST_RETRY,
        timeouts: GhlTimeouts = FAST_TIMEOUTS,
    ) -> HttpGhlClient:
        return _client(running, make_limiter(), clients, token_store, retry, timeouts)

    return make


def _client(
    running: RunningFake,
    limiter: RateLimiter,
    clients: list[HttpGhlClient],
    token_store: TokenStore | None = None,
    retry: RetryPolicy = FAST_RETRY,
    timeouts: GhlTimeouts = FAST_TIMEOUTS,
) -> HttpGhlClient:
    client = HttpGhlClient(
        rate_limiter=limiter,
        token_store=token_store,
        base_url=running.url,
        retry=retry,
        timeouts=timeouts,
    )
    clients.append(client)
    return client


async def _three_copies_call_one_location(copies: list[HttpGhlClient]) -> None:
    """90 calls for one location, spread over three copies of the client."""
    auth = pit_auth()
    await asyncio.gather(*(copies[i % 3].get_account(auth) for i in range(90)))


async def test_three_copies_of_the_client_together_never_get_a_429(
    start_fake: StartFake, make_client: MakeClient
) -> None:
    running = await start_fake(
        rate_limit=RateLimitConfig(max_requests=20, interval_ms=300),
        validate_requests_against=None,
    )
    copies = [make_client(running) for _ in range(3)]

    await _three_copies_call_one_location(copies)

    assert Counter(r.status for r in running.fake.log) == {200: 90}


async def test_three_copies_with_in_process_limiters_would_overrun_the_limit(
    start_fake: StartFake, clients: list[HttpGhlClient]
) -> None:
    # The control for the test above: without a shared budget, copies collide.
    running = await start_fake(
        rate_limit=RateLimitConfig(max_requests=20, interval_ms=300),
        validate_requests_against=None,
    )
    copies = [_client(running, TokenBucketRateLimiter(), clients) for _ in range(3)]

    await _three_copies_call_one_location(copies)

    assert Counter(r.status for r in running.fake.log)[429] > 0

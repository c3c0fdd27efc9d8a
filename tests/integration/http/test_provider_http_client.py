"""The outbound HTTP machinery every provider shares, driven by a tiny fake provider's policy:
retries and their waits, throttles read from a body, lanes, deadlines, a refresh after a 401,
error mapping and metrics."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from adapters.http import HttpRequest, RetryPolicy
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports.rate_limits import Priority, RateLimitPermit
from domain.errors import (
    ConnectionFailedError,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitExceededError,
)
from tests.integration.http.conftest import FAST_RETRY, MakeClient
from tests.integration.http.support import (
    FakeCall,
    FakePolicy,
    FakeProviderServer,
    FakeTokens,
    Scripted,
)

CALL = FakeCall("account-1")


def get(item: str = "a") -> HttpRequest:
    return HttpRequest("GET", f"/items/{item}", idempotent=True, resource=("item", item))


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"integrations_fakeprovider_{name}", labels) or 0.0


def throttle(wait_seconds: float, code: int = 4) -> Scripted:
    return Scripted(400, {"error": {"code": code, "wait_seconds": wait_seconds}})


async def test_a_transient_answer_is_retried_no_sooner_than_its_retry_after(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    provider.answer(Scripted(503, {"error": {"code": 2}}, {"Retry-After": "0.3"}))
    retried = count("retries_total", endpoint="/items/{id}", reason="server_error")

    answer = await make_client().call(CALL, get("a"))

    assert (answer.status, answer.body) == (200, {"id": "a"})
    assert count("retries_total", endpoint="/items/{id}", reason="server_error") == retried + 1
    first, second = provider.received
    assert second.at - first.at >= 0.3
    # Every attempt carries the policy's headers and the authorizer's.
    assert {(r.authorization, r.version) for r in provider.received} == {
        ("Bearer token-1", "2030-01-01")
    }


async def test_a_retry_after_beyond_the_deadline_ends_the_retries(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    provider.answer(Scripted(503, {}, {"Retry-After": "30"}))

    with pytest.raises(ConnectionFailedError, match="HTTP 503"):
        await make_client().call(CALL, get())

    assert len(provider.received) == 1


async def test_a_transient_answer_to_a_request_that_is_not_idempotent_is_final(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    provider.answer(Scripted(503, {}))

    with pytest.raises(ConnectionFailedError):
        await make_client().call(CALL, HttpRequest("POST", "/items/new", idempotent=False))

    assert len(provider.received) == 1


async def test_a_throttle_read_from_the_body_pauses_the_key_then_the_call_succeeds(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    labels = {"method": "GET", "endpoint": "/items/{id}"}
    before = (
        count("requests_total", status="400", **labels),
        count("throttled_total", endpoint="/items/{id}"),
        count("retries_total", endpoint="/items/{id}", reason="throttled"),
    )
    provider.answer(throttle(0.3))

    answer = await make_client().call(CALL, get("a"))

    assert answer.body == {"id": "a"}
    first, second = provider.received
    assert second.at - first.at >= 0.3  # HTTP 400, no Retry-After: the wait came from the body
    assert (
        count("requests_total", status="400", **labels),
        count("throttled_total", endpoint="/items/{id}"),
        count("retries_total", endpoint="/items/{id}", reason="throttled"),
    ) == tuple(n + 1 for n in before)


async def test_a_throttle_holds_back_only_the_key_the_policy_names(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    client = make_client(retry=RetryPolicy(rate_limit_wait=0.2, total_seconds=5.0))
    provider.answer(throttle(30))
    with pytest.raises(RateLimitExceededError):
        await client.call(FakeCall("account-1"), get("a"))

    answer = await client.call(FakeCall("account-2"), get("b"))

    assert answer.body == {"id": "b"}
    with pytest.raises(RateLimitExceededError):
        await client.call(FakeCall("account-1"), get("c"))
    assert provider.paths() == ["/items/a", "/items/b"]


async def test_a_throttle_longer_than_the_deadline_fails_with_rate_limit_exceeded(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    provider.answer(throttle(30, code=17))
    client = make_client(retry=RetryPolicy(rate_limit_wait=0.2, total_seconds=5.0))

    with pytest.raises(RateLimitExceededError) as raised:
        await client.call(CALL, get())

    # Failed at once, with the provider's wait, rather than sleeping through it.
    assert 29.0 < raised.value.retry_after_seconds <= 30.0
    assert len(provider.received) == 1


async def test_a_success_asking_to_slow_down_is_returned_and_pauses_the_key(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    client = make_client(retry=RetryPolicy(rate_limit_wait=0.2, total_seconds=5.0))
    throttled = count("throttled_total", endpoint="/items/{id}")
    provider.answer(Scripted(200, {"id": "a"}, {"Fake-Slow-Down": "30"}))

    answer = await client.call(CALL, get("a"))

    assert answer.body == {"id": "a"}
    assert count("throttled_total", endpoint="/items/{id}") == throttled  # it was served
    with pytest.raises(RateLimitExceededError) as raised:
        await client.call(CALL, get("b"))
    assert 29.0 < raised.value.retry_after_seconds <= 30.0
    assert provider.paths() == ["/items/a"]


async def test_throttled_on_every_attempt_ends_in_the_policys_rate_limit_error(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    provider.answer(*(throttle(0.01) for _ in range(FAST_RETRY.max_attempts)))

    with pytest.raises(RateLimitExceededError, match="still exceeded after retries"):
        await make_client().call(CALL, HttpRequest("POST", "/items/new", idempotent=False))

    # A throttled request did nothing, so even a POST is repeated.
    assert len(provider.received) == FAST_RETRY.max_attempts


class RecordingLimiter:
    """A limiter that notes each acquire's lane before waiting for the wrapped one."""

    def __init__(self, inner: TokenBucketRateLimiter) -> None:
        self.inner = inner
        self.asked: list[Priority] = []
        self._asked_again = asyncio.Event()

    async def acquire(
        self,
        key: str,
        *,
        limit_per_minute: int,
        max_wait: float,
        priority: Priority = Priority.LIVE,
    ) -> RateLimitPermit:
        self.asked.append(priority)
        self._asked_again.set()
        return await self.inner.acquire(
            key, limit_per_minute=limit_per_minute, max_wait=max_wait, priority=priority
        )

    async def asked_times(self, times: int) -> None:
        """Returns once `times` acquires are waiting or done (each registers before it waits)."""
        async with asyncio.timeout(10):
            while len(self.asked) < times:
                self._asked_again.clear()
                await self._asked_again.wait()


async def test_live_calls_are_served_before_background_ones(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    limiter = RecordingLimiter(TokenBucketRateLimiter())
    client = make_client(rate_limiter=limiter)
    # Until the provider reports its window, the limiter lets one request out at a time.
    provider.hold_next()
    first = asyncio.create_task(client.call(CALL, get("first")))
    await provider.wait_held()
    background = asyncio.create_task(
        client.call(FakeCall("account-1", Priority.BACKGROUND), get("background"))
    )
    await limiter.asked_times(2)
    live = asyncio.create_task(client.call(FakeCall("account-1", Priority.LIVE), get("live")))
    await limiter.asked_times(3)

    provider.release()
    await asyncio.gather(first, background, live)

    assert provider.paths() == ["/items/first", "/items/live", "/items/background"]


async def test_a_401_refreshes_the_credentials_once_and_repeats_the_request(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    tokens = FakeTokens("expired", "fresh")
    reauthorised = count("retries_total", endpoint="/items/{id}", reason="reauthorised")

    answer = await make_client(policy=FakePolicy(tokens)).call(CALL, get("a"))

    assert answer.body == {"id": "a"}
    assert [r.authorization for r in provider.received] == ["Bearer expired", "Bearer fresh"]
    assert tokens.refreshes == 1
    assert count("retries_total", endpoint="/items/{id}", reason="reauthorised") == (
        reauthorised + 1
    )


async def test_a_second_401_is_final(make_client: MakeClient, provider: FakeProviderServer) -> None:
    tokens = FakeTokens("expired", "expired", "never-asked-for")

    with pytest.raises(InvalidCredentialsError):
        await make_client(policy=FakePolicy(tokens)).call(CALL, get())

    assert len(provider.received) == 2
    assert tokens.refreshes == 1


async def test_a_401_without_a_refresh_to_try_is_final(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    tokens = FakeTokens("expired")

    with pytest.raises(InvalidCredentialsError):
        await make_client(policy=FakePolicy(tokens)).call(CALL, get())

    assert len(provider.received) == 1


async def test_answers_are_mapped_by_the_policys_error_table(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    provider.answer(Scripted(404, {"error": {"code": 100}}))

    with pytest.raises(NotFoundError) as raised:
        await make_client().call(CALL, get("gone"))

    assert (raised.value.resource, raised.value.resource_id) == ("item", "gone")


async def test_a_dropped_connection_repeats_a_read_but_not_a_create(
    make_client: MakeClient, provider: FakeProviderServer
) -> None:
    client = make_client()
    provider.answer(Scripted(200, drop=True))
    answer = await client.call(CALL, get("a"))
    assert answer.body == {"id": "a"}
    assert len(provider.received) == 2

    provider.answer(Scripted(200, drop=True))
    with pytest.raises(ConnectionFailedError, match="FakeProvider could not be reached"):
        await client.call(CALL, HttpRequest("POST", "/items/new", idempotent=False))
    assert len(provider.received) == 3


async def test_calls_are_counted_under_the_providers_name_by_endpoint_template(
    make_client: MakeClient,
) -> None:
    labels = {"method": "GET", "endpoint": "/items/{id}"}
    ok = count("requests_total", status="200", **labels)
    timed = count("request_duration_seconds_count", **labels)
    unreachable = count("requests_total", status="error", **labels)
    refused = make_client(
        base_url="http://127.0.0.1:1",
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, total_seconds=5.0),
    )

    await make_client().call(CALL, get("item-42"))
    with pytest.raises(ConnectionFailedError):
        await refused.call(CALL, get("item-43"))

    assert count("requests_total", status="200", **labels) == ok + 1
    assert count("requests_total", status="error", **labels) == unreachable + 3
    assert count("request_duration_seconds_count", **labels) == timed + 4
    exposed = [
        sample
        for family in REGISTRY.collect()
        if family.name.startswith("integrations_fakeprovider_")
        for sample in family.samples
    ]
    assert exposed
    assert not [s for s in exposed if any("item-4" in v for v in s.labels.values())]

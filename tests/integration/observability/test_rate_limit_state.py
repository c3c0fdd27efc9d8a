"""What health reads of rate limits: ObservedRateLimiter's memory of GHL's answers, and the
buckets of the in-process and Redis limiters."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from adapters.ratelimit import TokenBucketRateLimiter
from adapters.ratelimit.observed import ObservedRateLimiter
from adapters.ratelimit.redis_limiter import RedisRateLimiter
from application.observability import BucketState
from application.ports.rate_limits import RateLimitObservation
from tests.fakes import FixedClock

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class ManualTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_newest_report_keeps_what_an_answer_left_out_and_remembers_429s() -> None:
    clock = FixedClock()
    limiter = ObservedRateLimiter(TokenBucketRateLimiter(), clock=clock)
    assert (await limiter.rate_limit_state("int-1")).provider is None

    permit = await limiter.acquire("int-1", limit_per_minute=100, max_wait=1)
    await permit.release(
        RateLimitObservation(
            max_requests=100,
            remaining=99,
            interval_seconds=10.0,
            daily_limit=200_000,
            daily_remaining=199_999,
        )
    )
    first = clock.now()
    clock.advance(seconds=5)
    permit = await limiter.acquire("int-1", limit_per_minute=100, max_wait=1)
    await permit.release(RateLimitObservation(remaining=0, throttled=True))
    permit = await limiter.acquire("int-2", limit_per_minute=100, max_wait=1)
    await permit.release(None)  # no answer: nothing learnt

    state = await limiter.rate_limit_state("int-1")

    assert state.provider is not None
    assert state.provider.reported_at == clock.now() != first
    assert (state.provider.burst_limit, state.provider.burst_remaining) == (100, 0)
    assert state.provider.burst_interval_seconds == 10.0
    assert (state.provider.daily_limit, state.provider.daily_remaining) == (200_000, 199_999)
    assert state.provider.last_throttled_at == clock.now()
    assert state.bucket is not None
    assert state.bucket.paused_for_seconds > 0  # the 429 pauses the bucket too
    assert (await limiter.rate_limit_state("int-2")).provider is None


async def test_the_in_process_bucket_reports_its_tokens_pause_and_requests_in_flight() -> None:
    time = ManualTime()
    limiter = TokenBucketRateLimiter(clock=time)
    assert await limiter.bucket_state("int-1") is None

    held = await limiter.acquire("int-1", limit_per_minute=60, max_wait=0)
    done = await limiter.acquire("int-2", limit_per_minute=60, max_wait=0)
    await done.release(RateLimitObservation(max_requests=10, remaining=9, interval_seconds=1.0))
    time.now += 2.0

    assert await limiter.bucket_state("int-1") == BucketState(
        limit_per_minute=60, tokens=60.0, paused_for_seconds=0.0, in_flight=1, shared=False
    )
    await held.release(RateLimitObservation(throttled=True, retry_after_seconds=30.0))
    state = await limiter.bucket_state("int-1")
    assert state is not None
    assert state.paused_for_seconds == 30.0
    assert state.in_flight == 0


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test:health:{uuid.uuid4().hex[:12]}"
    yield prefix
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_the_shared_bucket_reports_what_redis_holds(redis_prefix: str) -> None:
    first = RedisRateLimiter.from_url(REDIS_URL, prefix=redis_prefix)
    second = RedisRateLimiter.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        assert await second.bucket_state("int-1") is None
        # Until GHL's window is known, one request at a time probes for it.
        await (await first.acquire("int-1", limit_per_minute=120, max_wait=1)).release(
            RateLimitObservation(max_requests=100, remaining=99, interval_seconds=10.0)
        )
        held = await first.acquire("int-1", limit_per_minute=120, max_wait=1)
        await (await first.acquire("int-1", limit_per_minute=120, max_wait=1)).release(
            RateLimitObservation(throttled=True, retry_after_seconds=20.0)
        )

        state = await second.bucket_state("int-1")  # another copy sees the same bucket

        assert state is not None
        assert state.shared
        assert state.limit_per_minute == 120
        assert 117.0 <= state.tokens <= 117.5
        assert 19.0 < state.paused_for_seconds <= 20.0
        assert state.in_flight == 1
        await held.release(None)
    finally:
        await first.aclose()
        await second.aclose()


async def test_the_shared_bucket_falls_back_to_the_copys_own_when_redis_is_down() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", timeout=0.2)
    try:
        permit = await limiter.acquire("int-1", limit_per_minute=120, max_wait=1)
        state = await limiter.bucket_state("int-1")
        assert state is not None
        assert not state.shared
        assert state.limit_per_minute == 120
        await permit.release(None)
    finally:
        await limiter.aclose()

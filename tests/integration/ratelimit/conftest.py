"""Fixtures: RedisRateLimiters on the real Redis at REDIS_URL, each test under its own key
prefix (deleted afterwards), each limiter with its own connections, as separate copies have."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest
from redis.asyncio import Redis

from adapters.ratelimit.redis_limiter import RedisRateLimiter, redis_client

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


class MakeLimiter(Protocol):
    def __call__(self, *, url: str = ..., copies: int = ..., **tuning: Any) -> RedisRateLimiter:
        """A limiter as `RedisRateLimiter.from_url` makes it, or, given `tuning` (constructor
        options), on the same kind of client."""
        ...


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """A plain client, to look at what the limiters stored."""
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    prefix = f"test:rl:{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def make_limiter(prefix: str) -> AsyncIterator[MakeLimiter]:
    limiters: list[RedisRateLimiter] = []

    def make(*, url: str = REDIS_URL, copies: int = 1, **tuning: Any) -> RedisRateLimiter:
        if tuning:
            limiter = RedisRateLimiter(
                redis_client(url), prefix=prefix, copies=copies, owns_client=True, **tuning
            )
        else:
            limiter = RedisRateLimiter.from_url(url, prefix=prefix, copies=copies)
        limiters.append(limiter)
        return limiter

    yield make
    for limiter in limiters:
        await limiter.aclose()

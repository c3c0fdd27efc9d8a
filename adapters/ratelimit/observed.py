"""A rate limiter that remembers what the provider's answers said about its limits, for health."""

from __future__ import annotations

from typing import Protocol

from application.observability import BucketState, ProviderLimitReport, RateLimitState
from application.ports import Clock
from application.ports.rate_limits import (
    Priority,
    RateLimiter,
    RateLimitObservation,
    RateLimitPermit,
)


class InspectableRateLimiter(RateLimiter, Protocol):
    async def bucket_state(self, key: str) -> BucketState | None: ...


class ObservedRateLimiter:
    """Wraps a RateLimiter (every call goes through unchanged) and is the RateLimitMonitor of
    health checks: per key, the newest limits the provider reported (fields an answer left out
    keep their last value) and its newest 429, both as this copy saw them, beside the wrapped
    limiter's own bucket."""

    def __init__(self, inner: InspectableRateLimiter, *, clock: Clock) -> None:
        self._inner = inner
        self._clock = clock
        self._reports: dict[str, ProviderLimitReport] = {}

    async def acquire(
        self,
        key: str,
        *,
        limit_per_minute: int,
        max_wait: float,
        priority: Priority = Priority.LIVE,
    ) -> RateLimitPermit:
        permit = await self._inner.acquire(
            key, limit_per_minute=limit_per_minute, max_wait=max_wait, priority=priority
        )
        return _ObservedPermit(self, key, permit)

    async def rate_limit_state(self, key: str) -> RateLimitState:
        return RateLimitState(self._reports.get(key), await self._inner.bucket_state(key))

    def _record(self, key: str, observed: RateLimitObservation) -> None:
        o = observed
        reported = (
            o.max_requests,
            o.remaining,
            o.interval_seconds,
            o.daily_limit,
            o.daily_remaining,
        )
        if not o.throttled and all(v is None for v in reported):
            return
        now = self._clock.now()
        last = self._reports.get(key) or ProviderLimitReport(reported_at=now)

        def pick(new: int | None, old: int | None) -> int | None:
            return old if new is None else new

        self._reports[key] = ProviderLimitReport(
            reported_at=now,
            burst_limit=pick(o.max_requests, last.burst_limit),
            burst_remaining=pick(o.remaining, last.burst_remaining),
            burst_interval_seconds=last.burst_interval_seconds
            if o.interval_seconds is None
            else o.interval_seconds,
            daily_limit=pick(o.daily_limit, last.daily_limit),
            daily_remaining=pick(o.daily_remaining, last.daily_remaining),
            last_throttled_at=now if o.throttled else last.last_throttled_at,
        )


class _ObservedPermit:
    __slots__ = ("_key", "_monitor", "_permit")

    def __init__(self, monitor: ObservedRateLimiter, key: str, permit: RateLimitPermit) -> None:
        self._monitor = monitor
        self._key = key
        self._permit = permit

    async def release(self, observed: RateLimitObservation | None) -> None:
        if observed is not None:
            self._monitor._record(self._key, observed)
        await self._permit.release(observed)

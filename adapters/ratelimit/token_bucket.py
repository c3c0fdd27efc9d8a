"""In-process rate limiter: a token bucket per key, plus the provider's own window as learnt."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

from application.observability import BucketState
from application.ports.rate_limits import Priority, RateLimitObservation, RateLimitPermit
from domain.errors import RateLimitExceededError

# GHL documents no Retry-After and no interval for a 429 without headers: assume its burst window.
DEFAULT_PAUSE_SECONDS = 10.0
# GHL documents neither when the daily quota resets nor how: probe again after this long.
DAILY_QUOTA_PAUSE_SECONDS = 60.0


@dataclass(order=True, slots=True)
class _Waiter:
    priority: int
    seq: int
    wake: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


class _Bucket:
    """One key's state. Two rules must both allow a request:

    - the caller's rule, a token bucket of `limit_per_minute` tokens refilled over a minute;
    - the provider's window (`server_max` requests per `server_interval`), learnt from
      ``X-RateLimit-*`` headers. A request counts from when it is sent until one interval after
      its answer arrived: the provider counted it at some instant in between, so this never
      puts more than `server_max` requests into any window of the provider's, fixed or sliding.
      Until the first headers arrive, one request at a time probes for them.
    """

    def __init__(self, now: float) -> None:
        self.limit_per_minute = 0
        self.tokens = 0.0
        self.updated = now
        self.server_max: int | None = None
        self.server_interval = 0.0
        self.completed: list[float] = []  # answer times of recent requests (and foreign ones)
        self.in_flight: dict[int, float] = {}  # permit seq -> send time
        self.paused_until = 0.0
        self.waiters: list[_Waiter] = []

    def configure(self, limit_per_minute: int, now: float) -> None:
        limit = max(1, limit_per_minute)
        if limit == self.limit_per_minute:
            return
        first = self.limit_per_minute == 0
        self._refill(now)
        self.limit_per_minute = limit
        self.tokens = float(limit) if first else min(self.tokens, float(limit))

    def _refill(self, now: float) -> None:
        if self.limit_per_minute:
            rate = self.limit_per_minute / 60.0
            self.tokens = min(
                float(self.limit_per_minute), self.tokens + (now - self.updated) * rate
            )
        self.updated = now

    def delay(self, now: float) -> float:
        """Seconds until a request may be sent (0: now; inf: once an in-flight request ends)."""
        wait = max(0.0, self.paused_until - now)
        self._refill(now)
        if self.tokens < 1.0:
            wait = max(wait, (1.0 - self.tokens) * 60.0 / self.limit_per_minute)
        if self.server_max is None:
            return math.inf if self.in_flight else wait
        start = bisect_right(self.completed, now - self.server_interval)
        used = len(self.in_flight) + len(self.completed) - start
        if used < self.server_max:
            return wait
        expiring = used - self.server_max + 1  # how many recent ones must age out first
        if expiring > len(self.completed) - start:
            return math.inf
        return max(wait, self.completed[start + expiring - 1] + self.server_interval - now)

    def take(self, seq: int, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0
        self.in_flight[seq] = now

    def complete(self, seq: int, now: float, observed: RateLimitObservation | None) -> None:
        sent_at = self.in_flight.pop(seq, now)
        self.completed.append(now)
        if observed is not None:
            self._learn(observed, sent_at, now)
        # Kept two intervals: _count_foreign looks one interval back from a send time.
        del self.completed[: bisect_right(self.completed, now - 2 * self.server_interval)]

    def _learn(self, observed: RateLimitObservation, sent_at: float, now: float) -> None:
        if observed.max_requests is not None and observed.interval_seconds:
            self.server_max = max(1, observed.max_requests)
            self.server_interval = observed.interval_seconds
        if self.server_max is not None and observed.remaining is not None:
            self._count_foreign(sent_at, now, observed.remaining)
        if observed.throttled:
            pause = observed.retry_after_seconds or self.server_interval or DEFAULT_PAUSE_SECONDS
            self.paused_until = max(self.paused_until, now + pause)
        if observed.daily_remaining is not None and observed.daily_remaining <= 0:
            self.paused_until = max(self.paused_until, now + DAILY_QUOTA_PAUSE_SECONDS)

    def _count_foreign(self, sent_at: float, now: float, remaining: int) -> None:
        """Shrink to what the provider says is left. Ours that it may have counted: those sent
        before this one still in flight, and those answered within an interval of its sending.
        Any surplus in its count is someone else's (another process, another app): book it as
        requests answered now, so it occupies the window for a whole interval."""
        assert self.server_max is not None
        counted = self.server_max - max(0, remaining)
        ours = sum(1 for t in self.in_flight.values() if t <= sent_at)
        ours += len(self.completed) - bisect_right(self.completed, sent_at - self.server_interval)
        foreign = counted - ours
        if foreign > 0:
            self.completed.extend([now] * foreign)


class _Permit:
    __slots__ = ("_bucket", "_done", "_limiter", "_seq")

    def __init__(self, limiter: TokenBucketRateLimiter, bucket: _Bucket, seq: int) -> None:
        self._limiter = limiter
        self._bucket = bucket
        self._seq = seq
        self._done = False

    async def release(self, observed: RateLimitObservation | None) -> None:
        if self._done:
            return
        self._done = True
        self._bucket.complete(self._seq, self._limiter.clock(), observed)
        _wake_head(self._bucket)


def _wake_head(bucket: _Bucket) -> None:
    if bucket.waiters:
        bucket.waiters[0].wake.set()


class TokenBucketRateLimiter:
    """A RateLimiter for one process: keys (integrations) are independent; waiters of one key
    are served by priority, then in arrival order."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._seq = itertools.count()

    async def acquire(
        self,
        key: str,
        *,
        limit_per_minute: int,
        max_wait: float,
        priority: Priority = Priority.LIVE,
    ) -> RateLimitPermit:
        now = self.clock()
        deadline = now + max(0.0, max_wait)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(now)
        bucket.configure(limit_per_minute, now)
        waiter = _Waiter(int(priority), next(self._seq))
        heapq.heappush(bucket.waiters, waiter)
        try:
            while True:
                now = self.clock()
                at_head = bucket.waiters[0] is waiter
                delay = bucket.delay(now) if at_head else math.inf
                if delay <= 0.0:
                    heapq.heappop(bucket.waiters)
                    bucket.take(waiter.seq, now)
                    _wake_head(bucket)
                    return _Permit(self, bucket, waiter.seq)
                left = deadline - now
                # A known wait past the deadline fails now; an unknown one (inf: until a request
                # in flight ends) is waited for until the deadline.
                if left <= 0.0 or (at_head and left < delay < math.inf):
                    raise RateLimitExceededError(
                        f"rate limit reached: no request slot within {max_wait:g}s",
                        retry_after_seconds=round(self._retry_after(bucket, delay), 3),
                    )
                waiter.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wake.wait(), timeout=min(delay, left))
        finally:
            if waiter in bucket.waiters:
                bucket.waiters.remove(waiter)
                heapq.heapify(bucket.waiters)
                _wake_head(bucket)

    async def bucket_state(self, key: str) -> BucketState | None:
        """The key's bucket as it stands (read-only); None if the key never asked for a slot."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        now = self.clock()
        refill = (now - bucket.updated) * bucket.limit_per_minute / 60.0
        return BucketState(
            limit_per_minute=bucket.limit_per_minute,
            tokens=min(float(bucket.limit_per_minute), bucket.tokens + refill),
            paused_for_seconds=max(0.0, bucket.paused_until - now),
            in_flight=len(bucket.in_flight),
            shared=False,
        )

    @staticmethod
    def _retry_after(bucket: _Bucket, delay: float) -> float:
        if math.isfinite(delay):
            return delay
        return bucket.server_interval or DEFAULT_PAUSE_SECONDS

"""Rate limiter shared by every copy of the service through Redis: one atomic Lua script per try."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from adapters.ratelimit.token_bucket import (
    DAILY_QUOTA_PAUSE_SECONDS,
    DEFAULT_PAUSE_SECONDS,
    TokenBucketRateLimiter,
)
from application.observability import BucketState
from application.ports.rate_limits import Priority, RateLimitObservation, RateLimitPermit
from domain.errors import RateLimitExceededError

log = structlog.get_logger(__name__)

DEFAULT_PREFIX = "integrations:rl"

# Redis out of reach, or refusing (a replica after a failover, out of memory): the limiter falls
# back to its own bucket rather than fail the calls it guards.
_UNAVAILABLE = (RedisError, OSError)

# A LIVE waiter's registration outlives its deadline by this much, so that it never lapses
# between two of its polls; a copy that dies while waiting holds BACKGROUND back no longer.
_LIVE_GRACE_SECONDS = 1.0

# Both scripts keep one key's state in four keys sharing the hash tag {key} (one cluster slot):
#   KEYS[1] hash   limit, tokens, updated (the caller's bucket); max, interval (the provider's
#                  window as learnt from its headers); paused_until (after a 429 or an empty
#                  daily quota)
#   KEYS[2] zset   requests in flight: permit id -> send time
#   KEYS[3] zset   requests answered: id -> answer time; "f:..." members stand for requests the
#                  provider counted that no copy sent (another app on the same location)
#   KEYS[4] zset   LIVE waiters: copy id -> registration expiry
# Times are Redis's own clock (TIME) in ms, so the copies' clocks never need to agree.
_COMMON_LUA = """
local function num(x) return string.format('%.3f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function expire(paused, idle_ttl)
  local ttl = math.ceil(math.max(idle_ttl, paused - now))
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
"""

# ARGV: limit per minute, permit id, background (0/1), copy id, live ttl ms if granted,
# live ttl ms if refused (0: no LIVE waiter left in this copy), lease ms, idle ttl ms.
# Returns {granted, wait in us (exact if known, else a lower bound), known, interval ms}.
_ACQUIRE_LUA = (
    _COMMON_LUA
    + """
local limit = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'limit', 'tokens', 'updated', 'max', 'interval',
                     'paused_until')
local old, tokens, updated = tonumber(s[1]), tonumber(s[2]), tonumber(s[3])
local max, interval, paused = tonumber(s[4]), tonumber(s[5]) or 0, tonumber(s[6]) or 0
if old and tokens and updated then
  tokens = math.min(old, tokens + math.max(0, now - updated) * old / 60000, limit)
else
  tokens = limit
end
-- A permit whose holder vanished (its copy died) stops counting after the lease.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', num(now - tonumber(ARGV[7])))
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', num(now))

local wait = math.max(0, paused - now)
if tokens < 1 then wait = math.max(wait, (1 - tokens) * 60000 / limit) end
local known = 1
local flying = redis.call('ZCARD', KEYS[2])
if not max then
  -- Until the provider's headers are known, one request at a time probes for them.
  if flying > 0 then known = 0 end
else
  local since = '(' .. num(now - interval)
  local recent = redis.call('ZCOUNT', KEYS[3], since, '+inf')
  local expiring = flying + recent - max + 1
  if expiring > recent then
    known = 0
  elseif expiring > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[3], since, '+inf', 'WITHSCORES',
                              'LIMIT', expiring - 1, 1)
    wait = math.max(wait, tonumber(oldest[2]) + interval - now)
  end
end

local me = ARGV[4]
if ARGV[3] == '1' and wait <= 0 and known == 1 then
  local live = redis.call('ZCARD', KEYS[4])
  if redis.call('ZSCORE', KEYS[4], me) then live = live - 1 end
  if live > 0 then known = 0 end
end

local granted, live_ttl = 0, tonumber(ARGV[6])
if wait <= 0 and known == 1 then
  granted, live_ttl = 1, tonumber(ARGV[5])
  tokens = tokens - 1
  redis.call('ZADD', KEYS[2], num(now), ARGV[2])
end
if live_ttl > 0 then
  redis.call('ZADD', KEYS[4], num(now + live_ttl), me)
else
  redis.call('ZREM', KEYS[4], me)
end
redis.call('HSET', KEYS[1], 'limit', limit, 'tokens', num(tokens), 'updated', num(now))
expire(paused, tonumber(ARGV[8]))
return {granted, math.ceil(wait * 1000), known, math.ceil(interval)}
"""
)

# ARGV: permit id, max, remaining, interval ms, daily remaining, throttled (0/1), retry after ms,
# default pause ms, daily-quota pause ms, idle ttl ms ('' where the response said nothing).
_RELEASE_LUA = (
    _COMMON_LUA
    + """
local id = ARGV[1]
local sent = tonumber(redis.call('ZSCORE', KEYS[2], id)) or now
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[3], num(now), id)
local s = redis.call('HMGET', KEYS[1], 'max', 'interval', 'paused_until')
local max, interval, paused = tonumber(s[1]), tonumber(s[2]) or 0, tonumber(s[3]) or 0

local seen_max, remaining, seen_interval = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if seen_max and seen_interval and seen_interval > 0 then
  max, interval = math.max(1, seen_max), seen_interval
  redis.call('HSET', KEYS[1], 'max', max, 'interval', num(interval))
end
if max and remaining then
  -- What the provider counted beyond every copy's requests that it may have counted (those
  -- sent before this one and still in flight, those answered within an interval of its
  -- sending) is someone else's: booked as answered now, it fills the window for an interval.
  local counted = max - math.max(0, remaining)
  local ours = redis.call('ZCOUNT', KEYS[2], '-inf', num(sent))
    + redis.call('ZCOUNT', KEYS[3], '(' .. num(sent - interval), '+inf')
  for i = 1, counted - ours do redis.call('ZADD', KEYS[3], num(now), 'f:' .. id .. ':' .. i) end
end
if ARGV[6] == '1' then
  local pause = tonumber(ARGV[7])
  if not pause then pause = interval > 0 and interval or tonumber(ARGV[8]) end
  paused = math.max(paused, now + pause)
end
local daily = tonumber(ARGV[5])
if daily and daily <= 0 then paused = math.max(paused, now + tonumber(ARGV[9])) end
redis.call('HSET', KEYS[1], 'paused_until', num(paused))
-- Kept two intervals: the foreign count looks one interval back from a send time.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', num(now - 2 * interval))
expire(paused, tonumber(ARGV[10]))
return 1
"""
)


# Read-only: a key's bucket as it stands. KEYS: the state hash and the in-flight zset.
# Returns {now ms, limit, tokens, updated ms, paused_until ms, in flight} ('' where unset).
_STATE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local s = redis.call('HMGET', KEYS[1], 'limit', 'tokens', 'updated', 'paused_until')
return {string.format('%.3f', now), s[1] or '', s[2] or '', s[3] or '', s[4] or '',
        redis.call('ZCARD', KEYS[2])}
"""


@dataclass(order=True, slots=True)
class _Waiter:
    priority: int
    seq: int
    deadline: float = field(compare=False)
    wake: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


@dataclass(slots=True)
class _Queue:
    """This copy's waiters for one key: only the head asks Redis, so a copy sends one request
    per key at a time however many of its callers wait."""

    waiters: list[_Waiter] = field(default_factory=list)
    live_registered: bool = False  # this copy may be in the key's LIVE-waiters set
    retry_after: float = DEFAULT_PAUSE_SECONDS  # from the head's latest answer


@dataclass(frozen=True, slots=True)
class _Verdict:
    granted: bool
    wait: float  # seconds: exact when `known`, else a lower bound (a request in flight must end)
    known: bool
    interval: float  # the provider's window as learnt, seconds (0: not yet)

    def sleep(self, poll_interval: float) -> float:
        """How long to wait before the next try (a wake-up from this copy may cut it short)."""
        return self.wait if self.known else max(self.wait, poll_interval)

    @property
    def retry_after(self) -> float:
        return self.wait if self.known else max(self.wait, self.interval or DEFAULT_PAUSE_SECONDS)


class _RedisPermit:
    __slots__ = ("_done", "_id", "_key", "_limiter")

    def __init__(self, limiter: RedisRateLimiter, key: str, permit_id: str) -> None:
        self._limiter = limiter
        self._key = key
        self._id = permit_id
        self._done = False

    async def release(self, observed: RateLimitObservation | None) -> None:
        if self._done:
            return
        self._done = True
        await self._limiter._settle(self._key, self._id, observed)


class RedisRateLimiter:
    """A RateLimiter whose per-key state lives in Redis, so every copy of the service draws on
    one budget. The rules are TokenBucketRateLimiter's: the caller's bucket of
    `limit_per_minute` tokens refilled over a minute, and the provider's window as its
    ``X-RateLimit-*`` headers teach it (one probe at a time until they are known; a request
    counts from its sending until an interval after its answer; what the provider counted
    beyond every copy's requests is booked as foreign). A 429 or an empty daily quota pauses the
    key for every copy. Each try is one Lua script (EVALSHA, cached); between tries a waiter
    sleeps for the wait the script returned, or `poll_interval` when the wait depends on a
    request still in flight (a release in this copy wakes it sooner). Idle keys expire after
    `idle_ttl_seconds`; a permit never released (its copy died) stops counting after
    `lease_seconds`.

    Priority: within a copy, waiters are served by priority, then in arrival order. Across
    copies, a copy with a LIVE waiter registers itself in the key's LIVE-waiters set, and a
    BACKGROUND try takes no slot while another copy is registered there.

    Redis out of reach: the service keeps working on an in-process bucket with 1/`copies` of
    each limit per minute (so that `copies` copies together keep to it), and that bucket learns
    the provider's window and its 429s from the headers as the in-process limiter does (the
    other copies' requests show up in them as foreign). Redis is tried again `retry_after_outage`
    seconds later; permits taken from either source are released to it.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        copies: int = 1,
        poll_interval: float = 0.05,
        lease_seconds: float = 60.0,
        idle_ttl_seconds: float = 600.0,
        retry_after_outage: float = 5.0,
        owns_client: bool = False,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._copies = max(1, copies)
        self._poll = poll_interval
        self._lease_ms = int(lease_seconds * 1000)
        self._idle_ms = int(idle_ttl_seconds * 1000)
        self._retry_after_outage = retry_after_outage
        self._owns_client = owns_client
        self._acquire_script = redis.register_script(_ACQUIRE_LUA)
        self._release_script = redis.register_script(_RELEASE_LUA)
        self._state_script = redis.register_script(_STATE_LUA)
        self._copy_id = uuid.uuid4().hex
        self._seq = itertools.count()
        self._queues: dict[str, _Queue] = {}
        self._local = TokenBucketRateLimiter()
        self._down_until: float | None = None  # monotonic time of the next Redis try
        self._tasks: set[asyncio.Future[Any]] = set()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        copies: int = 1,
        timeout: float = 1.0,
        max_connections: int = 32,
    ) -> RedisRateLimiter:
        """A limiter with its own Redis client (see `redis_client`), closed by `aclose`."""
        client = redis_client(url, timeout=timeout, max_connections=max_connections)
        return cls(client, prefix=prefix, copies=copies, owns_client=True)

    async def aclose(self) -> None:
        """Finish the clean-ups under way, then close the Redis client if this limiter made it."""
        while self._tasks:  # a finished try may start a release
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._owns_client:
            await self._redis.aclose()

    async def acquire(
        self,
        key: str,
        *,
        limit_per_minute: int,
        max_wait: float,
        priority: Priority = Priority.LIVE,
    ) -> RateLimitPermit:
        deadline = time.monotonic() + max(0.0, max_wait)
        if self._in_outage():
            return await self._acquire_locally(key, limit_per_minute, deadline, priority)
        queue = self._queues.setdefault(key, _Queue())
        waiter = _Waiter(int(priority), next(self._seq), deadline)
        heapq.heappush(queue.waiters, waiter)
        try:
            while not self._in_outage():
                waiter.wake.clear()
                timeout = deadline - time.monotonic()
                if queue.waiters[0] is waiter:
                    try:
                        verdict = await self._try(key, queue, waiter, max(1, limit_per_minute))
                    except _UNAVAILABLE as err:
                        self._enter_outage(err)
                        break
                    if verdict.granted:
                        return _RedisPermit(self, key, self._permit_id(waiter))
                    queue.retry_after = verdict.retry_after
                    left = deadline - time.monotonic()
                    # A wait known to outlast the deadline fails now; an unknown one is waited
                    # for until the deadline.
                    timeout = -1.0 if verdict.wait > left else min(left, verdict.sleep(self._poll))
                if timeout <= 0.0:
                    raise RateLimitExceededError(
                        f"rate limit reached: no request slot within {max_wait:g}s",
                        retry_after_seconds=round(queue.retry_after, 3),
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wake.wait(), timeout=timeout)
        finally:
            self._leave(key, queue, waiter)
        return await self._acquire_locally(key, limit_per_minute, deadline, priority)

    async def bucket_state(self, key: str) -> BucketState | None:
        """The key's shared bucket as Redis holds it (read-only); this copy's fallback bucket
        while Redis is out of reach; None if the key made no call lately."""
        if self._in_outage():
            return await self._local.bucket_state(key)
        try:
            now, limit, tokens, updated, paused, flying = await self._state_script(
                keys=self._keys(key)[:2]
            )
        except _UNAVAILABLE:
            return await self._local.bucket_state(key)
        if not limit or not tokens or not updated:
            return None
        per_minute = int(float(limit))
        refill = max(0.0, float(now) - float(updated)) * per_minute / 60_000
        return BucketState(
            limit_per_minute=per_minute,
            tokens=min(float(per_minute), float(tokens) + refill),
            paused_for_seconds=max(0.0, float(paused or 0) - float(now)) / 1000,
            in_flight=int(flying),
            shared=True,
        )

    async def _try(self, key: str, queue: _Queue, waiter: _Waiter, limit: int) -> _Verdict:
        """One run of the acquire script for the head of this copy's queue."""
        now = time.monotonic()
        others = [
            w.deadline for w in queue.waiters if w.priority == Priority.LIVE and w is not waiter
        ]
        ttl_if_granted = _ms(max(others) - now + _LIVE_GRACE_SECONDS) if others else 0
        ttl_if_refused = ttl_if_granted
        if waiter.priority == Priority.LIVE:
            ttl_if_refused = max(ttl_if_granted, _ms(waiter.deadline - now + _LIVE_GRACE_SECONDS))
        permit_id = self._permit_id(waiter)
        args = (
            limit,
            permit_id,
            int(waiter.priority == Priority.BACKGROUND),
            self._copy_id,
            ttl_if_granted,
            ttl_if_refused,
            self._lease_ms,
            self._idle_ms,
        )
        call = asyncio.ensure_future(self._acquire_script(keys=self._keys(key), args=args))
        self._track(call)
        try:
            # Shielded: a caller cancelled mid-call must not leave a granted slot behind.
            granted, wait_us, known, interval_ms = await asyncio.shield(call)
        except asyncio.CancelledError:
            call.add_done_callback(functools.partial(self._after_cancelled_try, key, permit_id))
            raise
        self._redis_answered()
        queue.live_registered = (ttl_if_granted if granted else ttl_if_refused) > 0
        return _Verdict(bool(granted), wait_us / 1e6, bool(known), interval_ms / 1000)

    async def _settle(
        self, key: str, permit_id: str, observed: RateLimitObservation | None
    ) -> None:
        # Shielded: a caller cancelled mid-release must not leave its slot counted for a lease.
        task = asyncio.ensure_future(self._release(key, permit_id, observed))
        self._track(task)
        await asyncio.shield(task)

    async def _release(
        self, key: str, permit_id: str, observed: RateLimitObservation | None
    ) -> None:
        """Run the release script; never raises: if Redis fails, the slot lapses with the lease."""
        try:
            args = (
                permit_id,
                *_observation_args(observed),
                DEFAULT_PAUSE_SECONDS * 1000,
                DAILY_QUOTA_PAUSE_SECONDS * 1000,
                self._idle_ms,
            )
            await self._release_script(keys=self._keys(key), args=args)
        except _UNAVAILABLE as err:
            self._enter_outage(err)
        finally:
            queue = self._queues.get(key)
            if queue is not None and queue.waiters:
                queue.waiters[0].wake.set()

    def _after_cancelled_try(self, key: str, permit_id: str, call: asyncio.Future[Any]) -> None:
        """A try whose caller was cancelled ended: give back what it got."""
        if call.cancelled() or call.exception() is not None:
            return
        if call.result()[0]:
            self._spawn(self._release(key, permit_id, None))
        queue = self._queues.get(key)
        if queue is None or not any(w.priority == Priority.LIVE for w in queue.waiters):
            self._spawn(self._unregister_live(key))

    def _leave(self, key: str, queue: _Queue, waiter: _Waiter) -> None:
        if waiter in queue.waiters:
            queue.waiters.remove(waiter)
            heapq.heapify(queue.waiters)
        if queue.live_registered and not any(w.priority == Priority.LIVE for w in queue.waiters):
            queue.live_registered = False
            self._spawn(self._unregister_live(key))
        if queue.waiters:
            queue.waiters[0].wake.set()
        elif self._queues.get(key) is queue:
            del self._queues[key]

    async def _unregister_live(self, key: str) -> None:
        with contextlib.suppress(*_UNAVAILABLE):
            await self._redis.zrem(self._keys(key)[3], self._copy_id)

    async def _acquire_locally(
        self, key: str, limit_per_minute: int, deadline: float, priority: Priority
    ) -> RateLimitPermit:
        return await self._local.acquire(
            key,
            limit_per_minute=max(1, limit_per_minute // self._copies),
            max_wait=max(0.0, deadline - time.monotonic()),
            priority=priority,
        )

    def _in_outage(self) -> bool:
        return self._down_until is not None and time.monotonic() < self._down_until

    def _enter_outage(self, err: BaseException) -> None:
        if self._down_until is None:
            log.warning(
                "rate_limiter_redis_unavailable",
                error=type(err).__name__,
                detail=str(err),
                fallback="in-process bucket",
                share_of_limit=f"1/{self._copies}",
            )
        self._down_until = time.monotonic() + self._retry_after_outage

    def _redis_answered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            log.info("rate_limiter_redis_recovered")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._track(asyncio.ensure_future(work))

    def _track(self, task: asyncio.Future[Any]) -> None:
        """Keep a reference until the task ends, and let `aclose` wait for it."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _keys(self, key: str) -> list[str]:
        base = f"{self._prefix}:{{{key}}}"
        return [f"{base}:state", f"{base}:inflight", f"{base}:answered", f"{base}:live"]

    def _permit_id(self, waiter: _Waiter) -> str:
        return f"{self._copy_id}:{waiter.seq}"


def redis_client(url: str, *, timeout: float = 1.0, max_connections: int = 32) -> Redis:
    """A Redis client for the limiter: `timeout` bounds connecting, each command and the wait
    for one of `max_connections` pooled connections; a failed command is retried once, at
    once, so an outage is noticed within about two `timeout`s. Close it with ``aclose()``."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )
    return Redis.from_pool(pool)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _observation_args(observed: RateLimitObservation | None) -> tuple[str | int | float, ...]:
    """The release script's ARGV[2..7]: '' where the response said nothing."""

    def opt(value: float | None) -> str | int | float:
        return "" if value is None else value

    o = observed or RateLimitObservation()
    return (
        opt(o.max_requests),
        opt(o.remaining),
        opt(o.interval_seconds * 1000 if o.interval_seconds else None),
        opt(o.daily_remaining),
        int(o.throttled),
        opt(o.retry_after_seconds * 1000 if o.retry_after_seconds else None),
    )

"""RedisRateLimiter on the real Redis: one budget per key shared by every copy (each copy a
limiter with its own connections), the provider's lessons shared, LIVE before BACKGROUND across
copies, and an in-process fallback with a share of the limit while Redis is out of reach."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from application.ports.rate_limits import Priority, RateLimitObservation
from domain.errors import RateLimitExceededError
from tests.integration.ratelimit.conftest import REDIS_URL, MakeLimiter
from tests.support.waiting import PATIENCE_SECONDS

# The provider's window as a test teaches it: so many requests per interval, none foreign.
WIDE_OPEN = RateLimitObservation(max_requests=100_000, interval_seconds=1.0)


def _busiest_window(times: list[float], interval: float) -> int:
    """The most of `times` within any `interval` (a sliding window)."""
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= interval:
            first += 1
        most = max(most, last - first + 1)
    return most


async def _live_turns(redis: Redis, prefix: str, count: int) -> None:
    """Until `count` copies wait for the LIVE turn of key ``k``."""
    give_up = time.monotonic() + PATIENCE_SECONDS
    while await redis.zcard(f"{prefix}:{{k}}:live") != count:
        assert time.monotonic() < give_up, f"never {count} copies waiting LIVE"
        await asyncio.sleep(0.01)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _TcpProxy:
    """A loopback proxy to Redis that can be stopped and restarted on the same port, and can
    hold Redis's answers back for `delay` seconds."""

    def __init__(self, target: str, *, delay: float = 0.0) -> None:
        self._delay = delay
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._db = parts.path
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self._db}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pipe(reader, up_writer, 0.0),
            self._pipe(up_reader, writer, self._delay),
            return_exceptions=True,
        )

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float
    ) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


async def test_copies_sharing_a_key_draw_on_one_bucket_that_refills_at_its_rate(
    make_limiter: MakeLimiter,
) -> None:
    # 300 a minute: a full bucket of 300, then 5 a second, for the three copies together.
    copies = [make_limiter() for _ in range(3)]
    seed = await copies[0].acquire("k", limit_per_minute=300, max_wait=1.0)
    started = time.monotonic()
    await seed.release(WIDE_OPEN)
    granted: list[float] = [started]

    async def call(i: int) -> None:
        limiter = copies[i % 3]
        with contextlib.suppress(RateLimitExceededError):
            permit = await limiter.acquire("k", limit_per_minute=300, max_wait=1.2)
            granted.append(time.monotonic())
            await permit.release(None)

    await asyncio.gather(*(call(i) for i in range(360)))

    ends = sorted(granted)
    for n, at in enumerate(ends, start=1):
        assert n <= 300 + 5 * (at - started) + 1, (n, at - started)
    assert 300 + 4 <= len(ends) <= 300 + 7  # ~6 refilled in the 1.2 s the callers waited


async def test_copies_sharing_a_key_never_exceed_the_providers_window_in_total(
    make_limiter: MakeLimiter,
) -> None:
    copies = [make_limiter() for _ in range(3)]
    headers = RateLimitObservation(max_requests=10, interval_seconds=0.1)
    sent: list[float] = []

    async def call(i: int) -> None:
        permit = await copies[i % 3].acquire("k", limit_per_minute=60_000, max_wait=5.0)
        sent.append(time.monotonic())
        await asyncio.sleep(0.005)  # the request
        await permit.release(headers)

    await asyncio.gather(*(call(i) for i in range(60)))

    assert len(sent) == 60
    assert _busiest_window(sent, 0.1) <= 10
    assert max(sent) - min(sent) >= 0.5  # 60 requests need at least 5 more windows


async def test_a_429_seen_by_one_copy_pauses_every_copy(make_limiter: MakeLimiter) -> None:
    first, second, third = make_limiter(), make_limiter(), make_limiter()
    permit = await first.acquire("k", limit_per_minute=6000, max_wait=1.0)
    paused_at = time.monotonic()
    await permit.release(RateLimitObservation(throttled=True, retry_after_seconds=0.4))

    with pytest.raises(RateLimitExceededError) as raised:
        await second.acquire("k", limit_per_minute=6000, max_wait=0.1)
    assert 0.3 < raised.value.retry_after_seconds <= 0.4
    permit = await third.acquire("k", limit_per_minute=6000, max_wait=2.0)
    assert 0.4 <= time.monotonic() - paused_at < 0.6
    await permit.release(None)


async def test_what_other_apps_used_in_the_providers_window_holds_back_every_copy(
    make_limiter: MakeLimiter,
) -> None:
    first, second = make_limiter(), make_limiter()
    permit = await first.acquire("k", limit_per_minute=6000, max_wait=1.0)
    # GHL counted 10 of 10 although the copies sent one: nine were someone else's.
    await permit.release(RateLimitObservation(max_requests=10, remaining=0, interval_seconds=5))

    with pytest.raises(RateLimitExceededError) as raised:
        await second.acquire("k", limit_per_minute=6000, max_wait=0.1)
    assert 4.5 < raised.value.retry_after_seconds <= 5.0


async def test_requests_of_other_copies_are_not_mistaken_for_foreign_ones(
    make_limiter: MakeLimiter,
) -> None:
    first, second = make_limiter(), make_limiter()

    def headers(remaining: int) -> RateLimitObservation:
        return RateLimitObservation(max_requests=4, remaining=remaining, interval_seconds=5)

    probe = await first.acquire("k", limit_per_minute=6000, max_wait=1.0)
    await probe.release(headers(3))
    mine = await first.acquire("k", limit_per_minute=6000, max_wait=0.1)
    theirs = await second.acquire("k", limit_per_minute=6000, max_wait=0.1)
    # GHL counted three; each was a copy's, so none is booked as someone else's.
    await mine.release(headers(2))
    await theirs.release(headers(1))

    last = await second.acquire("k", limit_per_minute=6000, max_wait=0.1)
    await last.release(headers(0))
    with pytest.raises(RateLimitExceededError):
        await first.acquire("k", limit_per_minute=6000, max_wait=0.1)


async def test_an_empty_daily_quota_pauses_every_copy(make_limiter: MakeLimiter) -> None:
    first, second = make_limiter(), make_limiter()
    permit = await first.acquire("k", limit_per_minute=6000, max_wait=1.0)
    await permit.release(RateLimitObservation(daily_limit=200_000, daily_remaining=0))

    with pytest.raises(RateLimitExceededError) as raised:
        await second.acquire("k", limit_per_minute=6000, max_wait=0.1)
    assert 59.0 < raised.value.retry_after_seconds <= 60.0


async def test_live_callers_of_one_copy_are_served_before_background_ones_of_another(
    make_limiter: MakeLimiter, redis: Redis, prefix: str
) -> None:
    syncing, serving = make_limiter(), make_limiter()
    one_at_a_time = RateLimitObservation(max_requests=1, remaining=0, interval_seconds=0.05)
    first = await syncing.acquire("k", limit_per_minute=6000, max_wait=1.0)
    served: list[str] = []

    async def call(limiter_name: str, priority: Priority) -> None:
        limiter = syncing if limiter_name == "syncing" else serving
        permit = await limiter.acquire(
            "k", limit_per_minute=6000, max_wait=PATIENCE_SECONDS, priority=priority
        )
        served.append(priority.name)
        await permit.release(one_at_a_time)

    waiting = [
        *(asyncio.create_task(call("syncing", Priority.BACKGROUND)) for _ in range(3)),
        *(asyncio.create_task(call("serving", Priority.LIVE)) for _ in range(3)),
    ]
    await _live_turns(redis, prefix, 1)  # the serving copy waits LIVE
    await first.release(one_at_a_time)
    await asyncio.gather(*waiting)

    assert served == ["LIVE"] * 3 + ["BACKGROUND"] * 3
    assert await redis.zcard(f"{prefix}:{{k}}:live") == 0


async def test_live_callers_are_served_before_background_ones_within_a_copy(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter()
    one_at_a_time = RateLimitObservation(max_requests=1, remaining=0, interval_seconds=0.05)
    first = await limiter.acquire("k", limit_per_minute=6000, max_wait=1.0)
    served: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        permit = await limiter.acquire("k", limit_per_minute=6000, max_wait=2.0, priority=priority)
        served.append(name)
        await permit.release(one_at_a_time)

    waiting = [
        asyncio.create_task(call("background", Priority.BACKGROUND)),
        asyncio.create_task(call("live", Priority.LIVE)),
    ]
    await asyncio.sleep(0.01)
    await first.release(one_at_a_time)
    await asyncio.gather(*waiting)

    assert served == ["live", "background"]


async def test_a_known_wait_past_max_wait_fails_at_once_with_the_time_to_retry(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter()
    for _ in range(2):
        permit = await limiter.acquire("k", limit_per_minute=2, max_wait=1.0)
        await permit.release(WIDE_OPEN)

    started = time.monotonic()
    with pytest.raises(RateLimitExceededError) as raised:
        await limiter.acquire("k", limit_per_minute=2, max_wait=1.0)

    assert time.monotonic() - started < 0.2
    assert 25.0 < raised.value.retry_after_seconds <= 30.0  # one token per 30 s


async def test_a_wait_on_a_request_in_flight_lasts_until_max_wait(
    make_limiter: MakeLimiter,
) -> None:
    first, second = make_limiter(), make_limiter()
    probe = await first.acquire("k", limit_per_minute=6000, max_wait=1.0)  # no headers yet

    started = time.monotonic()
    with pytest.raises(RateLimitExceededError) as raised:
        await second.acquire("k", limit_per_minute=6000, max_wait=0.3)

    assert 0.29 <= time.monotonic() - started < 0.6
    assert raised.value.retry_after_seconds == 10.0  # no window learnt: GHL's burst interval
    await probe.release(None)


async def test_a_release_in_another_copy_lets_a_waiter_through(
    make_limiter: MakeLimiter,
) -> None:
    first, second = make_limiter(), make_limiter()
    probe = await first.acquire("k", limit_per_minute=6000, max_wait=1.0)
    waiter = asyncio.create_task(
        second.acquire("k", limit_per_minute=6000, max_wait=PATIENCE_SECONDS)
    )
    await asyncio.sleep(0.1)
    assert not waiter.done()

    await probe.release(WIDE_OPEN)
    permit = await asyncio.wait_for(waiter, timeout=PATIENCE_SECONDS)
    await permit.release(None)
    await permit.release(None)  # a second release is a no-op


async def test_a_cancelled_waiter_holds_neither_a_slot_nor_the_live_turn(
    make_limiter: MakeLimiter, redis: Redis, prefix: str
) -> None:
    limiter, other = make_limiter(), make_limiter()
    probe = await limiter.acquire("k", limit_per_minute=6000, max_wait=1.0)
    waiter = asyncio.create_task(limiter.acquire("k", limit_per_minute=6000, max_wait=5.0))
    await _live_turns(redis, prefix, 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await probe.release(RateLimitObservation(max_requests=5, remaining=4, interval_seconds=1))
    await _live_turns(redis, prefix, 0)  # the LIVE turn is withdrawn in the background

    background = await other.acquire(
        "k", limit_per_minute=6000, max_wait=0.1, priority=Priority.BACKGROUND
    )
    await background.release(None)


async def test_a_caller_cancelled_while_its_try_is_in_redis_leaves_no_slot_taken(
    make_limiter: MakeLimiter, redis: Redis, prefix: str
) -> None:
    slow = _TcpProxy(REDIS_URL, delay=0.05)
    await slow.start()
    limiter, other = make_limiter(url=slow.url), make_limiter()
    warm = await limiter.acquire("warm-up", limit_per_minute=6000, max_wait=1.0)
    await warm.release(None)

    acquiring = asyncio.create_task(limiter.acquire("k", limit_per_minute=6000, max_wait=1.0))
    await asyncio.sleep(0.02)  # Redis has granted the slot; the answer is on its way back
    acquiring.cancel()
    with pytest.raises(asyncio.CancelledError):
        await acquiring
    assert await redis.zcard(f"{prefix}:{{k}}:inflight") == 1
    await limiter.aclose()  # waits for the grant to be given back
    await slow.stop()

    assert await redis.zcard(f"{prefix}:{{k}}:inflight") == 0
    permit = await other.acquire("k", limit_per_minute=6000, max_wait=0.1)  # no probe in flight
    await permit.release(None)


async def test_a_permit_whose_copy_died_stops_counting_after_the_lease(
    make_limiter: MakeLimiter,
) -> None:
    dead = make_limiter(lease_seconds=0.2)
    alive = make_limiter(lease_seconds=0.2)
    await dead.acquire("k", limit_per_minute=6000, max_wait=1.0)  # never released

    started = time.monotonic()
    permit = await alive.acquire("k", limit_per_minute=6000, max_wait=1.0)

    assert 0.2 <= time.monotonic() - started < 0.5
    await permit.release(None)


async def test_keys_are_namespaced_and_expire_when_idle_unless_a_pause_outlasts_that(
    make_limiter: MakeLimiter, redis: Redis, prefix: str
) -> None:
    limiter = make_limiter(idle_ttl_seconds=0.3)
    permit = await limiter.acquire("integration-1", limit_per_minute=60, max_wait=1.0)
    await permit.release(WIDE_OPEN)

    base = f"{prefix}:{{integration-1}}"
    keys = sorted([k.decode() async for k in redis.scan_iter(match=f"{prefix}:*")])
    assert keys == [f"{base}:answered", f"{base}:state"]
    ttls = [await redis.pttl(key) for key in keys]
    assert all(0 < ttl <= 300 for ttl in ttls), ttls
    await asyncio.sleep(0.35)
    assert [k async for k in redis.scan_iter(match=f"{prefix}:*")] == []

    permit = await limiter.acquire("integration-1", limit_per_minute=60, max_wait=1.0)
    await permit.release(RateLimitObservation(throttled=True, retry_after_seconds=5.0))
    assert 4_000 < await redis.pttl(f"{base}:state") <= 5_000


async def test_with_redis_out_of_reach_each_copy_falls_back_to_its_share_of_the_limit(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter(url=f"redis://127.0.0.1:{_closed_port()}/0", copies=2)

    with capture_logs() as logs:
        started = time.monotonic()
        for _ in range(2):  # 4 a minute over two copies: 2 for this one
            permit = await limiter.acquire("k", limit_per_minute=4, max_wait=1.0)
            await permit.release(WIDE_OPEN)
        with pytest.raises(RateLimitExceededError) as raised:
            await limiter.acquire("k", limit_per_minute=4, max_wait=1.0)

    assert time.monotonic() - started < 0.5
    assert 25.0 < raised.value.retry_after_seconds <= 30.0  # 2 a minute: one per 30 s
    events = Counter(entry["event"] for entry in logs)
    assert events["rate_limiter_redis_unavailable"] == 1  # once per outage, not per call


async def test_after_an_outage_the_copies_share_the_budget_through_redis_again(
    make_limiter: MakeLimiter, redis: Redis, prefix: str
) -> None:
    proxy = _TcpProxy(REDIS_URL)
    await proxy.start()
    limiter = make_limiter(url=proxy.url, retry_after_outage=0.2)
    permit = await limiter.acquire("before", limit_per_minute=60, max_wait=1.0)
    await permit.release(WIDE_OPEN)
    assert await redis.exists(f"{prefix}:{{before}}:state") == 1

    await proxy.stop()
    with capture_logs() as logs:
        permit = await limiter.acquire("during", limit_per_minute=60, max_wait=1.0)
        await permit.release(WIDE_OPEN)
        await proxy.start()
        await asyncio.sleep(0.25)
        permit = await limiter.acquire("after", limit_per_minute=60, max_wait=1.0)
        await permit.release(WIDE_OPEN)
    await proxy.stop()

    assert [entry["event"] for entry in logs] == [
        "rate_limiter_redis_unavailable",
        "rate_limiter_redis_recovered",
    ]
    assert await redis.exists(f"{prefix}:{{during}}:state") == 0  # served by the fallback
    assert await redis.exists(f"{prefix}:{{after}}:state") == 1

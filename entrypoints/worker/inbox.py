"""The inbox worker: claims due webhook deliveries, runs each one's handler in one transaction
with marking it done, retries failures with backoff, and dead-letters what keeps failing."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import structlog

from application.inbox import EventHandler, EventKind, HandlerOutcome
from application.ports import Clock, UnitOfWorkFactory
from application.webhooks import ClaimedDelivery, ClaimLostError, error_text
from entrypoints.worker import metrics

log = structlog.get_logger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
DEFAULT_PAYLOAD_RETENTION = timedelta(days=30)
DEFAULT_PURGE_INTERVAL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff with full jitter: retry n waits a uniform time in
    [0, min(cap, base * 2**(n-1))], so that deliveries failing together do not retry together.
    After `max_attempts` attempts a delivery is dead-lettered."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=15)
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError("backoff needs max_attempts >= 1 and 0 < base <= cap")

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """How long to wait after the `attempt`-th attempt failed."""
        ceiling: timedelta = min(self.cap, self.base * 2 ** min(attempt - 1, 32))
        return ceiling * rng.random()


class InboxWorker:
    """Processes the webhook inbox. One unit of work per delivery: the handler's changes, its
    events and the delivery marked done (or ignored) commit together; on failure that
    transaction rolls back and the failure is recorded in a fresh one. A kind with no handler
    is marked ignored. Claims carry a lease: a worker that dies mid-delivery leaves it to be
    claimed again once the lease ends (each claim counts as an attempt, so a delivery that kills
    its worker is dead-lettered too)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        handlers: Mapping[EventKind, EventHandler],
        clock: Clock,
        batch_size: int = 10,
        poll_interval: float = 1.0,
        lease: timedelta = DEFAULT_LEASE,
        backoff: BackoffPolicy | None = None,
        payload_retention: timedelta = DEFAULT_PAYLOAD_RETENTION,
        purge_interval: timedelta = DEFAULT_PURGE_INTERVAL,
        rng: random.Random | None = None,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        if batch_size < 1 or poll_interval <= 0 or lease <= timedelta(0):
            raise ValueError("the worker needs batch_size >= 1, poll_interval > 0, lease > 0")
        self._uow = uow
        self._handlers = dict(handlers)
        self._clock = clock
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease = lease
        self._backoff = backoff or BackoffPolicy()
        self._retention = payload_retention
        self._purge_interval = purge_interval
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._stopping = asyncio.Event()
        # Set when a delivery is stored in this process: the idle wait ends at once instead of
        # after `poll_interval` (the poll still finds what other processes stored).
        self._wakeup = wakeup or asyncio.Event()
        self._next_purge = self._clock.now()

    def stop(self) -> None:
        """Ask `run` to return: the delivery in hand is finished, the rest of the batch is
        handed back, unattempted, for another worker."""
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Process until `stop()`; waits `poll_interval` whenever the inbox has nothing due."""
        log.info("inbox_worker_started", batch_size=self._batch_size)
        while not self._stopping.is_set():
            busy = False
            try:
                if self._clock.now() >= self._next_purge:
                    await self.purge()
                busy = await self.run_once() == self._batch_size
            except Exception as err:  # the database is down, or a bug: keep polling
                log.error("inbox_worker_error", error_type=type(err).__name__, exc_info=err)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
            self._wakeup.clear()
        log.info("inbox_worker_stopped")

    async def run_once(self) -> int:
        """Claim one batch and process it; returns how many deliveries were claimed."""
        async with self._uow() as uow:
            claims = await uow.inbox.claim_due(
                now=self._clock.now(), limit=self._batch_size, lease=self._lease
            )
            await uow.commit()
        for index, claim in enumerate(claims):
            # A slow batch must not run into its lease: once less than half of it is left, the
            # rest is handed back (and claimed afresh), so that no other worker takes a
            # delivery this one is about to process.
            if (
                self._stopping.is_set()
                or self._clock.now() >= claim.claimed_until - self._lease / 2
            ):
                await self._release(claims[index:])
                break
            await self._process(claim)
        return len(claims)

    async def purge(self) -> int:
        """Forget the payloads of deliveries settled longer ago than the retention."""
        now = self._clock.now()
        async with self._uow() as uow:
            purged = await uow.inbox.purge_payloads(processed_before=now - self._retention)
            await uow.commit()
        self._next_purge = now + self._purge_interval
        if purged:
            log.info("inbox_payloads_purged", count=purged)
        return purged

    async def _process(self, claim: ClaimedDelivery) -> None:
        bound = log.bind(
            webhook_delivery_id=claim.id,
            integration_id=claim.integration_id,
            kind=claim.kind.value,
            attempt=claim.attempts,
        )
        if claim.attempts > self._backoff.max_attempts:
            # Claimed again after its lease ended more often than it may be attempted: its
            # handler keeps stopping the worker (or the worker keeps dying) before it settles.
            await self._fail(
                claim,
                f"abandoned after {claim.attempts - 1} attempts that never finished",
                bound,
            )
            return
        handler = self._handlers.get(claim.kind)
        started = time.perf_counter()
        try:
            async with self._uow() as uow:
                outcome = (
                    HandlerOutcome.IGNORED
                    if handler is None
                    else await handler.handle(uow, claim.to_event())
                )
                now = self._clock.now()
                if outcome is HandlerOutcome.IGNORED:
                    await uow.inbox.mark_ignored(claim, now=now)
                else:
                    await uow.inbox.mark_done(claim, now=now)
                await uow.commit()
        except ClaimLostError:
            metrics.PROCESSED.labels(claim.kind.value, "claim_lost").inc()
            bound.warning("inbox_claim_lost")
            return
        except Exception as err:
            metrics.HANDLER_SECONDS.labels(claim.kind.value).observe(time.perf_counter() - started)
            await self._fail(claim, error_text(err), bound, error_type=type(err).__name__)
            return
        metrics.HANDLER_SECONDS.labels(claim.kind.value).observe(time.perf_counter() - started)
        metrics.PROCESSED.labels(claim.kind.value, outcome.value).inc()
        metrics.LATENCY_SECONDS.labels(claim.kind.value).observe(
            max(0.0, (self._clock.now() - claim.received_at).total_seconds())
        )
        bound.info(
            "inbox_delivery_processed",
            outcome=outcome.value,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _fail(
        self,
        claim: ClaimedDelivery,
        error: str,
        bound: structlog.typing.FilteringBoundLogger,
        *,
        error_type: str | None = None,
    ) -> None:
        now = self._clock.now()
        dead = claim.attempts >= self._backoff.max_attempts
        try:
            async with self._uow() as uow:
                if dead:
                    await uow.inbox.dead_letter(claim, error=error, now=now)
                else:
                    retry_at = now + self._backoff.delay(claim.attempts, self._rng)
                    await uow.inbox.mark_failed(claim, error=error, retry_at=retry_at, now=now)
                await uow.commit()
        except ClaimLostError:
            bound.warning("inbox_claim_lost")
            return
        except Exception as err:
            # Not recorded: the lease ends and the delivery is claimed again, as after a crash.
            bound.error("inbox_failure_not_recorded", error_type=type(err).__name__)
            return
        metrics.PROCESSED.labels(claim.kind.value, "dead_lettered" if dead else "failed").inc()
        if dead:
            metrics.DEAD_LETTERS.labels(claim.kind.value).inc()
            bound.warning("inbox_delivery_dead_lettered", error_type=error_type)
        else:
            bound.info("inbox_delivery_failed", error_type=error_type)

    async def _release(self, claims: list[ClaimedDelivery]) -> None:
        try:
            async with self._uow() as uow:
                await uow.inbox.release(claims, now=self._clock.now())
                await uow.commit()
        except Exception as err:
            log.error("inbox_release_failed", error_type=type(err).__name__, count=len(claims))

"""The inbox worker: claims due webhook deliveries, runs each one's handler in one transaction
with marking it done, retries failures with backoff, and dead-letters what keeps failing."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import structlog

from application.call_budget import rate_limit_wait_at_most
from application.delivery_policy import BackoffPolicy, can_never_succeed, error_text
from application.ports import (
    ClaimedDelivery,
    ClaimLostError,
    Clock,
    EventHandler,
    HandlerOutcome,
    PreparingHandler,
    UnitOfWorkFactory,
)
from domain.errors import InvalidCredentialsError, RateLimitExceededError
from domain.webhook_delivery import EventKind
from entrypoints.trace_context import processing
from entrypoints.worker import metrics

log = structlog.get_logger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
DEFAULT_PAYLOAD_RETENTION = timedelta(days=30)
DEFAULT_PURGE_INTERVAL = timedelta(hours=1)


# How long a delivery's provider calls may wait for a rate-limit slot before its integration's
# deliveries are put aside until the slot frees up (application/call_budget.py).
DEFAULT_RATE_LIMIT_WAIT = 1.0
# Bounds on how long an integration waiting on its provider's limit is put aside.
_MIN_DEFERRAL = timedelta(seconds=1)
_MAX_DEFERRAL = timedelta(minutes=15)
_NOT_ACTIVE = "the integration was not active when the delivery was processed"
_REJECTED = "rejected"


class InboxWorker:
    """Processes the webhook inbox, fairly across integrations.

    Each claim takes the oldest due delivery of every integration before the second of any
    (`Inbox.claim_due`), and each integration's claimed deliveries run in a lane of their own,
    in order, beside the other integrations' lanes: a slow or throttled integration holds up only
    itself. Up to `batch_size` deliveries are in hand at once; `run` claims more as lanes finish,
    never for an integration whose lane is still running.

    One unit of work per delivery: the handler's changes, its events and the delivery marked done
    (or ignored) commit together; on failure that transaction rolls back and the failure is
    recorded in a fresh one. A kind with no handler is marked ignored. A delivery whose
    integration stopped taking deliveries is marked rejected, changing nothing. One whose payload
    cannot be read, or whose handler fails in a way no retry can mend (`can_never_succeed`), is
    dead-lettered at once; other failures are retried with backoff, then dead-lettered. A handler
    whose provider call would wait longer than `rate_limit_wait` for its rate limit puts its
    integration's deliveries aside until the limit frees up, their attempts not counted.

    Claims carry a lease: a worker that dies mid-delivery leaves it to be claimed again once the
    lease ends (each claim counts as an attempt, so a delivery that kills its worker is
    dead-lettered too)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        handlers: Callable[[str], Mapping[EventKind, EventHandler]],
        clock: Clock,
        batch_size: int = 10,
        poll_interval: float = 1.0,
        lease: timedelta = DEFAULT_LEASE,
        backoff: BackoffPolicy | None = None,
        payload_retention: timedelta = DEFAULT_PAYLOAD_RETENTION,
        purge_interval: timedelta = DEFAULT_PURGE_INTERVAL,
        rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT,
        rng: random.Random | None = None,
        wakeup: asyncio.Event | None = None,
        credentials_refused: Callable[[str, InvalidCredentialsError], Awaitable[None]]
        | None = None,
    ) -> None:
        if batch_size < 1 or poll_interval <= 0 or lease <= timedelta(0):
            raise ValueError("the worker needs batch_size >= 1, poll_interval > 0, lease > 0")
        self._uow = uow
        self._handlers = handlers
        # The provider refused an integration's credentials while a delivery was handled: the
        # integration goes to error (ConnectionTester.record), as a failed test would put it.
        self._credentials_refused = credentials_refused
        self._clock = clock
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease = lease
        self._backoff = backoff or BackoffPolicy()
        self._retention = payload_retention
        self._purge_interval = purge_interval
        self._rate_limit_wait = rate_limit_wait
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._stopping = asyncio.Event()
        # Set when a delivery is stored in this process or a lane finishes: the idle wait ends
        # at once instead of after `poll_interval` (the poll still finds what other processes
        # stored).
        self._wakeup = wakeup or asyncio.Event()
        self._next_purge = self._clock.now()
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._in_hand = 0

    def stop(self) -> None:
        """Ask `run` to return: each lane finishes the delivery in hand and hands the rest of
        its claims back, unattempted, for another worker."""
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Process until `stop()`; polls every `poll_interval` while nothing wakes it."""
        log.info("inbox_worker_started", batch_size=self._batch_size)
        while not self._stopping.is_set():
            try:
                if self._clock.now() >= self._next_purge:
                    await self.purge()
                free = self._batch_size - self._in_hand
                if free > 0:
                    await self._claim(limit=free)
            except Exception as err:  # the database is down, or a bug: keep polling
                log.error("inbox_worker_error", error_type=type(err).__name__, exc_info=err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
            self._wakeup.clear()
        await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        log.info("inbox_worker_stopped")

    async def run_once(self) -> int:
        """Claim one batch, process it and wait for every lane to finish; returns how many
        deliveries were claimed."""
        claimed = await self._claim(limit=self._batch_size)
        await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        return claimed

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

    async def _claim(self, *, limit: int) -> int:
        """Claim up to `limit` deliveries, at most half a batch of any one integration (so that
        another's deliveries find room while its lane runs) and none of an integration whose
        lane is running, and start a lane for each integration among them."""
        async with self._uow() as uow:
            claims = await uow.inbox.claim_due(
                now=self._clock.now(),
                limit=limit,
                lease=self._lease,
                exclude=frozenset(self._lanes),
                per_integration=max(1, self._batch_size // 2),
            )
            await uow.commit()
        by_integration: dict[str, list[ClaimedDelivery]] = {}
        for claim in claims:
            by_integration.setdefault(claim.integration_id, []).append(claim)
        for integration_id, mine in by_integration.items():
            self._in_hand += len(mine)
            lane = asyncio.create_task(self._lane(mine))
            self._lanes[integration_id] = lane
            lane.add_done_callback(functools.partial(self._lane_done, integration_id, len(mine)))
        return len(claims)

    def _lane_done(self, integration_id: str, count: int, lane: asyncio.Task[None]) -> None:
        self._lanes.pop(integration_id, None)
        self._in_hand -= count
        self._wakeup.set()
        if not lane.cancelled() and lane.exception() is not None:
            log.error("inbox_lane_failed", exc_info=lane.exception())

    async def _lane(self, claims: list[ClaimedDelivery]) -> None:
        """One integration's claimed deliveries, in order."""
        for index, claim in enumerate(claims):
            # A slow lane must not run into its lease: once less than half of it is left, the
            # rest is handed back (and claimed afresh), so that no other worker takes a
            # delivery this one is about to process.
            if (
                self._stopping.is_set()
                or self._clock.now() >= claim.claimed_until - self._lease / 2
            ):
                await self._release(claims[index:])
                return
            with processing(claim):
                resume_at = await self._process(claim)
            if resume_at is not None:
                await self._release(claims[index:], due_at=resume_at)
                return

    async def _process(self, claim: ClaimedDelivery) -> datetime | None:
        """Attempt one delivery and settle it; returns when to resume instead if its
        integration must wait for its provider's rate limit (the delivery is then unsettled)."""
        bound = log.bind(
            webhook_delivery_id=claim.id,
            integration_id=claim.integration_id,
            kind=claim.kind.value,
            attempt=claim.attempts,
        )
        if claim.unreadable is not None:
            await self._fail(claim, claim.unreadable, bound, permanent=True)
            return None
        if claim.attempts > self._backoff.max_attempts:
            # Claimed again after its lease ended more often than it may be attempted: its
            # handler keeps stopping the worker (or the worker keeps dying) before it settles.
            await self._fail(
                claim,
                f"abandoned after {claim.attempts - 1} attempts that never finished",
                bound,
                permanent=True,
            )
            return None
        handler = self._handlers(claim.template_name).get(claim.kind)
        started = time.perf_counter()
        try:
            event = claim.to_event()
            if claim.integration_accepts and isinstance(handler, PreparingHandler):
                # Provider calls happen here, before the transaction opens.
                with rate_limit_wait_at_most(self._rate_limit_wait):
                    event = await handler.prepare(self._uow, event)
            async with self._uow() as uow:
                now = self._clock.now()
                outcome: str
                if not claim.integration_accepts:
                    outcome = _REJECTED
                    await uow.inbox.mark_rejected(claim, error=_NOT_ACTIVE, now=now)
                else:
                    with rate_limit_wait_at_most(self._rate_limit_wait):
                        outcome = (
                            HandlerOutcome.IGNORED
                            if handler is None
                            else await handler.handle(uow, event)
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
            return None
        except RateLimitExceededError as err:
            metrics.PROCESSED.labels(claim.kind.value, "deferred").inc()
            wait = timedelta(seconds=err.retry_after_seconds)
            resume_at = self._clock.now() + min(max(wait, _MIN_DEFERRAL), _MAX_DEFERRAL)
            bound.info("inbox_delivery_deferred", resume_at=resume_at.isoformat())
            return resume_at
        except Exception as err:
            metrics.HANDLER_SECONDS.labels(claim.kind.value).observe(time.perf_counter() - started)
            if isinstance(err, InvalidCredentialsError) and self._credentials_refused is not None:
                await self._credentials_refused(claim.integration_id, err)
            await self._fail(
                claim,
                error_text(err),
                bound,
                error_type=type(err).__name__,
                permanent=can_never_succeed(err),
            )
            return None
        metrics.HANDLER_SECONDS.labels(claim.kind.value).observe(time.perf_counter() - started)
        metrics.PROCESSED.labels(claim.kind.value, outcome).inc()
        metrics.LATENCY_SECONDS.labels(claim.kind.value).observe(
            max(0.0, (self._clock.now() - claim.received_at).total_seconds())
        )
        bound.info(
            "inbox_delivery_processed",
            outcome=outcome,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return None

    async def _fail(
        self,
        claim: ClaimedDelivery,
        error: str,
        bound: structlog.typing.FilteringBoundLogger,
        *,
        error_type: str | None = None,
        permanent: bool = False,
    ) -> None:
        now = self._clock.now()
        dead = permanent or claim.attempts >= self._backoff.max_attempts
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
            bound.warning(
                "inbox_delivery_dead_lettered", error_type=error_type, can_never_succeed=permanent
            )
        else:
            bound.info("inbox_delivery_failed", error_type=error_type)

    async def _release(
        self, claims: list[ClaimedDelivery], *, due_at: datetime | None = None
    ) -> None:
        try:
            async with self._uow() as uow:
                await uow.inbox.release(claims, now=self._clock.now(), due_at=due_at)
                await uow.commit()
        except Exception as err:
            log.error("inbox_release_failed", error_type=type(err).__name__, count=len(claims))

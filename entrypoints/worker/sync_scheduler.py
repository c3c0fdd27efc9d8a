"""The sync scheduler: every integration synced on its interval (with jitter), and local changes
pushed to GoHighLevel as they come, in between."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from application.ports import Clock
from application.sync_records import DueSync, RunStatus, RunTrigger, SyncLeases
from application.use_cases.push_changes import PushPendingChanges
from application.use_cases.sync_integration import (
    SyncInProgressError,
    SyncIntegration,
    SyncIntegrationCommand,
)
from domain.errors import IntegrationNotActiveError, NotFoundError

log = structlog.get_logger(__name__)

DEFAULT_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    ran: int = 0
    skipped: int = 0
    failed: int = 0


class SyncScheduler:
    """Two loops. The schedule: every `poll_interval`, the integrations due (switched on and
    active or in error, planned before now, not leased) are each claimed by planning their next
    run `interval` ± `jitter` ahead — so that of several copies only one runs it — then synced
    (SyncIntegration) at most `max_concurrent` at a time; an inactive or disconnected
    integration, or one being synced, is skipped. One never planned gets its first run at a
    random time within `first_run_within` (default: one interval). The push: every
    `push_interval`, the integrations with local changes due are pushed (PushPendingChanges)
    under the same per-integration lease, so a scheduled run and a push never overlap."""

    def __init__(
        self,
        *,
        sync: SyncIntegration,
        push: PushPendingChanges,
        leases: SyncLeases,
        clock: Clock,
        crm_templates: frozenset[str],
        backfill: Callable[[str], Awaitable[int]] | None = None,
        backfill_templates: frozenset[str] = frozenset(),
        interval: timedelta = DEFAULT_INTERVAL,
        first_run_within: timedelta | None = None,
        jitter: float = 0.1,
        poll_interval: float = 5.0,
        push_interval: float = 2.0,
        max_concurrent: int = 2,
        batch_size: int = 50,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= timedelta(0) or not 0 <= jitter < 1 or max_concurrent < 1:
            raise ValueError("the scheduler needs interval > 0, 0 <= jitter < 1, concurrency >= 1")
        self._sync = sync
        self._push = push
        self._leases = leases
        self._crm_templates = crm_templates
        self._backfill = backfill
        self._backfill_templates = backfill_templates if backfill is not None else frozenset()
        self._clock = clock
        self._interval = interval
        self._first_run_within = interval if first_run_within is None else first_run_within
        self._jitter = jitter
        self._poll_interval = poll_interval
        self._push_interval = push_interval
        self._slots = asyncio.Semaphore(max_concurrent)
        self._batch_size = batch_size
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask `run` to return once the runs in hand are over."""
        self._stopping.set()

    async def run(self) -> None:
        log.info("sync_scheduler_started", interval_s=self._interval.total_seconds())
        async with asyncio.TaskGroup() as loops:
            loops.create_task(self._loop(self.run_due, self._poll_interval, "sync_schedule"))
            loops.create_task(self._loop(self.push_due, self._push_interval, "sync_push"))
        log.info("sync_scheduler_stopped")

    async def run_due(self) -> ScheduleResult:
        """Plan the integrations never seen before, then claim and run every integration due
        now; returns what happened."""
        now = self._clock.now()
        due = await self._leases.due_for_sync(
            now=now,
            limit=self._batch_size,
            templates=self._crm_templates | self._backfill_templates,
        )
        claimed = []
        for item in due:
            if item.planned_at is None and self._first_run_within > timedelta(0):
                # First seen: its first run falls anywhere in `first_run_within`, so that the
                # integrations of a fresh deployment do not all sync at once.
                first = now + self._first_run_within * self._rng.random()
                await self._leases.claim_run(item.integration_id, now=now, next_run_at=first)
            elif await self._leases.claim_run(
                item.integration_id, now=now, next_run_at=now + self._next_delay()
            ):
                claimed.append(item)
        outcomes = await asyncio.gather(*(self._run_one(item) for item in claimed))
        return ScheduleResult(
            ran=outcomes.count("ran"),
            skipped=outcomes.count("skipped"),
            failed=outcomes.count("failed"),
        )

    async def push_due(self) -> int:
        """Push the local changes due now; returns how many landed."""
        pushed = 0
        for integration_id in await self._push.due_integrations(limit=self._batch_size):
            if self._stopping.is_set():
                break
            try:
                result = await self._push.execute(integration_id)
            except Exception as err:  # GHL unreachable or refusing: the changes wait
                log.warning(
                    "sync_push_failed", integration_id=integration_id, error_type=type(err).__name__
                )
                continue
            pushed += result.pushed if result else 0
        return pushed

    def _next_delay(self) -> timedelta:
        return self._interval * (1 + self._rng.uniform(-self._jitter, self._jitter))

    async def _run_one(self, item: DueSync) -> str:
        integration_id = item.integration_id
        async with self._slots:
            bound = log.bind(integration_id=integration_id)
            if self._backfill is not None and item.template_name in self._backfill_templates:
                return await self._run_backfill(self._backfill, integration_id, bound)
            try:
                result = await self._sync.execute(
                    SyncIntegrationCommand(
                        integration_id=integration_id, trigger=RunTrigger.SCHEDULE
                    )
                )
            except (IntegrationNotActiveError, SyncInProgressError, NotFoundError) as err:
                bound.info("sync_skipped", reason=type(err).__name__)
                return "skipped"
            except Exception as err:  # the database is down, or a bug: the next plan retries
                bound.error("sync_error", error_type=type(err).__name__, exc_info=err)
                return "failed"
            run = result.run
            bound.info(
                "sync_finished",
                status=str(run.status),
                pulled=run.pulled,
                pushed=run.pushed,
                conflicts=run.conflicts,
                failures=run.failures,
                missed_by_webhooks=run.missed_by_webhooks,
                error_code=run.error_code,
                duration_ms=round(run.duration.total_seconds() * 1000) if run.duration else None,
            )
            return "ran" if run.status is RunStatus.SUCCEEDED else "failed"

    async def _run_backfill(
        self,
        backfill: Callable[[str], Awaitable[int]],
        integration_id: str,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> str:
        try:
            captured = await backfill(integration_id)
        except (IntegrationNotActiveError, NotFoundError) as err:
            bound.info("backfill_skipped", reason=type(err).__name__)
            return "skipped"
        except Exception as err:  # the provider or the database: the next plan retries
            bound.warning("backfill_failed", error_type=type(err).__name__)
            return "failed"
        bound.info("backfill_finished", captured=captured)
        return "ran"

    async def _loop(self, step: Callable[[], Awaitable[object]], every: float, name: str) -> None:
        while not self._stopping.is_set():
            try:
                await step()
            except Exception as err:  # the database is down: keep polling
                log.error(f"{name}_error", error_type=type(err).__name__, exc_info=err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), every)

"""Read-only queries for health checks and metrics: the webhook inbox and the sync runs, per
integration and as a whole. Each call is a few short reads on a pooled connection (no session,
no ORM)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.errors import translated
from adapters.persistence.models import INTEGRATIONS, SYNC_RUNS, WEBHOOK_DELIVERIES
from application.observability import (
    InboxStats,
    IntegrationSyncStats,
    StoredWebhookActivity,
    SyncActivity,
    SyncRunSummary,
)
from application.sync_records import RunStatus
from domain.webhook_delivery import DeliveryStatus

T = WEBHOOK_DELIVERIES
R = SYNC_RUNS
_FAILED = RunStatus.FAILED.value
_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
_COUNTED = (*_WAITING, DeliveryStatus.PROCESSING.value, DeliveryStatus.DEAD.value)
_REFUSED = (DeliveryStatus.REJECTED.value, DeliveryStatus.DEAD.value)


class SqlAlchemyWebhookActivity:
    """A WebhookActivityReader: three reads, on the (integration, id) and (status, due time)
    indexes of the inbox."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @translated
    async def webhook_activity(
        self, integration_id: str, *, since: datetime, now: datetime
    ) -> StoredWebhookActivity:
        mine = T.c.integration_id == integration_id
        # Ids are time-ordered: the newest row is the last by id, found without a sort.
        newest = select(T.c.received_at).where(mine).order_by(T.c.id.desc()).limit(1)
        refused = (
            select(T.c.status, func.count())
            .where(mine, T.c.status.in_(_REFUSED), T.c.received_at >= since)
            .group_by(T.c.status)
        )
        waiting = select(func.count(), func.min(T.c.next_attempt_at)).where(
            mine, T.c.status.in_(_WAITING)
        )
        async with self._engine.connect() as connection:
            last_stored_at = (await connection.execute(newest)).scalar()
            counts: dict[str, int] = {
                status: count for status, count in (await connection.execute(refused)).all()
            }
            backlog, earliest = (await connection.execute(waiting)).one()
        return StoredWebhookActivity(
            last_stored_at=last_stored_at,
            rejected=counts.get(DeliveryStatus.REJECTED.value, 0),
            dead_lettered=counts.get(DeliveryStatus.DEAD.value, 0),
            backlog=int(backlog),
            oldest_due_at=earliest if earliest is not None and earliest <= now else None,
        )


class SqlAlchemyInboxStats:
    """An InboxStatsReader: two index-range reads on (status, next attempt time)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @translated
    async def inbox_stats(self, *, now: datetime) -> InboxStats:
        by_status = (
            select(T.c.status, func.count()).where(T.c.status.in_(_COUNTED)).group_by(T.c.status)
        )
        due = select(func.count(), func.min(T.c.next_attempt_at)).where(
            T.c.status.in_(_WAITING), T.c.next_attempt_at <= now
        )
        async with self._engine.connect() as connection:
            counts: dict[str, int] = {
                status: count for status, count in (await connection.execute(by_status)).all()
            }
            due_count, oldest_due_at = (await connection.execute(due)).one()
        return InboxStats(
            pending=counts.get(DeliveryStatus.PENDING.value, 0),
            failed=counts.get(DeliveryStatus.FAILED.value, 0),
            processing=counts.get(DeliveryStatus.PROCESSING.value, 0),
            dead=counts.get(DeliveryStatus.DEAD.value, 0),
            due=int(due_count),
            oldest_due_at=oldest_due_at,
        )


class SqlAlchemyDatabaseProbe:
    """Whether the database answers: one ``SELECT 1`` on a pooled connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @translated
    async def ping(self) -> None:
        async with self._engine.connect() as connection:
            await connection.execute(select(1))


class SqlAlchemySyncHistory:
    """A SyncHistory: two reads on the (integration, start time) index of the sync runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @translated
    async def sync_activity(self, integration_id: str, *, since: datetime) -> SyncActivity:
        mine = R.c.integration_id == integration_id
        newest = (
            select(R.c.started_at, R.c.finished_at, R.c.status, R.c.error_code, R.c.error_message)
            .where(mine)
            .order_by(R.c.started_at.desc(), R.c.id.desc())
            .limit(1)
        )
        totals = select(
            func.coalesce(func.sum(R.c.pulled), 0),
            func.coalesce(func.sum(R.c.missed_by_webhooks), 0),
        ).where(mine, R.c.started_at >= since)
        async with self._engine.connect() as connection:
            run = (await connection.execute(newest)).first()
            pulled, missed = (await connection.execute(totals)).one()
        return SyncActivity(
            last_run=None
            if run is None
            else SyncRunSummary(
                started_at=run.started_at,
                finished_at=run.finished_at,
                error=(run.error_message or run.error_code or "failed")
                if run.status == _FAILED
                else None,
            ),
            pulled=int(pulled),
            missed_by_webhooks=int(missed),
        )


class SqlAlchemySyncStats:
    """A SyncStatsReader: one statement, each integration's figures read through the
    (integration, start time) index of the sync runs (no scan of the whole table)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @translated
    async def sync_stats(self, *, since: datetime) -> list[IntegrationSyncStats]:
        i, runs, latest = INTEGRATIONS, R.alias("runs"), R.alias("latest")

        def in_window(expression: ColumnElement[Any]) -> ScalarSelect[Any]:
            return (
                select(expression)
                .where(runs.c.integration_id == i.c.id, runs.c.started_at >= since)
                .scalar_subquery()
            )

        newest = (
            select(R.c.id)
            .where(R.c.integration_id == i.c.id)
            .order_by(R.c.started_at.desc(), R.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = select(
            i.c.id,
            in_window(func.count()),
            in_window(func.count().filter(runs.c.status == _FAILED)),
            in_window(func.coalesce(func.sum(runs.c.pulled), 0)),
            in_window(func.coalesce(func.sum(runs.c.missed_by_webhooks), 0)),
            latest.c.started_at,
            latest.c.finished_at,
            latest.c.status,
        ).select_from(i.join(latest, latest.c.id == newest))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            IntegrationSyncStats(
                integration_id=row[0],
                runs=int(row[1]),
                failed_runs=int(row[2]),
                pulled=int(row[3]),
                missed_by_webhooks=int(row[4]),
                last_started_at=row[5],
                last_finished_at=row[6],
                last_failed=row[7] == _FAILED,
            )
            for row in rows
        ]

"""Sync's tables: local changes to push, cursors, runs, conflicts, own writes, and leases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.errors import is_unique_violation, translated
from adapters.persistence.models import (
    INTEGRATIONS,
    SYNC_CHANGES,
    SYNC_CONFLICTS,
    SYNC_CURSORS,
    SYNC_LEASES,
    SYNC_OWN_WRITES,
    SYNC_RUNS,
)
from application.sync_records import (
    ChangeOperation,
    ChangeStatus,
    ConflictRecord,
    DueSync,
    LocalChange,
    OwnWrite,
    RecordKind,
    RunStatus,
    RunTrigger,
    SyncCursor,
    SyncResource,
    SyncRun,
    SyncRunTotals,
)
from domain.errors import AlreadyExistsError, ConcurrencyError
from domain.integration import IntegrationStatus

_OPERATIONAL = (str(IntegrationStatus.ACTIVE), str(IntegrationStatus.ERROR))
_CREATES = [str(op) for op in ChangeOperation if op.creates]


def _pending(integration_id: str, record_kind: RecordKind) -> ColumnElement[bool]:
    """The integration's changes to records of `record_kind` not pushed yet."""
    c = SYNC_CHANGES.c
    return (
        (c.integration_id == integration_id)
        & (c.record_kind == str(record_kind))
        & (c.status == str(ChangeStatus.PENDING))
    )


class SqlAlchemySyncRepository:
    """SyncRepository on one unit of work's session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- local changes -----------------------------------------------------------------------

    @translated
    async def add_change(self, change: LocalChange) -> None:
        try:
            await self._session.execute(insert(SYNC_CHANGES).values(_change_row(change)))
        except IntegrityError as err:
            if is_unique_violation(err):
                raise AlreadyExistsError(
                    "the request id was already used", metadata={"resource": "sync change"}
                ) from err
            raise

    @translated
    async def update_change(self, change: LocalChange) -> None:
        c = SYNC_CHANGES.c
        row = {k: v for k, v in _change_row(change).items() if k != "id"}
        row["version"] = c.version + 1
        result = await self._session.execute(
            update(SYNC_CHANGES)
            .where((c.id == change.id) & (c.version == change.version))
            .values(row)
        )
        if cast("CursorResult[Any]", result).rowcount != 1:
            raise ConcurrencyError(f"sync change {change.id!r} changed since it was read")
        change.version += 1

    @translated
    async def get_change(self, change_id: str) -> LocalChange | None:
        found = await self._changes(select(SYNC_CHANGES).where(SYNC_CHANGES.c.id == change_id))
        return found[0] if found else None

    @translated
    async def changes_of(
        self, record_kind: RecordKind, record_id: str, *, pending_only: bool = True
    ) -> list[LocalChange]:
        c = SYNC_CHANGES.c
        query = select(SYNC_CHANGES).where(
            (c.record_kind == str(record_kind)) & (c.record_id == record_id)
        )
        if pending_only:
            query = query.where(c.status == str(ChangeStatus.PENDING))
        return await self._changes(query.order_by(c.created_at, c.id))

    @translated
    async def find_change_by_request_id(
        self, integration_id: str, request_id: str
    ) -> LocalChange | None:
        c = SYNC_CHANGES.c
        found = await self._changes(
            select(SYNC_CHANGES).where(
                (c.integration_id == integration_id) & (c.request_id == request_id)
            )
        )
        return found[0] if found else None

    @translated
    async def find_pending_create(
        self, integration_id: str, record_kind: RecordKind, match_keys: Sequence[str]
    ) -> LocalChange | None:
        if not match_keys:
            return None
        c = SYNC_CHANGES.c
        found = await self._changes(
            select(SYNC_CHANGES)
            .where(
                _pending(integration_id, record_kind)
                & c.match_key.in_(list(match_keys))
                & c.operation.in_(_CREATES)
            )
            .order_by(c.created_at, c.id)
            .limit(1)
        )
        return found[0] if found else None

    @translated
    async def has_pending_creates(self, integration_id: str, record_kind: RecordKind) -> bool:
        c = SYNC_CHANGES.c
        query = (
            select(c.id)
            .where(_pending(integration_id, record_kind) & c.operation.in_(_CREATES))
            .limit(1)
        )
        return (await self._session.execute(query)).first() is not None

    @translated
    async def pending_record_ids(self, integration_id: str, record_kind: RecordKind) -> set[str]:
        c = SYNC_CHANGES.c
        query = select(c.record_id).where(_pending(integration_id, record_kind)).distinct()
        return set((await self._session.execute(query)).scalars())

    @translated
    async def due_changes(
        self, integration_id: str, *, now: datetime, limit: int
    ) -> list[LocalChange]:
        c = SYNC_CHANGES.c
        return await self._changes(
            select(SYNC_CHANGES)
            .where(
                (c.status == str(ChangeStatus.PENDING))
                & (c.next_attempt_at <= now)
                & (c.integration_id == integration_id)
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
        )

    @translated
    async def integrations_with_due_changes(self, *, now: datetime, limit: int) -> list[str]:
        c = SYNC_CHANGES.c
        query = (
            select(c.integration_id)
            .where((c.status == str(ChangeStatus.PENDING)) & (c.next_attempt_at <= now))
            .group_by(c.integration_id)
            .order_by(func.min(c.next_attempt_at))
            .limit(limit)
        )
        return list((await self._session.execute(query)).scalars())

    async def _changes(self, query: Any) -> list[LocalChange]:
        return [_change(row) for row in (await self._session.execute(query)).all()]

    # --- cursors -----------------------------------------------------------------------------

    @translated
    async def get_cursor(self, integration_id: str, resource: SyncResource) -> SyncCursor | None:
        c = SYNC_CURSORS.c
        row = (
            await self._session.execute(
                select(SYNC_CURSORS).where(
                    (c.integration_id == integration_id) & (c.resource == str(resource))
                )
            )
        ).first()
        if row is None:
            return None
        return SyncCursor(
            integration_id=row.integration_id,
            resource=SyncResource(row.resource),
            position=row.position,
            first_synced_at=row.first_synced_at,
            updated_at=row.updated_at,
        )

    @translated
    async def save_cursor(self, cursor: SyncCursor) -> None:
        c = SYNC_CURSORS.c
        values = {
            "position": cursor.position,
            "first_synced_at": cursor.first_synced_at,
            "updated_at": cursor.updated_at,
        }
        result = await self._session.execute(
            update(SYNC_CURSORS)
            .where(
                (c.integration_id == cursor.integration_id) & (c.resource == str(cursor.resource))
            )
            .values(values)
        )
        if cast("CursorResult[Any]", result).rowcount == 0:
            await self._session.execute(
                insert(SYNC_CURSORS).values(
                    integration_id=cursor.integration_id, resource=str(cursor.resource), **values
                )
            )

    # --- conflicts ---------------------------------------------------------------------------

    @translated
    async def add_conflict(self, conflict: ConflictRecord) -> None:
        await self._session.execute(
            insert(SYNC_CONFLICTS).values(
                id=conflict.id,
                integration_id=conflict.integration_id,
                sub_account_id=conflict.sub_account_id,
                record_kind=str(conflict.record_kind),
                record_id=conflict.record_id,
                external_id=conflict.external_id,
                fields=list(conflict.fields),
                winners=conflict.winners,
                local=conflict.local,
                remote=conflict.remote,
                local_changed_at=conflict.local_changed_at,
                remote_changed_at=conflict.remote_changed_at,
                detected_at=conflict.detected_at,
            )
        )

    @translated
    async def list_conflicts(self, integration_id: str, *, limit: int) -> list[ConflictRecord]:
        c = SYNC_CONFLICTS.c
        rows = (
            await self._session.execute(
                select(SYNC_CONFLICTS)
                .where(c.integration_id == integration_id)
                .order_by(c.detected_at.desc(), c.id.desc())
                .limit(limit)
            )
        ).all()
        return [
            ConflictRecord(
                id=r.id,
                integration_id=r.integration_id,
                sub_account_id=r.sub_account_id,
                record_kind=RecordKind(r.record_kind),
                record_id=r.record_id,
                external_id=r.external_id,
                fields=tuple(r.fields),
                winners=dict(r.winners),
                local=dict(r.local),
                remote=dict(r.remote),
                local_changed_at=r.local_changed_at,
                remote_changed_at=r.remote_changed_at,
                detected_at=r.detected_at,
            )
            for r in rows
        ]

    # --- own writes --------------------------------------------------------------------------

    @translated
    async def remember_own_write(self, write: OwnWrite) -> None:
        c = SYNC_OWN_WRITES.c
        await self._session.execute(
            delete(SYNC_OWN_WRITES).where(
                (c.integration_id == write.integration_id)
                & (c.record_kind == str(write.record_kind))
                & (c.external_id == write.external_id)
                & (c.fingerprint == write.fingerprint)
            )
        )
        await self._session.execute(
            insert(SYNC_OWN_WRITES).values(
                integration_id=write.integration_id,
                record_kind=str(write.record_kind),
                external_id=write.external_id,
                fingerprint=write.fingerprint,
                written_at=write.written_at,
                expires_at=write.expires_at,
            )
        )

    @translated
    async def take_own_write(
        self,
        integration_id: str,
        record_kind: RecordKind,
        external_id: str,
        fingerprint: str,
        *,
        now: datetime,
        keep: bool = False,
    ) -> bool:
        c = SYNC_OWN_WRITES.c
        kept = (
            (c.integration_id == integration_id)
            & (c.record_kind == str(record_kind))
            & (c.external_id == external_id)
            & (c.fingerprint == fingerprint)
            & (c.expires_at > now)
        )
        if keep:
            found = await self._session.execute(select(c.fingerprint).where(kept).limit(1))
            return found.first() is not None
        result = await self._session.execute(delete(SYNC_OWN_WRITES).where(kept))
        return cast("CursorResult[Any]", result).rowcount > 0

    @translated
    async def purge_own_writes(self, *, expired_before: datetime) -> int:
        result = await self._session.execute(
            delete(SYNC_OWN_WRITES).where(SYNC_OWN_WRITES.c.expires_at <= expired_before)
        )
        return cast("CursorResult[Any]", result).rowcount

    # --- runs --------------------------------------------------------------------------------

    @translated
    async def add_run(self, run: SyncRun) -> None:
        await self._session.execute(insert(SYNC_RUNS).values(_run_row(run)))

    @translated
    async def update_run(self, run: SyncRun) -> None:
        row = _run_row(run)
        await self._session.execute(update(SYNC_RUNS).where(SYNC_RUNS.c.id == run.id).values(row))

    @translated
    async def recent_runs(self, integration_id: str, *, limit: int) -> list[SyncRun]:
        c = SYNC_RUNS.c
        rows = (
            await self._session.execute(
                select(SYNC_RUNS)
                .where(c.integration_id == integration_id)
                .order_by(c.started_at.desc(), c.id.desc())
                .limit(limit)
            )
        ).all()
        return [_run(r) for r in rows]

    @translated
    async def run_totals(self, integration_id: str, *, since: datetime) -> SyncRunTotals:
        c = SYNC_RUNS.c
        totals = (
            await self._session.execute(
                select(
                    func.count(),
                    func.count().filter(c.status == str(RunStatus.FAILED)),
                    func.coalesce(func.sum(c.pulled), 0),
                    func.coalesce(func.sum(c.pushed), 0),
                    func.coalesce(func.sum(c.conflicts), 0),
                    func.coalesce(func.sum(c.failures), 0),
                    func.coalesce(func.sum(c.missed_by_webhooks), 0),
                ).where((c.integration_id == integration_id) & (c.started_at >= since))
            )
        ).one()
        runs, failed, pulled, pushed, conflicts, failures, missed = (int(v) for v in totals)
        latest = await self.recent_runs(integration_id, limit=1)
        return SyncRunTotals(
            runs=runs,
            failed_runs=failed,
            pulled=pulled,
            pushed=pushed,
            conflicts=conflicts,
            failures=failures,
            missed_by_webhooks=missed,
            last_run=latest[0] if latest else None,
        )


class SqlAlchemySyncLeases:
    """SyncLeases on the sync_leases table; each call is its own short transaction. Written
    without dialect-specific upserts: an update, else an insert that loses to a concurrent one."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @translated
    async def acquire(
        self, integration_id: str, *, holder: str, now: datetime, ttl: timedelta
    ) -> bool:
        c = SYNC_LEASES.c
        free = or_(c.holder.is_(None), c.expires_at <= now, c.holder == holder)
        values = {"holder": holder, "expires_at": now + ttl, "updated_at": now}
        return await self._update_or_insert(
            integration_id, (c.integration_id == integration_id) & free, values
        )

    @translated
    async def renew(
        self, integration_id: str, *, holder: str, now: datetime, ttl: timedelta
    ) -> bool:
        c = SYNC_LEASES.c
        async with self._session_factory() as session, session.begin():
            result = await session.execute(
                update(SYNC_LEASES)
                .where((c.integration_id == integration_id) & (c.holder == holder))
                .values(expires_at=now + ttl, updated_at=now)
            )
        return cast("CursorResult[Any]", result).rowcount == 1

    @translated
    async def release(self, integration_id: str, *, holder: str) -> None:
        c = SYNC_LEASES.c
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(SYNC_LEASES)
                .where((c.integration_id == integration_id) & (c.holder == holder))
                .values(holder=None, expires_at=None)
            )

    @translated
    async def due_for_sync(
        self, *, now: datetime, limit: int, templates: Collection[str]
    ) -> list[DueSync]:
        i, lease = INTEGRATIONS.c, SYNC_LEASES.c
        query = (
            select(i.id, lease.next_run_at, i.template_name)
            .select_from(INTEGRATIONS.outerjoin(SYNC_LEASES, lease.integration_id == i.id))
            .where(
                i.is_active.is_(True)
                & i.status.in_(_OPERATIONAL)
                & i.template_name.in_(sorted(templates))
                & (lease.next_run_at.is_(None) | (lease.next_run_at <= now))
                & (lease.holder.is_(None) | (lease.expires_at <= now))
            )
            .order_by(lease.next_run_at.is_not(None), lease.next_run_at, i.id)
            .limit(limit)
        )
        async with self._session_factory() as session:
            rows = (await session.execute(query)).all()
        return [DueSync(row.id, row.next_run_at, row.template_name) for row in rows]

    @translated
    async def claim_run(self, integration_id: str, *, now: datetime, next_run_at: datetime) -> bool:
        c = SYNC_LEASES.c
        due = (c.integration_id == integration_id) & (
            c.next_run_at.is_(None) | (c.next_run_at <= now)
        )
        return await self._update_or_insert(
            integration_id, due, {"next_run_at": next_run_at, "updated_at": now}
        )

    async def _update_or_insert(
        self, integration_id: str, condition: Any, values: dict[str, Any]
    ) -> bool:
        async with self._session_factory() as session:
            async with session.begin():
                result = await session.execute(update(SYNC_LEASES).where(condition).values(values))
                if cast("CursorResult[Any]", result).rowcount == 1:
                    return True
                exists = (
                    await session.execute(
                        select(SYNC_LEASES.c.integration_id).where(
                            SYNC_LEASES.c.integration_id == integration_id
                        )
                    )
                ).first()
                if exists is not None:
                    return False
            try:
                async with session.begin():
                    await session.execute(
                        insert(SYNC_LEASES).values(integration_id=integration_id, **values)
                    )
            except IntegrityError as err:
                if is_unique_violation(err):
                    return False  # another copy inserted it first
                raise
        return True


def _change_row(change: LocalChange) -> dict[str, Any]:
    return {
        "id": change.id,
        "integration_id": change.integration_id,
        "sub_account_id": change.sub_account_id,
        "record_kind": str(change.record_kind),
        "record_id": change.record_id,
        "operation": str(change.operation),
        "fields": change.fields,
        "base": change.base,
        "changed_at": change.changed_at,
        "status": str(change.status),
        "attempts": change.attempts,
        "next_attempt_at": change.next_attempt_at,
        "uncertain": change.uncertain,
        "match_key": change.match_key,
        "external_id": change.external_id,
        "request_id": change.request_id,
        "last_error": change.last_error,
        "created_at": change.created_at,
        "updated_at": change.updated_at,
        "version": change.version,
    }


def _change(row: Row[Any]) -> LocalChange:
    return LocalChange(
        id=row.id,
        integration_id=row.integration_id,
        sub_account_id=row.sub_account_id,
        record_kind=RecordKind(row.record_kind),
        record_id=row.record_id,
        operation=ChangeOperation(row.operation),
        fields=dict(row.fields),
        base=dict(row.base),
        changed_at=row.changed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        next_attempt_at=row.next_attempt_at,
        status=ChangeStatus(row.status),
        attempts=row.attempts,
        uncertain=row.uncertain,
        match_key=row.match_key,
        external_id=row.external_id,
        request_id=row.request_id,
        last_error=row.last_error,
        version=row.version,
    )


def _run_row(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "integration_id": run.integration_id,
        "sub_account_id": run.sub_account_id,
        "trigger": str(run.trigger),
        "status": str(run.status),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "attempts": run.attempts,
        "pulled": run.pulled,
        "pushed": run.pushed,
        "conflicts": run.conflicts,
        "failures": run.failures,
        "missed_by_webhooks": run.missed_by_webhooks,
        "error_code": run.error_code,
        "error_message": run.error_message,
    }


def _run(row: Row[Any]) -> SyncRun:
    return SyncRun(
        id=row.id,
        integration_id=row.integration_id,
        sub_account_id=row.sub_account_id,
        trigger=RunTrigger(row.trigger),
        started_at=row.started_at,
        status=RunStatus(row.status),
        finished_at=row.finished_at,
        attempts=row.attempts,
        pulled=row.pulled,
        pushed=row.pushed,
        conflicts=row.conflicts,
        failures=row.failures,
        missed_by_webhooks=row.missed_by_webhooks,
        error_code=row.error_code,
        error_message=row.error_message,
    )

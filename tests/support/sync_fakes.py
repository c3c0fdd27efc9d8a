"""In-memory fakes of sync's ports: the SyncRepository of a FakeUnitOfWork, and SyncLeases."""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from application.sync_records import (
    ChangeStatus,
    ConflictRecord,
    DueSync,
    LocalChange,
    OwnWrite,
    RecordKind,
    RunStatus,
    SyncCursor,
    SyncResource,
    SyncRun,
    SyncRunTotals,
)
from domain.errors import AlreadyExistsError, ConcurrencyError
from domain.integration import Integration

OwnWriteKey = tuple[str, RecordKind, str, str]


@dataclass
class SyncStore:
    """Sync's committed rows."""

    changes: dict[str, LocalChange] = field(default_factory=dict)
    cursors: dict[tuple[str, SyncResource], SyncCursor] = field(default_factory=dict)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    own_writes: dict[OwnWriteKey, OwnWrite] = field(default_factory=dict)
    runs: dict[str, SyncRun] = field(default_factory=dict)


class InMemorySyncRepository:
    """Changes are kept apart until `flush` (the unit of work's commit), like a transaction."""

    def __init__(self, store: SyncStore) -> None:
        self._store = store
        self._changes: dict[str, LocalChange] = {}
        self._cursors: dict[tuple[str, SyncResource], SyncCursor] = {}
        self._conflicts: list[ConflictRecord] = []
        self._own_writes: dict[OwnWriteKey, OwnWrite | None] = {}
        self._runs: dict[str, SyncRun] = {}

    def flush(self) -> None:
        self._store.changes.update(self._changes)
        self._store.cursors.update(self._cursors)
        self._store.conflicts.extend(self._conflicts)
        for key, write in self._own_writes.items():
            if write is None:
                self._store.own_writes.pop(key, None)
            else:
                self._store.own_writes[key] = write
        self._store.runs.update(self._runs)
        self._changes, self._cursors, self._conflicts = {}, {}, []
        self._own_writes, self._runs = {}, {}

    def _all_changes(self) -> list[LocalChange]:
        merged = {**self._store.changes, **self._changes}
        return sorted(merged.values(), key=lambda c: (c.created_at, c.id))

    def _select(self, keep: Callable[[LocalChange], bool]) -> list[LocalChange]:
        return [copy.deepcopy(c) for c in self._all_changes() if keep(c)]

    async def add_change(self, change: LocalChange) -> None:
        if change.request_id is not None and any(
            (c.integration_id, c.request_id) == (change.integration_id, change.request_id)
            for c in self._all_changes()
        ):
            raise AlreadyExistsError("the request id was already used")
        self._changes[change.id] = copy.deepcopy(change)

    async def update_change(self, change: LocalChange) -> None:
        stored = self._changes.get(change.id) or self._store.changes.get(change.id)
        if stored is None or stored.version != change.version:
            raise ConcurrencyError(f"sync change {change.id!r} changed since it was read")
        change.version += 1
        self._changes[change.id] = copy.deepcopy(change)

    async def get_change(self, change_id: str) -> LocalChange | None:
        found = self._select(lambda c: c.id == change_id)
        return found[0] if found else None

    async def changes_of(
        self, record_kind: RecordKind, record_id: str, *, pending_only: bool = True
    ) -> list[LocalChange]:
        return self._select(
            lambda c: (
                c.record_kind is record_kind
                and c.record_id == record_id
                and (c.pending or not pending_only)
            )
        )

    async def find_change_by_request_id(
        self, integration_id: str, request_id: str
    ) -> LocalChange | None:
        found = self._select(
            lambda c: (c.integration_id, c.request_id) == (integration_id, request_id)
        )
        return found[0] if found else None

    async def find_pending_create(
        self, integration_id: str, record_kind: RecordKind, match_keys: Sequence[str]
    ) -> LocalChange | None:
        found = self._select(
            lambda c: (
                c.integration_id == integration_id
                and c.record_kind is record_kind
                and c.pending
                and c.operation.creates
                and c.match_key in match_keys
            )
        )
        return found[0] if found else None

    async def has_pending_creates(self, integration_id: str, record_kind: RecordKind) -> bool:
        return bool(
            self._select(
                lambda c: (
                    c.integration_id == integration_id
                    and c.record_kind is record_kind
                    and c.pending
                    and c.operation.creates
                )
            )
        )

    async def pending_record_ids(self, integration_id: str, record_kind: RecordKind) -> set[str]:
        return {
            c.record_id
            for c in self._select(
                lambda c: (
                    c.integration_id == integration_id
                    and c.record_kind is record_kind
                    and c.pending
                )
            )
        }

    async def due_changes(
        self, integration_id: str, *, now: datetime, limit: int
    ) -> list[LocalChange]:
        return self._select(
            lambda c: (
                c.integration_id == integration_id
                and c.pending
                and c.next_attempt_at is not None
                and c.next_attempt_at <= now
            )
        )[:limit]

    async def integrations_with_due_changes(self, *, now: datetime, limit: int) -> list[str]:
        due = [
            c
            for c in self._all_changes()
            if c.pending and c.next_attempt_at is not None and c.next_attempt_at <= now
        ]
        return list(dict.fromkeys(c.integration_id for c in due))[:limit]

    async def get_cursor(self, integration_id: str, resource: SyncResource) -> SyncCursor | None:
        key = (integration_id, resource)
        return self._cursors.get(key) or self._store.cursors.get(key)

    async def save_cursor(self, cursor: SyncCursor) -> None:
        self._cursors[(cursor.integration_id, cursor.resource)] = cursor

    async def add_conflict(self, conflict: ConflictRecord) -> None:
        self._conflicts.append(conflict)

    async def list_conflicts(self, integration_id: str, *, limit: int) -> list[ConflictRecord]:
        mine = [
            c
            for c in [*self._store.conflicts, *self._conflicts]
            if c.integration_id == integration_id
        ]
        return sorted(mine, key=lambda c: (c.detected_at, c.id), reverse=True)[:limit]

    async def remember_own_write(self, write: OwnWrite) -> None:
        key = (write.integration_id, write.record_kind, write.external_id, write.fingerprint)
        self._own_writes[key] = write

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
        key = (integration_id, record_kind, external_id, fingerprint)
        write = (
            self._own_writes[key] if key in self._own_writes else self._store.own_writes.get(key)
        )
        if write is None or write.expires_at <= now:
            return False
        if not keep:
            self._own_writes[key] = None
        return True

    async def purge_own_writes(self, *, expired_before: datetime) -> int:
        expired = [k for k, w in self._store.own_writes.items() if w.expires_at <= expired_before]
        for key in expired:
            self._own_writes[key] = None
        return len(expired)

    async def add_run(self, run: SyncRun) -> None:
        self._runs[run.id] = replace(run)

    async def update_run(self, run: SyncRun) -> None:
        self._runs[run.id] = replace(run)

    async def recent_runs(self, integration_id: str, *, limit: int) -> list[SyncRun]:
        runs = {**self._store.runs, **self._runs}.values()
        mine = [r for r in runs if r.integration_id == integration_id]
        return [replace(r) for r in sorted(mine, key=lambda r: (r.started_at, r.id), reverse=True)][
            :limit
        ]

    async def run_totals(self, integration_id: str, *, since: datetime) -> SyncRunTotals:
        runs = [
            r for r in await self.recent_runs(integration_id, limit=10_000) if r.started_at >= since
        ]
        return SyncRunTotals(
            runs=len(runs),
            failed_runs=sum(r.status is RunStatus.FAILED for r in runs),
            pulled=sum(r.pulled for r in runs),
            pushed=sum(r.pushed for r in runs),
            conflicts=sum(r.conflicts for r in runs),
            failures=sum(r.failures for r in runs),
            missed_by_webhooks=sum(r.missed_by_webhooks for r in runs),
            last_run=runs[0] if runs else None,
        )

    def pending(self) -> list[LocalChange]:
        return [c for c in self._all_changes() if c.status is ChangeStatus.PENDING]


@dataclass
class _Lease:
    holder: str | None = None
    expires_at: datetime | None = None
    next_run_at: datetime | None = None


class InMemorySyncLeases:
    """SyncLeases over a fake store's integrations (every call commits at once)."""

    def __init__(self, integrations: dict[str, Integration]) -> None:
        self._integrations = integrations
        self.leases: dict[str, _Lease] = {}

    async def acquire(
        self, integration_id: str, *, holder: str, now: datetime, ttl: timedelta
    ) -> bool:
        lease = self.leases.setdefault(integration_id, _Lease())
        if (
            lease.holder not in (None, holder)
            and lease.expires_at is not None
            and lease.expires_at > now
        ):
            return False
        lease.holder, lease.expires_at = holder, now + ttl
        return True

    async def renew(
        self, integration_id: str, *, holder: str, now: datetime, ttl: timedelta
    ) -> bool:
        lease = self.leases.get(integration_id)
        if lease is None or lease.holder != holder:
            return False
        lease.expires_at = now + ttl
        return True

    async def release(self, integration_id: str, *, holder: str) -> None:
        lease = self.leases.get(integration_id)
        if lease is not None and lease.holder == holder:
            lease.holder, lease.expires_at = None, None

    async def due_for_sync(
        self, *, now: datetime, limit: int, templates: Collection[str]
    ) -> list[DueSync]:
        due = []
        for integration in sorted(self._integrations.values(), key=lambda i: i.id):
            lease = self.leases.get(integration.id, _Lease())
            free = lease.holder is None or (
                lease.expires_at is not None and lease.expires_at <= now
            )
            planned = lease.next_run_at is None or lease.next_run_at <= now
            crm = integration.template_name in templates
            if integration.is_operational and crm and free and planned:
                due.append(DueSync(integration.id, lease.next_run_at, integration.template_name))
        due.sort(key=lambda d: d.planned_at is not None)
        return due[:limit]

    async def claim_run(self, integration_id: str, *, now: datetime, next_run_at: datetime) -> bool:
        lease = self.leases.setdefault(integration_id, _Lease())
        if lease.next_run_at is not None and lease.next_run_at > now:
            return False
        lease.next_run_at = next_run_at
        return True

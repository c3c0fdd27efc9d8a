"""Reconciling a record's unpushed local changes with the provider's version of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from application.ports import IdGenerator, UnitOfWork
from application.sync_records import ConflictRecord, LocalChange, RecordKind, coalesce, rebase
from domain.sync_merge import Merge, merge


async def reconcile(
    uow: UnitOfWork,
    ids: IdGenerator,
    *,
    record_kind: RecordKind,
    record_id: str,
    external_id: str,
    integration_id: str,
    sub_account_id: str,
    local: dict[str, Any],
    remote: dict[str, Any],
    remote_changed_at: datetime | None,
    changes: Sequence[LocalChange],
    now: datetime,
) -> Merge:
    """Merge the provider's values (`remote`) with the record's pending `changes` (its values
    here are `local`), field by field (domain.sync_merge.merge). Records the conflicts with both
    versions, and rewrites the changes to what is left to push."""
    pending = coalesce(changes)
    result = merge(
        remote=remote,
        pending=pending.values,
        base=pending.base,
        local_changed_at=pending.changed_at,
        remote_changed_at=remote_changed_at,
    )
    if result.conflicts:
        await uow.sync.add_conflict(
            ConflictRecord.of(
                result.conflicts,
                id=ids.new_id(),
                integration_id=integration_id,
                sub_account_id=sub_account_id,
                record_kind=record_kind,
                record_id=record_id,
                external_id=external_id,
                local=local,
                remote=remote,
                local_changed_at=max(pending.changed_at.values()),
                remote_changed_at=remote_changed_at,
                now=now,
            )
        )
    for change in rebase(changes, result, now=now):
        await uow.sync.update_change(change)
    return result

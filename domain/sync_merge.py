"""Two-way sync: a record's changes made here and not yet pushed, merged with the provider's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Side(StrEnum):
    LOCAL = "local"
    """This service (a platform service changed the record)."""
    REMOTE = "remote"
    """The provider."""


@dataclass(frozen=True, slots=True)
class FieldConflict:
    """One field both sides changed to different values, and which side won."""

    field: str
    local: Any
    remote: Any
    winner: Side


@dataclass(frozen=True, slots=True)
class Merge:
    values: dict[str, Any]
    """The record's fields after the merge: the provider's, with the local winners laid over."""
    pending: dict[str, Any]
    """The local values still to push to the provider."""
    base: dict[str, Any]
    """For each field still pending, the provider's value it replaces (its value now)."""
    conflicts: tuple[FieldConflict, ...]


def merge(
    *,
    remote: Mapping[str, Any],
    pending: Mapping[str, Any],
    base: Mapping[str, Any],
    local_changed_at: Mapping[str, datetime],
    remote_changed_at: datetime | None,
) -> Merge:
    """Merge the provider's version of a record (`remote`, changed at `remote_changed_at`) with
    the local changes not yet pushed (`pending`: field → value, each made at
    `local_changed_at[field]` over the provider's value `base[field]`).

    Field by field: a field only one side changed takes that side's value; a field both
    changed to the same value is settled; a field both changed to different values is a
    conflict, won by the newer change (the provider's when strictly newer, else the local
    one: a provider that does not say when it changed the record is older)."""
    values = dict(remote)
    still: dict[str, Any] = {}
    rebased: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for field, local in pending.items():
        theirs = remote.get(field)
        if theirs == local:
            continue
        if field in base and theirs == base[field]:
            winner = Side.LOCAL  # only this side changed it
        else:
            newer = remote_changed_at is not None and remote_changed_at > local_changed_at[field]
            winner = Side.REMOTE if newer else Side.LOCAL
            conflicts.append(FieldConflict(field, local, theirs, winner))
        if winner is Side.LOCAL:
            values[field] = local
            still[field] = local
            rebased[field] = theirs
    return Merge(values=values, pending=still, base=rebased, conflicts=tuple(conflicts))

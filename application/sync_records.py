"""Two-way sync's vocabulary and ports: local changes waiting to be pushed, cursors, runs,
conflicts, the service's own provider writes (to recognise their webhook echoes) and leases."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from domain.booking import Booking
from domain.lead import ContactDetails, LeadStatus
from domain.sync_merge import FieldConflict, Merge

# --- what is synced ----------------------------------------------------------------------------


class RecordKind(StrEnum):
    LEAD = "lead"
    BOOKING = "booking"
    OPPORTUNITY = "opportunity"
    """The provider's opportunity a lead's status follows (only its own writes are kept by it:
    its changes and conflicts are the lead's)."""


class SyncResource(StrEnum):
    """What a pull reads from the provider, each with a cursor of its own."""

    CONTACTS = "contacts"
    APPOINTMENTS = "appointments"
    OPPORTUNITIES = "opportunities"
    SUBMITTED_LEADS = "submitted_leads"
    """Leads submitted on a form (a backfill of the deliveries that announce them)."""


LEAD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ContactDetails))
"""The lead fields a platform service may change, and that are pushed to the provider."""


def lead_values(details: ContactDetails) -> dict[str, Any]:
    """A lead's synced fields, JSON-ready."""
    values = asdict(details)
    values["tags"] = list(details.tags)
    return values


def lead_details(values: Mapping[str, Any]) -> ContactDetails:
    known = {k: v for k, v in values.items() if k in LEAD_FIELDS}
    known["tags"] = tuple(known.get("tags") or ())
    return ContactDetails(**known)


def booking_values(booking: Booking) -> dict[str, Any]:
    """A booking's synced fields, JSON-ready (times as UTC ISO strings)."""
    d = booking.details
    return {
        "calendar_id": d.calendar_id,
        "contact_external_id": d.contact_external_id,
        "start": utc_text(d.start),
        "end": utc_text(d.end),
        "title": d.title,
        "status": str(booking.status),
    }


def status_values(status: LeadStatus) -> dict[str, Any]:
    """A lead's status as synced with its opportunity, JSON-ready."""
    return {"status": str(status)}


def fingerprint(values: Mapping[str, Any]) -> str:
    """A digest of a record's synced values: equal values, equal digests."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def contact_match_keys(email: str | None, phone: str | None) -> tuple[str, ...]:
    """How a contact made here is recognised when the provider reports it back before the
    service learnt its id: by email, else by phone (as the CRM's upsert matches)."""
    keys = []
    if email:
        keys.append("email:" + email.strip().lower())
    if phone:
        keys.append("phone:" + "".join(c for c in phone if c.isdigit() or c == "+"))
    return tuple(keys)


def appointment_match_key(calendar_id: str, contact_id: str, start: datetime) -> str:
    return f"appointment:{calendar_id}|{contact_id}|{utc_text(start)}"


def block_match_key(calendar_id: str, start: datetime, end: datetime) -> str:
    return f"block:{calendar_id}|{utc_text(start)}|{utc_text(end)}"


def utc_text(moment: datetime) -> str:
    """A moment as the sync compares and stores it: UTC, ISO 8601, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- local changes waiting for the provider --------------------------------------------------


class ChangeOperation(StrEnum):
    CREATE_CONTACT = "create_contact"
    """An upsert of the lead's contact (idempotent: the CRM matches it by email or phone)."""
    UPDATE_CONTACT = "update_contact"
    UPDATE_OPPORTUNITY_STATUS = "update_opportunity_status"
    """The lead's status, to its opportunity (created in the configured pipeline if it has none)."""
    CREATE_APPOINTMENT = "create_appointment"
    CANCEL_APPOINTMENT = "cancel_appointment"
    CREATE_BLOCK_SLOT = "create_block_slot"
    DELETE_BLOCK_SLOT = "delete_block_slot"

    @property
    def creates(self) -> bool:
        return self in _CREATES


_CREATES = frozenset(
    {
        ChangeOperation.CREATE_CONTACT,
        ChangeOperation.CREATE_APPOINTMENT,
        ChangeOperation.CREATE_BLOCK_SLOT,
    }
)


class ChangeStatus(StrEnum):
    PENDING = "pending"
    """Not on the provider yet: due at `next_attempt_at`."""
    DONE = "done"
    FAILED = "failed"
    """The provider refused it for good (`last_error` says why)."""
    SUPERSEDED = "superseded"
    """Nothing left to push: the provider already had it, or its newer change won."""


@dataclass(slots=True, kw_only=True)
class LocalChange:
    """A change a platform service made to a lead or booking, written locally first and pushed
    to the provider until it lands. `fields` holds the changed values, `base` the provider's
    values they replace (what a conflict is detected against)."""

    id: str
    integration_id: str
    sub_account_id: str
    record_kind: RecordKind
    record_id: str
    operation: ChangeOperation
    fields: dict[str, Any]
    base: dict[str, Any]
    changed_at: datetime
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    status: ChangeStatus = ChangeStatus.PENDING
    attempts: int = 0
    uncertain: bool = False
    """A create may have reached the provider without its answer reaching us: before trying
    again, look for what it made."""
    match_key: str | None = None
    """How the provider's report of what a create made is recognised (contact_match_keys,
    appointment_match_key, block_match_key)."""
    external_id: str | None = None
    """The provider's id of what a create made."""
    request_id: str | None = None
    last_error: str | None = None
    version: int = 1

    @classmethod
    def new(
        cls,
        *,
        id: str,
        integration_id: str,
        sub_account_id: str,
        record_kind: RecordKind,
        record_id: str,
        operation: ChangeOperation,
        fields: dict[str, Any],
        base: dict[str, Any],
        now: datetime,
        match_key: str | None = None,
        request_id: str | None = None,
    ) -> LocalChange:
        return cls(
            id=id,
            integration_id=integration_id,
            sub_account_id=sub_account_id,
            record_kind=record_kind,
            record_id=record_id,
            operation=operation,
            fields=fields,
            base=base,
            changed_at=now,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
            match_key=match_key,
            request_id=request_id,
        )

    @property
    def pending(self) -> bool:
        return self.status is ChangeStatus.PENDING

    def arm(self, *, match_key: str | None, now: datetime) -> None:
        """About to ask the provider to create it: until the answer is recorded, its outcome is
        unknown."""
        self.uncertain = True
        if match_key is not None:
            self.match_key = match_key
        self.attempts += 1
        self.updated_at = now

    def done(
        self, *, now: datetime, external_id: str | None = None, note: str | None = None
    ) -> None:
        self.status = ChangeStatus.DONE
        self.uncertain = False
        self.external_id = external_id or self.external_id
        self.next_attempt_at = None
        self.last_error = note
        self.updated_at = now

    def retry_at(self, moment: datetime, *, error: str, now: datetime, sure_unsent: bool) -> None:
        """It did not land (yet): try again at `moment`. A create that surely did not reach the
        provider is no longer uncertain."""
        if sure_unsent:
            self.uncertain = False
        self.next_attempt_at = moment
        self.last_error = error
        self.updated_at = now

    def fail(self, *, error: str, now: datetime) -> None:
        self.status = ChangeStatus.FAILED
        self.uncertain = False
        self.next_attempt_at = None
        self.last_error = error
        self.updated_at = now

    def supersede(self, *, now: datetime) -> None:
        self.status = ChangeStatus.SUPERSEDED
        self.next_attempt_at = None
        self.updated_at = now


@dataclass(frozen=True, slots=True)
class Coalesced:
    """A record's pending field changes as one: the newest value of each field, the provider
    value the oldest change of it replaced, and when the newest was made."""

    values: dict[str, Any]
    base: dict[str, Any]
    changed_at: dict[str, datetime]


def coalesce(changes: Sequence[LocalChange]) -> Coalesced:
    values: dict[str, Any] = {}
    base: dict[str, Any] = {}
    changed_at: dict[str, datetime] = {}
    for change in sorted(changes, key=lambda c: (c.created_at, c.id)):
        for name, value in change.fields.items():
            values[name] = value
            changed_at[name] = change.changed_at
            if name not in base and name in change.base:
                base[name] = change.base[name]
    return Coalesced(values, base, changed_at)


# --- records of what sync did ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictRecord:
    """Both sides changed a record's fields differently; kept with both versions."""

    id: str
    integration_id: str
    sub_account_id: str
    record_kind: RecordKind
    record_id: str
    external_id: str
    fields: tuple[str, ...]
    winners: dict[str, str]
    """field → ``local`` or ``remote``."""
    local: dict[str, Any]
    """The record's values here before the merge (its unpushed changes included)."""
    remote: dict[str, Any]
    """The provider's values."""
    local_changed_at: datetime
    remote_changed_at: datetime | None
    detected_at: datetime

    @classmethod
    def of(
        cls,
        conflicts: Sequence[FieldConflict],
        *,
        id: str,
        integration_id: str,
        sub_account_id: str,
        record_kind: RecordKind,
        record_id: str,
        external_id: str,
        local: dict[str, Any],
        remote: dict[str, Any],
        local_changed_at: datetime,
        remote_changed_at: datetime | None,
        now: datetime,
    ) -> ConflictRecord:
        return cls(
            id=id,
            integration_id=integration_id,
            sub_account_id=sub_account_id,
            record_kind=record_kind,
            record_id=record_id,
            external_id=external_id,
            fields=tuple(c.field for c in conflicts),
            winners={c.field: str(c.winner) for c in conflicts},
            local=local,
            remote=remote,
            local_changed_at=local_changed_at,
            remote_changed_at=remote_changed_at,
            detected_at=now,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OwnWrite:
    """A write this service made to the provider: the provider's webhook for it (its echo) is
    recognised by the record and the digest of the values written, until `expires_at`."""

    integration_id: str
    record_kind: RecordKind
    external_id: str
    fingerprint: str
    written_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncCursor:
    """How far a pull of one resource got: `position` is the provider's newest change time it
    read. `first_synced_at`: when the first pull began (changes before it were never expected
    by webhook)."""

    integration_id: str
    resource: SyncResource
    position: datetime | None
    first_synced_at: datetime
    updated_at: datetime


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


@dataclass(slots=True, kw_only=True)
class SyncRun:
    """One sync of one integration, as recorded in ``sync_runs``."""

    id: str
    integration_id: str
    sub_account_id: str
    trigger: RunTrigger
    started_at: datetime
    status: RunStatus = RunStatus.RUNNING
    finished_at: datetime | None = None
    attempts: int = 0
    pulled: int = 0
    pushed: int = 0
    conflicts: int = 0
    failures: int = 0
    missed_by_webhooks: int = 0
    """Records the pull found changed that no webhook had delivered."""
    error_code: str | None = None
    error_message: str | None = None

    @property
    def duration(self) -> timedelta | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    def finish(
        self, *, now: datetime, error_code: str | None = None, error: str | None = None
    ) -> None:
        self.status = RunStatus.FAILED if error_code else RunStatus.SUCCEEDED
        self.finished_at = now
        self.error_code = error_code
        self.error_message = error


@dataclass(frozen=True, slots=True)
class SyncRunTotals:
    """An integration's sync runs since some time, added up (for health and metrics)."""

    runs: int = 0
    failed_runs: int = 0
    pulled: int = 0
    pushed: int = 0
    conflicts: int = 0
    failures: int = 0
    missed_by_webhooks: int = 0
    last_run: SyncRun | None = field(default=None)


# --- ports -----------------------------------------------------------------------------------


class SyncRepository(Protocol):
    """Sync's records, in the unit of work's transaction (a local change commits with the lead
    or booking it changes)."""

    async def add_change(self, change: LocalChange) -> None:
        """Insert; raises AlreadyExistsError when its request id was used in the integration."""
        ...

    async def update_change(self, change: LocalChange) -> None:
        """Write it if its stored version still equals `change.version`, then bump the version;
        else raise ConcurrencyError."""
        ...

    async def get_change(self, change_id: str) -> LocalChange | None: ...

    async def changes_of(
        self, record_kind: RecordKind, record_id: str, *, pending_only: bool = True
    ) -> list[LocalChange]:
        """A record's changes (pending ones only, unless told), oldest first."""
        ...

    async def find_change_by_request_id(
        self, integration_id: str, request_id: str
    ) -> LocalChange | None: ...

    async def find_pending_create(
        self, integration_id: str, record_kind: RecordKind, match_keys: Sequence[str]
    ) -> LocalChange | None:
        """The oldest pending create of that kind whose match key is one of `match_keys`."""
        ...

    async def has_pending_creates(self, integration_id: str, record_kind: RecordKind) -> bool: ...

    async def pending_record_ids(self, integration_id: str, record_kind: RecordKind) -> set[str]:
        """The ids of the integration's records of that kind that have pending changes."""
        ...

    async def due_changes(
        self, integration_id: str, *, now: datetime, limit: int
    ) -> list[LocalChange]:
        """Up to `limit` pending changes due at `now`, oldest first."""
        ...

    async def integrations_with_due_changes(self, *, now: datetime, limit: int) -> list[str]: ...

    async def get_cursor(
        self, integration_id: str, resource: SyncResource
    ) -> SyncCursor | None: ...

    async def save_cursor(self, cursor: SyncCursor) -> None: ...

    async def add_conflict(self, conflict: ConflictRecord) -> None: ...

    async def list_conflicts(self, integration_id: str, *, limit: int) -> list[ConflictRecord]:
        """The integration's newest conflicts first."""
        ...

    async def remember_own_write(self, write: OwnWrite) -> None:
        """Keep it (replacing one with the same record and digest)."""
        ...

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
        """Whether an unexpired own write of these values is kept; it is forgotten if so, unless
        `keep` (a provider that announces one write in several events echoes it several times)."""
        ...

    async def purge_own_writes(self, *, expired_before: datetime) -> int: ...

    async def add_run(self, run: SyncRun) -> None: ...

    async def update_run(self, run: SyncRun) -> None: ...

    async def recent_runs(self, integration_id: str, *, limit: int) -> list[SyncRun]:
        """The integration's newest runs first."""
        ...

    async def run_totals(self, integration_id: str, *, since: datetime) -> SyncRunTotals:
        """The integration's runs started at or after `since`, added up, with its newest run."""
        ...


@dataclass(frozen=True, slots=True)
class DueSync:
    integration_id: str
    planned_at: datetime | None
    template_name: str = ""
    """When its run was planned; None: never (an integration the scheduler has not seen)."""


class SyncLeases(Protocol):
    """Which copy of the service syncs an integration now, and when its next scheduled run is
    due. Each call is its own committed transaction, so leases are seen by every copy at once."""

    async def acquire(
        self, integration_id: str, *, holder: str, now: datetime, ttl: timedelta
    ) -> bool:
        """Take the integration's lease until now + `ttl`, unless another holder has it and it
        has not expired. Returns whether `holder` holds it."""
        ...

    async def renew(
        self, integration_id: str, *, holder: str, now: datetime, ttl: timedelta
    ) -> bool:
        """Extend `holder`'s lease; False when it no longer holds it."""
        ...

    async def release(self, integration_id: str, *, holder: str) -> None: ...

    async def due_for_sync(
        self, *, now: datetime, limit: int, templates: Collection[str]
    ) -> list[DueSync]:
        """Operational integrations (switched on, active or error) of `templates` (the CRMs')
        whose next scheduled run is due (or was never planned) and whose lease is free, the
        never planned first."""
        ...

    async def claim_run(self, integration_id: str, *, now: datetime, next_run_at: datetime) -> bool:
        """Plan the integration's next run at `next_run_at` if its current plan is due at `now`
        (or there is none); False when another copy claimed this run first."""
        ...


# --- merging ---------------------------------------------------------------------------------


async def pending_changes(
    sync: SyncRepository, kind: RecordKind, record_id: str, operation: ChangeOperation
) -> list[LocalChange]:
    """The record's pending changes of one operation (those a change from the provider is
    merged with)."""
    return [c for c in await sync.changes_of(kind, record_id) if c.operation is operation]


def rebase(changes: Sequence[LocalChange], result: Merge, *, now: datetime) -> list[LocalChange]:
    """Apply a merge to the pending changes it was made from: fields settled or lost drop out
    (a change left empty is superseded), fields still pending take the provider's current value
    as their base. Returns the changes that changed."""
    touched = []
    for change in changes:
        kept = {k: v for k, v in change.fields.items() if k in result.pending}
        base = {k: result.base[k] for k in kept}
        if kept == change.fields and base == {k: change.base.get(k) for k in kept}:
            continue
        change.fields = kept
        change.base = base
        change.updated_at = now
        if not kept:
            change.supersede(now=now)
        touched.append(change)
    return touched


def with_values(details: ContactDetails, values: Mapping[str, Any]) -> ContactDetails:
    """`details` with the lead fields in `values` replaced."""
    return lead_details({**lead_values(details), **values})

"""Creating or updating a lead from what the CRM says about a contact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from application.ports import (
    AssignedUser,
    Cipher,
    Clock,
    IdGenerator,
    InboundEvent,
    TenantDirectory,
    TimezoneHints,
    TimezoneResolver,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.ports.crm import CrmAccountSettings, CrmContact, CrmReader
from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from application.reconcile import reconcile
from application.sync_records import (
    ChangeOperation,
    RecordKind,
    contact_match_keys,
    fingerprint,
    lead_details,
    lead_values,
    pending_changes,
)
from domain.errors import DomainError
from domain.integration import Integration
from domain.lead import ContactDetails, Lead, provisional_external_id


@dataclass(slots=True)
class LeadBatch:
    """What a pull looks up once rather than for every contact: the CRM account's timezone,
    each sub-account's assignee (each on first need), the leads of a page's contacts, whether
    any lead made here waits for the CRM's id, and which leads have changes not pushed yet
    (LeadSync.prefetch). The leads `apply` captures wait in `unsaved` until LeadSync.store
    inserts them together."""

    account_timezone: str | None = None
    account_known: bool = False
    assignees: dict[str, AssignedUser | None] = field(default_factory=dict)
    leads: dict[str, Lead | None] = field(default_factory=dict)
    """Contact id → its lead (None: it has none), for the contacts prefetched."""
    claimable: bool = True
    unsaved: dict[str, Lead] = field(default_factory=dict)
    """Contact id → its lead captured by `apply` and not inserted yet."""
    unpushed: set[str] = field(default_factory=set)
    """The ids of the leads with local changes not pushed yet: only theirs need reading."""


@dataclass(frozen=True, slots=True)
class ContactApplied:
    """What applying a contact did to its lead."""

    lead: Lead
    written: bool
    created: bool = False
    changed: bool = False
    """Created, or its details changed (not only the provider's update time)."""
    echo: bool = False
    """The contact is this service's own write coming back: nothing was done."""
    conflicts: int = 0


@dataclass(frozen=True, slots=True)
class AccountTimezone:
    """What a handler's `prepare` found out of the CRM account's timezone for a capture."""

    name: str | None

    @staticmethod
    def of(event: InboundEvent) -> str | None:
        fetched = event.fetched
        return fetched.name if isinstance(fetched, AccountTimezone) else None


@dataclass(frozen=True, slots=True)
class LeadSync:
    """Upserts leads by (integration, CRM contact id).

    A new lead goes to the sub-account's first assignable user, with that user's strategy. Its
    timezone is the contact's own (when the CRM has one), else detected from the address, else from
    the phone number, else the CRM account's (`accounts`, kept for a while and shared by every
    path); when that too is unknown (or the CRM cannot be asked), the lead has none: a timezone never
    fails a delivery. An update re-detects the timezone from the contact and keeps the lead's
    when nothing is detected.
    """

    directory: TenantDirectory
    timezones: TimezoneResolver
    accounts: CrmAccountSettings
    cipher: Cipher
    ids: IdGenerator
    clock: Clock
    reader: CrmReader

    async def upsert(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        sub_account_id: str,
        contact: CrmContact,
        changed_at: datetime | None,
        account_timezone: str | None = None,
    ) -> tuple[Lead, bool]:
        """The contact's lead, and whether this call wrote it (a change older than the lead's,
        or identical to it, writes nothing)."""
        applied = await self.apply(
            uow,
            integration_id=integration_id,
            sub_account_id=sub_account_id,
            contact=contact,
            changed_at=changed_at,
            account_timezone=account_timezone,
        )
        return applied.lead, applied.written

    async def apply(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        sub_account_id: str,
        contact: CrmContact,
        changed_at: datetime | None,
        batch: LeadBatch | None = None,
        account_timezone: str | None = None,
    ) -> ContactApplied:
        """Take what the CRM says about a contact (by webhook, by pull, or in answer to a push).

        A contact unknown by id may be one this service created whose id it has not recorded
        yet (a pending create with the same email or phone): that lead takes the id. The echo
        of this service's own write (same values as the lead, remembered as written) changes
        nothing. A lead with changes not pushed yet is merged field by field (application.
        reconcile), so that neither side's change is lost. A new lead with no timezone of its
        own takes the CRM account's: `account_timezone` (or the batch's), asked by the caller
        before the unit of work opened (`timezone_for_capture`, `prepare`); the CRM is never
        asked from here."""
        details = self.reader.contact_details(contact)
        timezone = self._own_timezone(contact, details)
        now = self.clock.now()
        if batch is not None and contact.id in batch.leads:
            if contact.id in batch.unsaved:
                await self.store(uow, batch)  # the contact twice in a page: insert, then update
            lead = batch.leads[contact.id]
        else:
            lead = await uow.leads.get_by_external_id(integration_id, contact.id)
        if lead is None and (batch is None or batch.claimable):
            lead = await self._claim_local(uow, integration_id, contact, now=now)
        if lead is None:
            lead = await self._capture(
                uow,
                integration_id=integration_id,
                sub_account_id=sub_account_id,
                external_id=contact.id,
                details=details,
                timezone=timezone or account_timezone,
                changed_at=changed_at,
                batch=batch,
            )
            if batch is not None:
                batch.leads[contact.id] = lead
            return ContactApplied(lead, written=True, created=True, changed=True)
        if batch is not None:
            batch.leads[contact.id] = lead
        values = lead_values(details)
        if values == lead_values(lead.details) and await uow.sync.take_own_write(
            integration_id, RecordKind.LEAD, contact.id, fingerprint(values), now=now
        ):
            return ContactApplied(lead, written=False, echo=True)
        conflicts = 0
        if (
            not lead.deleted
            and not lead.is_older(changed_at)
            and (batch is None or lead.id in batch.unpushed)
        ):
            pending = await pending_changes(
                uow.sync, RecordKind.LEAD, lead.id, ChangeOperation.UPDATE_CONTACT
            )
            if pending:
                merged = await reconcile(
                    uow,
                    self.ids,
                    record_kind=RecordKind.LEAD,
                    record_id=lead.id,
                    external_id=contact.id,
                    integration_id=integration_id,
                    sub_account_id=lead.sub_account_id,
                    local=lead_values(lead.details),
                    remote=values,
                    remote_changed_at=changed_at,
                    changes=pending,
                    now=now,
                )
                details = lead_details(merged.values)
                conflicts = len(merged.conflicts)
        before = (lead.details, lead.timezone)
        written = lead.sync(
            details=details, timezone=timezone, external_updated_at=changed_at, now=now
        )
        if written:
            await uow.leads.update(lead)
        changed = written and before != (lead.details, lead.timezone)
        return ContactApplied(lead, written=written, changed=changed, conflicts=conflicts)

    async def prefetch(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        contact_ids: Sequence[str],
        batch: LeadBatch,
    ) -> None:
        """Load the leads of a page of contacts in one query (into `batch`, for `apply`, whose
        new leads `store` must then insert before the unit of work commits)."""
        found = await uow.leads.get_many_by_external_id(integration_id, contact_ids)
        batch.leads = {contact_id: found.get(contact_id) for contact_id in contact_ids}
        batch.unsaved = {}
        batch.claimable = await uow.sync.has_pending_creates(integration_id, RecordKind.LEAD)
        batch.unpushed = await uow.sync.pending_record_ids(integration_id, RecordKind.LEAD)

    async def prepare(
        self, batch: LeadBatch, call: ProviderCall, contacts: Sequence[CrmContact]
    ) -> None:
        """Ask the CRM, before a page's unit of work opens, for what applying `contacts` with
        `batch` may need from it: the account's timezone, when one of them has none of its
        own (asked once per batch)."""
        if batch.account_known:
            return
        if any(self._own_timezone(c, self.reader.contact_details(c)) is None for c in contacts):
            batch.account_timezone = await self.account_timezone(call)
            batch.account_known = True

    async def store(self, uow: UnitOfWork, batch: LeadBatch) -> None:
        """Insert the leads `apply` captured with `batch`, in one statement."""
        if batch.unsaved:
            await uow.leads.add_many(list(batch.unsaved.values()))
            batch.unsaved = {}

    async def capture_local(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        sub_account_id: str,
        details: ContactDetails,
        timezone: str | None,
        assigned_user_id: str | None = None,
        strategy_id: str | None = None,
    ) -> Lead:
        """A lead a platform service created here, to be pushed to the CRM: it has a provisional
        external id until the CRM gives it one. Its `timezone` is found by the caller before the
        unit of work opened (`detect_timezone`, else `account_timezone`); its assignee is as
        for a captured contact, unless the caller assigned it."""
        lead_id = self.ids.new_id()
        if assigned_user_id is None:
            assigned = await self.directory.first_assignable_user(sub_account_id)
            assigned_user_id = assigned.user_id if assigned else None
            strategy_id = strategy_id or (assigned.strategy_id if assigned else None)
        lead = Lead.capture(
            id=lead_id,
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            external_id=provisional_external_id(lead_id),
            details=details,
            timezone=timezone,
            assigned_user_id=assigned_user_id,
            strategy_id=strategy_id,
            now=self.clock.now(),
        )
        await uow.leads.add(lead)
        return lead

    async def _capture(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        sub_account_id: str,
        external_id: str,
        details: ContactDetails,
        timezone: str | None,
        changed_at: datetime | None,
        batch: LeadBatch | None,
    ) -> Lead:
        if timezone is None and batch is not None:
            timezone = batch.account_timezone
        if batch is None:
            assigned = await self.directory.first_assignable_user(sub_account_id)
        else:
            if sub_account_id not in batch.assignees:
                batch.assignees[sub_account_id] = await self.directory.first_assignable_user(
                    sub_account_id
                )
            assigned = batch.assignees[sub_account_id]
        lead = Lead.capture(
            id=self.ids.new_id(),
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            external_id=external_id,
            details=details,
            timezone=timezone,
            assigned_user_id=assigned.user_id if assigned else None,
            strategy_id=assigned.strategy_id if assigned else None,
            external_updated_at=changed_at,
            now=self.clock.now(),
        )
        if batch is None:
            await uow.leads.add(lead)
        else:
            batch.unsaved[external_id] = lead
        return lead

    async def _claim_local(
        self, uow: UnitOfWork, integration_id: str, contact: CrmContact, *, now: datetime
    ) -> Lead | None:
        """The lead created here that `contact` is the CRM side of, linked to it; None if
        there is none."""
        keys = contact_match_keys(contact.email, contact.phone)
        change = (
            await uow.sync.find_pending_create(integration_id, RecordKind.LEAD, keys)
            if keys
            else None
        )
        if change is None:
            return None
        lead = await uow.leads.get(change.record_id)
        if lead is None or lead.on_provider:
            return None
        lead.link(contact.id, external_updated_at=None, now=now)
        await uow.leads.update(lead)
        change.done(now=now, external_id=contact.id)
        await uow.sync.update_change(change)
        return lead

    def _own_timezone(self, contact: CrmContact, details: ContactDetails) -> str | None:
        return _zone(contact.timezone) or self.detect_timezone(details)

    def detect_timezone(self, details: ContactDetails) -> str | None:
        """The timezone of a lead with `details`, from its address or phone; None when they
        tell none."""
        return self.timezones.resolve(
            TimezoneHints(
                postal_code=details.postal_code,
                state=details.state,
                city=details.city,
                country=details.country,
                phone=details.phone,
            )
        )

    async def delete(
        self, uow: UnitOfWork, *, integration_id: str, sub_account_id: str, contact: CrmContact
    ) -> bool:
        """Mark the contact's lead deleted; returns whether this call wrote it. A delete that
        arrives before its create leaves a deleted lead behind, so the late create changes
        nothing (the CRM never reuses a contact id)."""
        now = self.clock.now()
        lead = await uow.leads.get_by_external_id(integration_id, contact.id)
        if lead is not None:
            if not lead.mark_deleted(now=now):
                return False
            await uow.leads.update(lead)
            return True
        lead = Lead.capture(
            id=self.ids.new_id(),
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            external_id=contact.id,
            details=self.reader.contact_details(contact),
            now=now,
        )
        lead.mark_deleted(now=now)
        await uow.leads.add(lead)
        return True

    async def account_access(
        self, uow: UnitOfWork, integration: Integration, *, priority: Priority = Priority.LIVE
    ) -> ProviderCall | None:
        """What asking the CRM for `integration`'s account needs (its credentials, opened for
        the call), read in `uow`; None when they cannot be read."""
        try:
            return await provider_call(uow, self.cipher, integration, priority=priority)
        except DomainError:
            return None

    async def timezone_for_capture(
        self, uows: UnitOfWorkFactory, *, integration_id: str, contact: CrmContact
    ) -> str | None:
        """The CRM account's timezone, when applying `contact` would capture a lead that has
        none of its own (the contact is new here and tells none); None otherwise. Reads in a
        unit of work of its own, and asks the CRM only once that is closed."""
        if self._own_timezone(contact, self.reader.contact_details(contact)) is not None:
            return None
        async with uows() as uow:
            if await uow.leads.get_by_external_id(integration_id, contact.id) is not None:
                return None
            integration = await uow.integrations.get(integration_id)
            call = None if integration is None else await self.account_access(uow, integration)
        return None if call is None else await self.account_timezone(call)

    async def account_timezone(self, call: ProviderCall) -> str | None:
        """The CRM account's timezone; None when it has none or the CRM cannot be asked now."""
        try:
            location = await self.accounts.account(call)
        except DomainError:
            return None
        return _zone(location.timezone)


def _zone(name: str | None) -> str | None:
    """`name` if it is an IANA zone this machine knows."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name

"""PushPendingChanges: lead and booking changes made here, delivered to the CRM until they land."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from application.booking_sync import BookingSync
from application.crm_values import appointment_values, contact_fields
from application.lead_sync import LeadSync
from application.opportunity_sync import OpportunitySync
from application.ports import Cipher, Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from application.ports.crm import (
    AppointmentChanges,
    AppointmentStatus,
    BlockSlot,
    ContactFields,
    CrmApi,
    CrmAppointment,
    CrmContact,
    CrmOpportunity,
    NewAppointment,
    NewOpportunity,
    OpportunityStatus,
)
from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from application.sync_records import (
    ChangeOperation,
    ChangeStatus,
    LocalChange,
    OwnWrite,
    RecordKind,
    SyncLeases,
    appointment_match_key,
    block_match_key,
    coalesce,
    contact_match_keys,
    fingerprint,
    lead_values,
    pending_changes,
    status_values,
)
from domain.booking import Booking
from domain.errors import (
    ConcurrencyError,
    ConfigSchemaInvalidError,
    ConnectionFailedError,
    DomainError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)
from domain.integration import Integration
from domain.lead import Lead, is_provisional

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RECORD_ATTEMPTS = 5
"""How often a transaction recording an outcome is retried when the record changed meanwhile."""

_LEASE_TRIES = 50
_LEASE_POLL_SECONDS = 0.2
"""How `deliver_now` waits for a push or sync run holding the lease: about 10 s in all."""

_EVERYTHING_DUE = timedelta(days=36_500)
"""Added to now, a time by which every pending change is due, retries waiting or not."""


@dataclass(frozen=True, slots=True)
class PushPolicy:
    """Retries of a change: exponential backoff (`base_delay` · 2^(attempt-1), at most
    `max_delay`, jittered down by up to half). Transient failures (the CRM unreachable, 5xx, rate
    limited) retry until the change lands; refusals (4xx) `max_attempts` times, then fail."""

    batch_size: int = 100
    base_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=15)
    max_attempts: int = 5
    own_write_ttl: timedelta = timedelta(hours=1)
    """How long the echo of a write is expected."""
    lookup_window: timedelta = timedelta(minutes=1)
    """Around a start time, where to look for what an uncertain create made."""
    lease_ttl: timedelta = timedelta(minutes=5)

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        ceiling: timedelta = min(
            self.max_delay, self.base_delay * 2 ** min(max(attempt, 1) - 1, 20)
        )
        return ceiling * (0.5 + rng.random() / 2)


@dataclass(slots=True)
class PushResult:
    pushed: int = 0
    conflicts: int = 0
    failures: int = 0


class PushPendingChanges:
    """Rules:
    - changes go out in the order they were made, per record: a lead's contact before its
      bookings' appointments, a create before the changes made after it;
    - a contact is created by upsert (safe to repeat); an appointment or block slot create is
      not, so one whose answer was lost (the CRM unreachable after the request may have landed) is
      first looked for at the CRM, and adopted when found, before it is made again;
    - before an update, the CRM's current version is fetched and merged field by field with the
      changes (conflicts recorded, the newer side winning); only what is left is written;
    - a lead's status goes to its opportunity (the one it follows, else the newest of its
      contact's, found by search, preferring the configured ``pipelineId``); a contact with
      none gets one, created with the status in the configured pipeline (else the location's
      first) and its first stage (else the configured ``pipelineStageId``);
    - what the CRM answers is applied like a webhook (so the lead or booking takes the CRM's id and
      update time), and remembered as the service's own write so that its echo is ignored;
    - the CRM unreachable or rate limiting: the change waits (backoff) and the push stops there;
      the CRM refusing (4xx): retried `max_attempts` times, then failed; credentials refused: the
      push stops, the change untouched.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        crm: CrmApi,
        cipher: Cipher,
        leads: LeadSync,
        bookings: BookingSync,
        opportunities: OpportunitySync,
        leases: SyncLeases,
        ids: IdGenerator,
        clock: Clock,
        policy: PushPolicy = PushPolicy(),
        rng: random.Random | None = None,
    ) -> None:
        self._uow = uow
        self._crm = crm
        self._cipher = cipher
        self._leads = leads
        self._bookings = bookings
        self._opportunities = opportunities
        self._leases = leases
        self._ids = ids
        self._clock = clock
        self._policy = policy
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography

    async def due_integrations(self, *, limit: int = 100) -> list[str]:
        """Integrations with changes due now."""
        async with self._uow() as uow:
            return await uow.sync.integrations_with_due_changes(now=self._clock.now(), limit=limit)

    async def execute(self, integration_id: str) -> PushResult | None:
        """Push an integration's due changes under its sync lease; None when another run holds
        the lease or the integration is not operational (its changes wait)."""
        holder = self._ids.new_id()
        now = self._clock.now()
        if not await self._leases.acquire(
            integration_id, holder=holder, now=now, ttl=self._policy.lease_ttl
        ):
            return None
        try:
            async with self._uow() as uow:
                integration = await uow.integrations.get(integration_id)
                if integration is None or not integration.is_operational:
                    return None
                call = await provider_call(
                    uow, self._cipher, integration, priority=Priority.BACKGROUND
                )
            return await self.push(integration, call)
        finally:
            await self._leases.release(integration_id, holder=holder)

    async def deliver_now(self, integration_id: str) -> str | None:
        """Push every pending change of the integration at once, those waiting for a retry
        too, under its sync lease (waiting a few seconds for a run that holds it), as a person
        waiting on the answer (the live rate-limit lane). Returns why changes are left pending
        (the CRM unreachable, rate limiting or refusing; the integration not connected), or None
        when none are."""
        holder = self._ids.new_id()
        for _ in range(_LEASE_TRIES):
            if await self._leases.acquire(
                integration_id, holder=holder, now=self._clock.now(), ttl=self._policy.lease_ttl
            ):
                break
            await asyncio.sleep(_LEASE_POLL_SECONDS)
        else:
            return "another sync of the integration is running"
        try:
            async with self._uow() as uow:
                integration = await uow.integrations.get(integration_id)
                if integration is None or not await _has_pending(uow, integration_id):
                    return None
                if not integration.is_operational:
                    return f"the integration is {integration.status}"
                call = await provider_call(uow, self._cipher, integration, priority=Priority.LIVE)
            # A change the CRM refuses is retried up to `max_attempts` times, then failed.
            for _ in range(self._policy.max_attempts):
                await self.push(integration, call, due_by=self._clock.now() + _EVERYTHING_DUE)
                async with self._uow() as uow:
                    if not await _has_pending(uow, integration_id):
                        return None
            return "the CRM refused some of them"
        except ProviderError as err:
            return err.message
        finally:
            await self._leases.release(integration_id, holder=holder)

    async def push(
        self,
        integration: Integration,
        call: ProviderCall,
        result: PushResult | None = None,
        *,
        due_by: datetime | None = None,
    ) -> PushResult:
        """Push the changes of `integration` due now (or by `due_by`; the caller holds its
        lease), counted into `result`. Raises InvalidCredentialsError, ConnectionFailedError or
        RateLimitExceededError when the CRM cannot take more now; what landed before is recorded
        (and counted)."""
        result = result if result is not None else PushResult()
        async with self._uow() as uow:
            due = await uow.sync.due_changes(
                integration.id, now=due_by or self._clock.now(), limit=self._policy.batch_size
            )
        done: set[tuple[RecordKind, str]] = set()
        for change in due:
            record = (change.record_kind, change.record_id)
            if record in done:
                continue
            done.add(record)
            if change.record_kind is RecordKind.LEAD:
                await self._push_lead(integration, call, change.record_id, result)
            else:
                await self._push_booking(integration, call, change.record_id, result)
        return result

    # --- leads -------------------------------------------------------------------------------

    async def _push_lead(
        self, integration: Integration, call: ProviderCall, lead_id: str, result: PushResult
    ) -> None:
        lead, changes = await self._load_lead(lead_id)
        if lead is None or lead.deleted:
            await self._settle(changes, ChangeStatus.SUPERSEDED)
            return
        create = _first(changes, ChangeOperation.CREATE_CONTACT)
        if create is not None and not lead.on_provider:
            if not await self._create_contact(integration, call, lead, create, result):
                return
            lead, changes = await self._load_lead(lead_id)
            if lead is None or lead.deleted:
                await self._settle(changes, ChangeStatus.SUPERSEDED)
                return
        updates = [c for c in changes if c.operation is ChangeOperation.UPDATE_CONTACT]
        if updates and lead.on_provider:
            await self._update_contact(integration, call, lead, updates, result)
        statuses = [c for c in changes if c.operation is ChangeOperation.UPDATE_OPPORTUNITY_STATUS]
        if statuses and lead.on_provider:
            await self._push_status(integration, call, lead, statuses, result)

    async def _create_contact(
        self,
        integration: Integration,
        call: ProviderCall,
        lead: Lead,
        change: LocalChange,
        result: PushResult,
    ) -> bool:
        keys = contact_match_keys(lead.details.email, lead.details.phone)
        if not await self._arm(change, keys[0] if keys else None):
            return False
        answer = await self._call(
            [change], result, lambda: self._crm.upsert_contact(call, contact_fields(lead.details))
        )
        if answer is None:
            return False
        contact = answer.contact

        seen = _Seen()

        async def record(uow: UnitOfWork, now: datetime) -> None:
            current = await uow.leads.get(lead.id)
            note = None
            if current is not None and not current.on_provider:
                holder = await uow.leads.get_by_external_id(integration.id, contact.id)
                if holder is None:
                    current.link(contact.id, external_updated_at=contact.date_updated, now=now)
                else:
                    # the CRM matched a contact another lead already mirrors: that lead lives on,
                    # and this one is merged into it (named, so that its callers can follow).
                    current.merge_into(holder, contact_id=contact.id, now=now)
                    note = f"the CRM matched contact {contact.id}, already lead {holder.id}"
                await uow.leads.update(current)
            await self._finish(uow, [change.id], now, external_id=contact.id, note=note)
            applied = await self._leads.apply(
                uow,
                integration_id=integration.id,
                sub_account_id=integration.sub_account_id,
                contact=contact,
                changed_at=contact.date_updated,
            )
            seen.conflicts = applied.conflicts
            await self._remember_contact(uow, integration, contact, now)

        await self._record(record)
        result.conflicts += seen.conflicts
        result.pushed += 1
        return True

    async def _update_contact(
        self,
        integration: Integration,
        call: ProviderCall,
        lead: Lead,
        updates: list[LocalChange],
        result: PushResult,
    ) -> None:
        try:
            remote = await self._call(
                updates, result, lambda: self._crm.get_contact(call, lead.external_id)
            )
        except _GoneError:
            await self._lead_gone(lead, updates)
            return
        if remote is None:
            return

        # the CRM's current version first: what changed on both sides is settled field by field.
        seen = _Seen()

        async def merge(uow: UnitOfWork, now: datetime) -> tuple[Lead | None, list[LocalChange]]:
            applied = await self._leads.apply(
                uow,
                integration_id=integration.id,
                sub_account_id=integration.sub_account_id,
                contact=remote,
                changed_at=remote.date_updated,
            )
            seen.conflicts = applied.conflicts
            left = await pending_changes(
                uow.sync, RecordKind.LEAD, lead.id, ChangeOperation.UPDATE_CONTACT
            )
            return await uow.leads.get(lead.id), left

        current, left = await self._record(merge)
        result.conflicts += seen.conflicts
        if current is None or not left:
            return
        values = coalesce(left).values
        details = current.details
        others = [f for f in values if f != "company"]

        async def write() -> CrmContact:
            written = remote
            if others:
                written = await self._crm.update_contact(
                    call, current.external_id, contact_fields(details, only=others)
                )
            if "company" in values:
                # the CRM's update does not take companyName; its upsert (matched by email or phone,
                # just written) does.
                upserted = await self._crm.upsert_contact(
                    call,
                    ContactFields(
                        email=details.email, phone=details.phone, company_name=details.company or ""
                    ),
                )
                if upserted.contact.id != current.external_id:
                    raise ProviderError(
                        f"the CRM matched contact {upserted.contact.id} by email or phone, "
                        f"not {current.external_id}: the company was not changed"
                    )
                written = upserted.contact
            return written

        try:
            answer = await self._call(left, result, write)
        except _GoneError:
            await self._lead_gone(lead, left)
            return
        if answer is None:
            return

        seen = _Seen()

        async def record(uow: UnitOfWork, now: datetime) -> None:
            await self._finish(
                uow, [c.id for c in left], now, versions={c.id: c.version for c in left}
            )
            applied = await self._leads.apply(
                uow,
                integration_id=integration.id,
                sub_account_id=integration.sub_account_id,
                contact=answer,
                changed_at=answer.date_updated,
            )
            seen.conflicts = applied.conflicts
            await self._remember_contact(uow, integration, answer, now)

        await self._record(record)
        result.conflicts += seen.conflicts
        result.pushed += 1

    async def _push_status(
        self,
        integration: Integration,
        call: ProviderCall,
        lead: Lead,
        changes: list[LocalChange],
        result: PushResult,
    ) -> None:
        found = await self._call(
            changes, result, lambda: self._opportunities_of(call, integration, lead)
        )
        if found is None:
            return
        if not found:
            await self._create_opportunity(integration, call, lead, changes, result)
            return
        remote = found[0]

        # the CRM's current status first: a status both sides changed goes to the newer change.
        seen = _Seen()

        async def merge(uow: UnitOfWork, now: datetime) -> tuple[Lead | None, list[LocalChange]]:
            applied = await self._opportunities.apply(
                uow, integration_id=integration.id, opportunity=remote
            )
            seen.conflicts = applied.conflicts
            left = await pending_changes(
                uow.sync, RecordKind.LEAD, lead.id, ChangeOperation.UPDATE_OPPORTUNITY_STATUS
            )
            return await uow.leads.get(lead.id), left

        current, left = await self._record(merge)
        result.conflicts += seen.conflicts
        if current is None or not left:
            return
        status = OpportunityStatus(coalesce(left).values["status"])

        async def write() -> CrmOpportunity:
            await self._crm.update_opportunity_status(call, remote.id, status)
            return await self._crm.get_opportunity(call, remote.id)

        try:
            answer = await self._call(left, result, write)
        except _GoneError:
            # Deleted at the CRM meanwhile: the next push looks for (or makes) another.
            await self._retry(
                [c.id for c in left], "the CRM no longer has the lead's opportunity", None
            )
            return
        if answer is None:
            return
        await self._record_status(integration, lead, left, answer, result)

    async def _create_opportunity(
        self,
        integration: Integration,
        call: ProviderCall,
        lead: Lead,
        changes: list[LocalChange],
        result: PushResult,
    ) -> None:
        """The lead's contact has no opportunity at the CRM: one is made with the status. Not
        idempotent, but harmless to repeat: every push looks for the contact's first."""
        status = OpportunityStatus(coalesce(changes).values["status"])

        async def create() -> CrmOpportunity:
            pipeline_id, stage_id = await self._pipeline_of(call, integration)
            return await self._crm.create_opportunity(
                call,
                NewOpportunity(
                    pipeline_id=pipeline_id,
                    pipeline_stage_id=stage_id,
                    contact_id=lead.external_id,
                    name=_opportunity_name(lead),
                    status=status,
                ),
            )

        try:
            created = await self._call(changes, result, create)
        except _GoneError:  # the contact or the pipeline is not at the CRM
            await self._refused([c.id for c in changes], "the CRM refused the opportunity", result)
            return
        if created is None:
            return
        await self._record_status(integration, lead, changes, created, result)

    async def _record_status(
        self,
        integration: Integration,
        lead: Lead,
        changes: list[LocalChange],
        answer: CrmOpportunity,
        result: PushResult,
    ) -> None:
        async def record(uow: UnitOfWork, now: datetime) -> None:
            await self._finish(
                uow, [c.id for c in changes], now, versions={c.id: c.version for c in changes}
            )
            current = await uow.leads.get(lead.id)
            await self._opportunities.apply(
                uow, integration_id=integration.id, opportunity=answer, lead=current
            )
            status = self._leads.reader.lead_status(answer.status)
            if status is not None:
                await self._remember(
                    uow, integration, RecordKind.OPPORTUNITY, answer.id, status_values(status), now
                )

        await self._record(record)
        result.pushed += 1

    async def _opportunities_of(
        self, call: ProviderCall, integration: Integration, lead: Lead
    ) -> list[CrmOpportunity]:
        """The opportunity the lead's status goes to first: the one it follows, else its
        contact's (in the configured pipeline first, the newest first); empty: none."""
        if lead.opportunity_id is not None:
            try:
                return [await self._crm.get_opportunity(call, lead.opportunity_id)]
            except NotFoundError:
                pass  # deleted at the CRM: the contact's others, if any
        page = await self._crm.search_opportunities(call, contact_id=lead.external_id)
        pipeline = integration.config.get("pipelineId")
        return sorted(
            page.opportunities,
            key=lambda o: (o.pipeline_id != pipeline, -(o.updated_at or _EPOCH).timestamp()),
        )

    async def _pipeline_of(
        self, call: ProviderCall, integration: Integration
    ) -> tuple[str, str | None]:
        """Where a new opportunity goes: the configured pipeline and stage, else the location's
        first pipeline and its first stage."""
        pipeline = integration.config.get("pipelineId")
        stage = integration.config.get("pipelineStageId")
        if isinstance(pipeline, str) and pipeline:
            return pipeline, stage if isinstance(stage, str) and stage else None
        pipelines = await self._crm.list_pipelines(call)
        if not pipelines:
            raise ProviderError("the CRM account has no pipeline for the lead's opportunity")
        first = pipelines[0]
        return first.id, first.stage_ids[0] if first.stage_ids else None

    async def _lead_gone(self, lead: Lead, changes: list[LocalChange]) -> None:
        """The contact no longer exists at the CRM (deleted there): so is the lead."""

        async def record(uow: UnitOfWork, now: datetime) -> None:
            current = await uow.leads.get(lead.id)
            if current is not None and current.mark_deleted(now=now):
                await uow.leads.update(current)
            await self._finish(uow, [c.id for c in changes], now, status=ChangeStatus.SUPERSEDED)

        await self._record(record)

    async def _remember_contact(
        self, uow: UnitOfWork, integration: Integration, contact: CrmContact, now: datetime
    ) -> None:
        values = lead_values(self._leads.reader.contact_details(contact))
        await self._remember(uow, integration, RecordKind.LEAD, contact.id, values, now)

    # --- bookings ----------------------------------------------------------------------------

    async def _push_booking(
        self, integration: Integration, call: ProviderCall, booking_id: str, result: PushResult
    ) -> None:
        booking, changes = await self._load_booking(booking_id)
        if booking is None:
            await self._settle(changes, ChangeStatus.SUPERSEDED)
            return
        create = _first(changes, ChangeOperation.CREATE_APPOINTMENT) or _first(
            changes, ChangeOperation.CREATE_BLOCK_SLOT
        )
        if create is not None and not booking.on_provider:
            if not await self._create_event(integration, call, booking, create, result):
                return
            booking, changes = await self._load_booking(booking_id)
            if booking is None:
                return
        cancels = [c for c in changes if c.operation is ChangeOperation.CANCEL_APPOINTMENT]
        if cancels and booking.on_provider:
            await self._cancel_appointment(integration, call, booking, cancels, result)
        deletes = [c for c in changes if c.operation is ChangeOperation.DELETE_BLOCK_SLOT]
        if deletes and booking.on_provider:
            await self._delete_block_slot(call, booking, deletes, result)

    async def _create_event(
        self,
        integration: Integration,
        call: ProviderCall,
        booking: Booking,
        change: LocalChange,
        result: PushResult,
    ) -> bool:
        d = booking.details
        appointment = change.operation is ChangeOperation.CREATE_APPOINTMENT
        try:
            contact_id = await self._contact_of(booking)
        except _LeadNeverCreatedError as err:
            if appointment:
                await self._refused([change.id], str(err), result, final=True)
                return False
            contact_id = None  # a block slot needs no contact
        if appointment and contact_id is None:
            # Its lead's contact is not at the CRM yet: the lead's own change goes first.
            await self._retry([change.id], "waiting for the lead to reach the CRM", None)
            return False
        was_uncertain = change.uncertain
        key = (
            appointment_match_key(d.calendar_id, contact_id or "", d.start)
            if appointment
            else block_match_key(d.calendar_id, d.start, d.end)
        )
        if not await self._arm(change, key):
            return False
        window = self._policy.lookup_window
        created: CrmAppointment | BlockSlot | None
        if appointment:
            assert contact_id is not None
            new = NewAppointment(
                calendar_id=d.calendar_id,
                contact_id=contact_id,
                start=d.start,
                end=d.end,
                title=d.title,
                address=d.address,
                assigned_user_id=d.assigned_user_id,
                ignore_free_slot_validation=bool(change.fields.get("ignore_free_slot_validation")),
            )

            async def make_appointment() -> CrmAppointment:
                if was_uncertain:
                    found = await self._crm.list_appointments(
                        call, d.calendar_id, start=d.start - window, end=d.start + window
                    )
                    for a in found:
                        if a.contact_id == contact_id and a.start == d.start:
                            return a
                return await self._crm.create_appointment(call, new)

            created = await self._call([change], result, make_appointment)
        else:

            async def make_block() -> BlockSlot:
                if was_uncertain:
                    found = await self._crm.list_block_slots(
                        call, d.calendar_id, start=d.start - window, end=d.start + window
                    )
                    for b in found:
                        if b.start == d.start and b.end == d.end:
                            return b
                return await self._crm.create_block_slot(
                    call, d.calendar_id, start=d.start, end=d.end, title=d.title
                )

            created = await self._call([change], result, make_block)
        if created is None:
            return False
        event = created

        seen = _Seen()

        async def record(uow: UnitOfWork, now: datetime) -> None:
            current = await uow.bookings.get(booking.id)
            note = None
            if current is not None and not current.on_provider:
                holder = await uow.bookings.get_by_external_id(integration.id, event.id)
                if holder is None:
                    current.link(
                        event.id,
                        contact_external_id=contact_id or current.details.contact_external_id,
                        external_updated_at=(
                            event.date_updated if isinstance(event, CrmAppointment) else None
                        ),
                        now=now,
                    )
                else:
                    current.delete(now=now)
                    note = f"the CRM's event {event.id} is already booking {holder.id}"
                await uow.bookings.update(current)
            await self._finish(uow, [change.id], now, external_id=event.id, note=note)
            if isinstance(event, CrmAppointment):
                applied = await self._bookings.apply(
                    uow,
                    integration_id=integration.id,
                    sub_account_id=integration.sub_account_id,
                    appointment=event,
                    changed_at=event.date_updated,
                )
                seen.conflicts = applied.conflicts
                await self._remember_appointment(uow, integration, event, now)

        await self._record(record)
        result.conflicts += seen.conflicts
        result.pushed += 1
        return True

    async def _cancel_appointment(
        self,
        integration: Integration,
        call: ProviderCall,
        booking: Booking,
        cancels: list[LocalChange],
        result: PushResult,
    ) -> None:
        try:
            remote = await self._call(
                cancels, result, lambda: self._crm.get_appointment(call, booking.external_id)
            )
        except _GoneError:
            await self._gone(booking, cancels)
            return
        if remote is None:
            return

        seen = _Seen()

        async def merge(uow: UnitOfWork, now: datetime) -> list[LocalChange]:
            applied = await self._bookings.apply(
                uow,
                integration_id=integration.id,
                sub_account_id=integration.sub_account_id,
                appointment=remote,
                changed_at=remote.date_updated,
            )
            seen.conflicts = applied.conflicts
            return await pending_changes(
                uow.sync, RecordKind.BOOKING, booking.id, ChangeOperation.CANCEL_APPOINTMENT
            )

        left = await self._record(merge)
        result.conflicts += seen.conflicts
        if not left:
            return
        try:
            answer = await self._call(
                left,
                result,
                lambda: self._crm.update_appointment(
                    call,
                    booking.external_id,
                    AppointmentChanges(status=AppointmentStatus.CANCELLED),
                ),
            )
        except _GoneError:
            await self._gone(booking, left)
            return
        if answer is None:
            return

        async def record(uow: UnitOfWork, now: datetime) -> None:
            await self._finish(
                uow, [c.id for c in left], now, versions={c.id: c.version for c in left}
            )
            await self._bookings.apply(
                uow,
                integration_id=integration.id,
                sub_account_id=integration.sub_account_id,
                appointment=answer,
                changed_at=answer.date_updated,
            )
            await self._remember_appointment(uow, integration, answer, now)

        await self._record(record)
        result.pushed += 1

    async def _delete_block_slot(
        self, call: ProviderCall, booking: Booking, deletes: list[LocalChange], result: PushResult
    ) -> None:

        async def delete() -> bool:
            await self._crm.delete_calendar_event(call, booking.external_id)
            return True

        try:
            done = await self._call(deletes, result, delete)
        except _GoneError:
            done = True  # already gone
        if done is None:
            return

        async def record(uow: UnitOfWork, now: datetime) -> None:
            await self._finish(uow, [c.id for c in deletes], now)

        await self._record(record)
        result.pushed += 1

    async def _gone(self, booking: Booking, changes: list[LocalChange]) -> None:
        """The appointment no longer exists at the CRM: the booking is cancelled for good."""

        async def record(uow: UnitOfWork, now: datetime) -> None:
            current = await uow.bookings.get(booking.id)
            if current is not None and current.delete(now=now):
                await uow.bookings.update(current)
            await self._finish(uow, [c.id for c in changes], now, status=ChangeStatus.SUPERSEDED)

        await self._record(record)

    async def _remember_appointment(
        self, uow: UnitOfWork, integration: Integration, appointment: CrmAppointment, now: datetime
    ) -> None:
        values = appointment_values(
            appointment, self._leads.reader.booking_status(appointment.status)
        )
        await self._remember(uow, integration, RecordKind.BOOKING, appointment.id, values, now)

    async def _contact_of(self, booking: Booking) -> str | None:
        """The CRM id of the booking's contact: its lead's (or, for a lead that turned out to
        be a contact another lead mirrors, the one the CRM matched); None while not at the CRM. Raises
        _LeadNeverCreatedError when the CRM refused the lead's contact for good."""
        if not is_provisional(booking.details.contact_external_id):
            return booking.details.contact_external_id
        if booking.lead_id is None:
            raise _LeadNeverCreatedError("the booking has no lead")
        async with self._uow() as uow:
            lead = await uow.leads.get(booking.lead_id)
            if lead is None:
                raise _LeadNeverCreatedError("the booking's lead is gone")
            if lead.on_provider:
                return lead.external_id
            for change in await uow.sync.changes_of(RecordKind.LEAD, lead.id, pending_only=False):
                if change.operation is not ChangeOperation.CREATE_CONTACT:
                    continue
                if change.external_id:
                    return change.external_id
                if change.status is ChangeStatus.FAILED:
                    raise _LeadNeverCreatedError(
                        f"the CRM refused the lead's contact: {change.last_error}"
                    )
        return None

    # --- shared steps ------------------------------------------------------------------------

    async def _load_lead(self, lead_id: str) -> tuple[Lead | None, list[LocalChange]]:
        async with self._uow() as uow:
            return await uow.leads.get(lead_id), await uow.sync.changes_of(RecordKind.LEAD, lead_id)

    async def _load_booking(self, booking_id: str) -> tuple[Booking | None, list[LocalChange]]:
        async with self._uow() as uow:
            return await uow.bookings.get(booking_id), await uow.sync.changes_of(
                RecordKind.BOOKING, booking_id
            )

    async def _arm(self, change: LocalChange, match_key: str | None) -> bool:
        """Record that a create is about to be asked of the CRM; False if the change moved on."""
        try:
            async with self._uow() as uow:
                current = await uow.sync.get_change(change.id)
                if current is None or not current.pending:
                    return False
                current.arm(match_key=match_key, now=self._clock.now())
                await uow.sync.update_change(current)
                await uow.commit()
        except ConcurrencyError:
            return False
        change.uncertain, change.version = current.uncertain, current.version
        return True

    async def _call(
        self,
        changes: Sequence[LocalChange],
        result: PushResult,
        call: Callable[[], Awaitable[T]],
    ) -> T | None:
        """The CRM's answer to `call`, or None when the CRM refused it (recorded on the changes)."""
        ids = [c.id for c in changes]
        creates = any(c.operation.creates for c in changes)
        try:
            answer = await call()
        except (InvalidCredentialsError, ConfigSchemaInvalidError):
            raise  # the integration cannot be called at all: nothing to record on the changes
        except RateLimitExceededError as err:
            await self._retry(ids, err.message, timedelta(seconds=err.retry_after_seconds))
            raise
        except ConnectionFailedError as err:
            # A create may have landed: it stays uncertain, to be looked for first.
            await self._retry(ids, err.message, None, sure_unsent=not creates)
            raise
        except NotFoundError as err:
            if creates:
                await self._refused(ids, err.message, result)
                return None
            raise _GoneError from err
        except DomainError as err:
            await self._refused(ids, err.message, result)
            return None
        return answer

    async def _retry(
        self, ids: Sequence[str], error: str, after: timedelta | None, *, sure_unsent: bool = True
    ) -> None:
        async def record(uow: UnitOfWork, now: datetime) -> None:
            for change in await self._reload_many(uow, ids):
                if not change.operation.creates:
                    change.attempts += 1
                wait = after or self._policy.delay(change.attempts, self._rng)
                change.retry_at(now + wait, error=error, now=now, sure_unsent=sure_unsent)
                await uow.sync.update_change(change)

        await self._record(record)

    async def _refused(
        self, ids: Sequence[str], error: str, result: PushResult, *, final: bool = False
    ) -> None:
        """The CRM refused the changes (or, `final`, they cannot be made): retried up to the last
        attempt, then failed."""

        async def record(uow: UnitOfWork, now: datetime) -> None:
            for change in await self._reload_many(uow, ids):
                if not change.operation.creates:
                    change.attempts += 1
                if final or change.attempts >= self._policy.max_attempts:
                    change.fail(error=error, now=now)
                    result.failures += 1
                else:
                    wait = self._policy.delay(change.attempts, self._rng)
                    change.retry_at(now + wait, error=error, now=now, sure_unsent=True)
                await uow.sync.update_change(change)

        await self._record(record)

    async def _settle(self, changes: Sequence[LocalChange], status: ChangeStatus) -> None:
        if not changes:
            return

        async def record(uow: UnitOfWork, now: datetime) -> None:
            await self._finish(uow, [c.id for c in changes], now, status=status)

        await self._record(record)

    async def _finish(
        self,
        uow: UnitOfWork,
        ids: Sequence[str],
        now: datetime,
        *,
        status: ChangeStatus = ChangeStatus.DONE,
        external_id: str | None = None,
        note: str | None = None,
        versions: dict[str, int] | None = None,
    ) -> None:
        """Settle the changes still pending; with `versions`, only those not changed since
        (a change merged meanwhile is pushed again)."""
        for change in await self._reload_many(uow, ids):
            if versions is not None and change.version != versions.get(change.id):
                continue
            if status is ChangeStatus.DONE:
                change.done(now=now, external_id=external_id, note=note)
            else:
                change.supersede(now=now)
            await uow.sync.update_change(change)

    async def _remember(
        self,
        uow: UnitOfWork,
        integration: Integration,
        kind: RecordKind,
        external_id: str,
        values: dict[str, object],
        now: datetime,
    ) -> None:
        await uow.sync.remember_own_write(
            OwnWrite(
                integration_id=integration.id,
                record_kind=kind,
                external_id=external_id,
                fingerprint=fingerprint(values),
                written_at=now,
                expires_at=now + self._policy.own_write_ttl,
            )
        )

    @staticmethod
    async def _reload_many(uow: UnitOfWork, ids: Sequence[str]) -> list[LocalChange]:
        """The changes, as stored now, that are still pending."""
        found = [await uow.sync.get_change(change_id) for change_id in dict.fromkeys(ids)]
        return [c for c in found if c is not None and c.pending]

    async def _record(self, step: Callable[[UnitOfWork, datetime], Awaitable[T]]) -> T:
        """Run `step` in a transaction and commit, again from a fresh read if a record changed
        meanwhile."""
        for attempt in range(_RECORD_ATTEMPTS):
            try:
                async with self._uow() as uow:
                    value = await step(uow, self._clock.now())
                    await uow.commit()
                    return value
            except ConcurrencyError:
                if attempt == _RECORD_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


@dataclass(slots=True)
class _Seen:
    """What a recording step found; set anew on each try, so a retried step counts once."""

    conflicts: int = 0


class _LeadNeverCreatedError(Exception):
    """A booking's lead will never be at the CRM: the booking cannot be made there either."""


class _GoneError(Exception):
    """The CRM no longer has what a change updates (404)."""


def _opportunity_name(lead: Lead) -> str:
    """A name for the lead's new opportunity (the CRM requires one): the contact's."""
    d = lead.details
    full = " ".join(part for part in (d.first_name, d.last_name) if part)
    return full or d.email or d.phone or "Lead"


async def _has_pending(uow: UnitOfWork, integration_id: str) -> bool:
    return any([await uow.sync.pending_record_ids(integration_id, kind) for kind in RecordKind])


def _first(changes: Sequence[LocalChange], operation: ChangeOperation) -> LocalChange | None:
    return next((c for c in changes if c.operation is operation), None)

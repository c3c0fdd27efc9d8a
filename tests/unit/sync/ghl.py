"""An in-memory GoHighLevel for the sync unit tests: contacts (with a search index that lags),
calendars, appointments and block slots, opportunities and pipelines, scripted failures, and a
log of the calls."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from application.ports import ProviderCall
from application.ports.crm import (
    AppointmentChanges,
    BlockSlot,
    ContactFields,
    ContactPage,
    CrmAccount,
    CrmAppointment,
    CrmCalendar,
    CrmContact,
    CrmOpportunity,
    CrmPipeline,
    NewAppointment,
    NewOpportunity,
    OpportunityPage,
    OpportunityStatus,
    UpsertedContact,
)
from domain.errors import NotFoundError

_CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "address1",
    "city",
    "state",
    "postal_code",
    "country",
)


@dataclass
class Call:
    method: str
    args: dict[str, object] = field(default_factory=dict)


class InMemoryGhl:
    """CrmApi in memory. `now` stamps changes; `index_lag` hides contacts changed less than
    that long ago from searches (GHL's search index lags its writes); `failures[method]` is a
    list of exceptions raised by the next calls of that method (and `after_failures[method]`
    raised after the call took effect: an answer lost on the way back)."""

    def __init__(self, now: Callable[[], datetime], *, location_id: str = "loc-1") -> None:
        self.now = now
        self.location_id = location_id
        self.contacts: dict[str, CrmContact] = {}
        self.appointments: dict[str, CrmAppointment] = {}
        self.blocks: dict[str, BlockSlot] = {}
        self.calendars = [CrmCalendar(id="cal-1", location_id=location_id, name="Main")]
        self.opportunities: dict[str, CrmOpportunity] = {}
        self.pipelines = [CrmPipeline(id="pipe-1", name="Sales", stage_ids=("stage-1", "stage-2"))]
        self.index_lag = timedelta(0)
        self.unindexed: set[str] = set()
        """Contacts the search index has not caught up with yet, whatever their time."""
        self.failures: dict[str, list[Exception]] = {}
        self.after_failures: dict[str, list[Exception]] = {}
        self.calls: list[Call] = []
        self.fail_on: dict[tuple[str, int], Exception] = {}
        """(method, n): the n-th call of that method (counting from 1) raises."""
        self._ids = itertools.count(1)

    # --- test helpers ------------------------------------------------------------------------

    def add_contact(self, **fields: object) -> CrmContact:
        now = self.now()
        fields.setdefault("id", self._new_id("c"))
        fields.setdefault("date_added", now)
        fields.setdefault("date_updated", now)
        contact = CrmContact(location_id=self.location_id, **fields)  # type: ignore[arg-type]
        self.contacts[contact.id] = contact
        return contact

    def edit_contact(self, contact_id: str, **fields: object) -> CrmContact:
        contact = replace(self.contacts[contact_id], date_updated=self.now(), **fields)  # type: ignore[arg-type]
        self.contacts[contact_id] = contact
        return contact

    def add_appointment(self, **fields: object) -> CrmAppointment:
        now = self.now()
        fields.setdefault("id", self._new_id("a"))
        fields.setdefault("calendar_id", "cal-1")
        fields.setdefault("status", "confirmed")
        fields.setdefault("date_added", now)
        fields.setdefault("date_updated", now)
        appointment = CrmAppointment(location_id=self.location_id, **fields)  # type: ignore[arg-type]
        self.appointments[appointment.id] = appointment
        return appointment

    def edit_appointment(self, appointment_id: str, **fields: object) -> CrmAppointment:
        appointment = replace(
            self.appointments[appointment_id],
            date_updated=self.now(),
            **fields,  # type: ignore[arg-type]
        )
        self.appointments[appointment_id] = appointment
        return appointment

    def add_opportunity(self, **fields: object) -> CrmOpportunity:
        fields.setdefault("id", self._new_id("o"))
        fields.setdefault("pipeline_id", "pipe-1")
        fields.setdefault("status", "open")
        fields.setdefault("updated_at", self.now())
        opportunity = CrmOpportunity(location_id=self.location_id, **fields)  # type: ignore[arg-type]
        self.opportunities[opportunity.id] = opportunity
        return opportunity

    def edit_opportunity(self, opportunity_id: str, **fields: object) -> CrmOpportunity:
        opportunity = replace(
            self.opportunities[opportunity_id],
            updated_at=self.now(),
            **fields,  # type: ignore[arg-type]
        )
        self.opportunities[opportunity_id] = opportunity
        return opportunity

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):05d}"

    def _enter(self, method: str, **args: object) -> None:
        self.calls.append(Call(method, args))
        failure = self.fail_on.pop((method, len(self.called(method))), None)
        if failure is not None:
            raise failure
        pending = self.failures.get(method)
        if pending:
            raise pending.pop(0)

    def _leave(self, method: str) -> None:
        pending = self.after_failures.get(method)
        if pending:
            raise pending.pop(0)

    # --- CrmApi ------------------------------------------------------------------------------

    async def get_account(self, call: ProviderCall) -> CrmAccount:
        self._enter("get_account")
        return CrmAccount(id=self.location_id, name="Clinic", timezone="America/Chicago")

    async def get_contact(self, call: ProviderCall, contact_id: str) -> CrmContact:
        self._enter("get_contact", contact_id=contact_id)
        if contact_id not in self.contacts:
            raise NotFoundError("contact", contact_id)
        return self.contacts[contact_id]

    async def upsert_contact(self, call: ProviderCall, fields: ContactFields) -> UpsertedContact:
        self._enter("upsert_contact", fields=fields)
        match = next(
            (
                c
                for c in self.contacts.values()
                if (fields.email and c.email == fields.email)
                or (fields.phone and c.phone == fields.phone)
            ),
            None,
        )
        if match is None:
            contact = self.add_contact(**_written(fields))
        else:
            contact = self.edit_contact(match.id, **_written(fields))
        self._leave("upsert_contact")
        return UpsertedContact(contact=contact, created=match is None)

    async def update_contact(
        self, call: ProviderCall, contact_id: str, fields: ContactFields
    ) -> CrmContact:
        self._enter("update_contact", contact_id=contact_id, fields=fields)
        if contact_id not in self.contacts:
            raise NotFoundError("contact", contact_id)
        contact = self.edit_contact(contact_id, **_written(fields))
        self._leave("update_contact")
        return contact

    async def search_contacts(
        self,
        call: ProviderCall,
        *,
        query: str | None = None,
        page_size: int = 100,
        cursor: str | None = None,
        updated_since: datetime | None = None,
    ) -> ContactPage:
        self._enter("search_contacts", updated_since=updated_since, cursor=cursor)
        visible_before = self.now() - self.index_lag
        found = sorted(
            (
                c
                for c in self.contacts.values()
                if c.date_updated is not None
                and c.date_updated <= visible_before
                and c.id not in self.unindexed
                and (updated_since is None or c.date_updated >= updated_since)
            ),
            key=lambda c: (c.date_updated, c.id),
        )
        start = int(cursor or 0)
        page = found[start : start + page_size]
        more = start + page_size < len(found)
        return ContactPage(
            contacts=tuple(page),
            total=len(found),
            next_cursor=str(start + page_size) if more else None,
        )

    async def list_calendars(self, call: ProviderCall) -> list[CrmCalendar]:
        self._enter("list_calendars")
        return list(self.calendars)

    async def list_appointments(
        self, call: ProviderCall, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[CrmAppointment]:
        self._enter("list_appointments", calendar_id=calendar_id, start=start, end=end)
        return [
            a
            for a in self.appointments.values()
            if a.calendar_id == calendar_id and a.start is not None and start <= a.start <= end
        ]

    async def list_block_slots(
        self, call: ProviderCall, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[BlockSlot]:
        self._enter("list_block_slots", calendar_id=calendar_id)
        return [
            b
            for b in self.blocks.values()
            if b.calendar_id == calendar_id and start <= b.start <= end
        ]

    async def create_appointment(
        self, call: ProviderCall, appointment: NewAppointment
    ) -> CrmAppointment:
        self._enter("create_appointment", appointment=appointment)
        created = self.add_appointment(
            calendar_id=appointment.calendar_id,
            contact_id=appointment.contact_id,
            start=appointment.start,
            end=appointment.end,
            title=appointment.title,
        )
        self._leave("create_appointment")
        return replace(created, date_added=None, date_updated=None)  # as GHL answers (#246)

    async def update_appointment(
        self, call: ProviderCall, appointment_id: str, changes: AppointmentChanges
    ) -> CrmAppointment:
        self._enter("update_appointment", appointment_id=appointment_id, changes=changes)
        if appointment_id not in self.appointments:
            raise NotFoundError("appointment", appointment_id)
        status = changes.status.value if changes.status else None
        updated = self.edit_appointment(appointment_id, **({"status": status} if status else {}))
        return replace(updated, date_added=None, date_updated=None)

    async def get_appointment(self, call: ProviderCall, appointment_id: str) -> CrmAppointment:
        self._enter("get_appointment", appointment_id=appointment_id)
        if appointment_id not in self.appointments:
            raise NotFoundError("appointment", appointment_id)
        return self.appointments[appointment_id]

    async def create_block_slot(
        self,
        call: ProviderCall,
        calendar_id: str,
        *,
        start: datetime,
        end: datetime,
        title: str | None = None,
    ) -> BlockSlot:
        self._enter("create_block_slot", calendar_id=calendar_id, start=start)
        block = BlockSlot(
            id=self._new_id("b"),
            location_id=self.location_id,
            calendar_id=calendar_id,
            title=title,
            start=start,
            end=end,
        )
        self.blocks[block.id] = block
        self._leave("create_block_slot")
        return block

    async def delete_calendar_event(self, call: ProviderCall, event_id: str) -> None:
        self._enter("delete_calendar_event", event_id=event_id)
        if (
            self.blocks.pop(event_id, None) is None
            and self.appointments.pop(event_id, None) is None
        ):
            raise NotFoundError("calendar event", event_id)

    async def get_opportunity(self, call: ProviderCall, opportunity_id: str) -> CrmOpportunity:
        self._enter("get_opportunity", opportunity_id=opportunity_id)
        if opportunity_id not in self.opportunities:
            raise NotFoundError("opportunity", opportunity_id)
        return self.opportunities[opportunity_id]

    async def search_opportunities(
        self,
        call: ProviderCall,
        *,
        contact_id: str | None = None,
        page_size: int = 100,
        cursor: str | None = None,
    ) -> OpportunityPage:
        """In id order, `page_size` at a time (the cursor: the last id of the page before)."""
        self._enter("search_opportunities", contact_id=contact_id, cursor=cursor)
        found = sorted(
            (
                o
                for o in self.opportunities.values()
                if (contact_id is None or o.contact_id == contact_id)
                and (cursor is None or o.id > cursor)
            ),
            key=lambda o: o.id,
        )
        page = found[:page_size]
        more = len(found) > page_size
        return OpportunityPage(opportunities=tuple(page), next_cursor=page[-1].id if more else None)

    async def create_opportunity(
        self, call: ProviderCall, opportunity: NewOpportunity
    ) -> CrmOpportunity:
        self._enter("create_opportunity", opportunity=opportunity)
        created = self.add_opportunity(
            contact_id=opportunity.contact_id,
            name=opportunity.name,
            pipeline_id=opportunity.pipeline_id,
            pipeline_stage_id=opportunity.pipeline_stage_id,
            status=opportunity.status.value,
        )
        self._leave("create_opportunity")
        return created

    async def update_opportunity_status(
        self,
        call: ProviderCall,
        opportunity_id: str,
        status: OpportunityStatus,
        *,
        lost_reason_id: str | None = None,
    ) -> None:
        self._enter("update_opportunity_status", opportunity_id=opportunity_id, status=status)
        if opportunity_id not in self.opportunities:
            raise NotFoundError("opportunity", opportunity_id)
        self.edit_opportunity(opportunity_id, status=status.value)
        self._leave("update_opportunity_status")

    async def list_pipelines(self, call: ProviderCall) -> list[CrmPipeline]:
        self._enter("list_pipelines")
        return list(self.pipelines)


def _written(fields: ContactFields) -> dict[str, object]:
    """What a write changes: the fields given (an empty string clears one)."""
    changes: dict[str, object] = {
        name: getattr(fields, name) or None
        for name in _CONTACT_FIELDS
        if getattr(fields, name) is not None
    }
    if fields.tags is not None:
        changes["tags"] = tuple(fields.tags)
    return changes

"""Sync's use cases wired on the in-memory fakes and an in-memory GoHighLevel."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from adapters.ghl.location_settings import CachedGhlLocationSettings
from adapters.ghl.payloads import GhlPayloads
from adapters.ghl.templates import TEMPLATE_NAMES as GHL_TEMPLATE_NAMES
from application.booking_sync import BookingSync
from application.lead_sync import LeadSync
from application.opportunity_sync import OpportunitySync
from application.ports import (
    AssignedUser,
    HandlerOutcome,
    InboundEvent,
    PreparingHandler,
    ProviderCall,
    SecretBinding,
)
from application.ports.crm import CrmApi, CrmAppointment, CrmContact, CrmOpportunity
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from application.sync_records import ConflictRecord, LocalChange, SyncRun
from application.use_cases.cancel_booking import CancelBooking
from application.use_cases.create_booking import CreateBooking
from application.use_cases.create_lead import CreateLead
from application.use_cases.handle_appointment import HandleAppointmentEvent
from application.use_cases.handle_contact import HandleContactEvent
from application.use_cases.handle_opportunity import HandleOpportunityEvent
from application.use_cases.push_changes import PushPendingChanges
from application.use_cases.sync_integration import (
    SyncIntegration,
    SyncIntegrationCommand,
    SyncPolicy,
)
from application.use_cases.update_lead import UpdateLead
from domain.booking import Booking
from domain.events import DomainEvent
from domain.integration import Integration
from domain.lead import Lead
from domain.values import Principal, Role, SecretStr
from domain.webhook_delivery import EventKind
from tests.fakes import (
    FakeCipher,
    FakeTenantDirectory,
    FakeTimezoneResolver,
    FakeUnitOfWorkFactory,
    FixedClock,
    SequentialIds,
)
from tests.support.builders import a_template
from tests.support.sync_fakes import InMemorySyncLeases
from tests.unit.sync.ghl import InMemoryGhl

SUB_ACCOUNT = "sa-1"
SERVICE = Principal("svc-booking", Role.SERVICE, SUB_ACCOUNT)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Sync:
    uow: FakeUnitOfWorkFactory
    clock: FixedClock
    ghl: InMemoryGhl
    leases: InMemorySyncLeases
    integration: Integration
    leads: LeadSync
    bookings: BookingSync
    opportunities: OpportunitySync
    push: PushPendingChanges
    sync: SyncIntegration
    create_lead: CreateLead
    update_lead: UpdateLead
    create_booking: CreateBooking
    cancel_booking: CancelBooking
    contacts: HandleContactEvent
    appointments: HandleAppointmentEvent
    opportunity_events: HandleOpportunityEvent
    sleeps: list[float] = field(default_factory=list)

    async def deliver(self, kind: EventKind, payload: dict[str, Any]) -> HandlerOutcome:
        """Run a webhook's handler as the inbox worker does."""
        handler: Any = (
            self.contacts
            if kind.value.startswith("contact.")
            else self.opportunity_events
            if kind.value.startswith("opportunity.")
            else self.appointments
        )
        event = InboundEvent(
            delivery_id=f"d-{len(self.uow.outbox)}-{self.clock.now().timestamp()}",
            integration_id=self.integration.id,
            sub_account_id=SUB_ACCOUNT,
            kind=kind,
            event_type=str(payload.get("type", kind.value)),
            payload=payload,
            received_at=self.clock.now(),
        )
        if isinstance(handler, PreparingHandler):
            event = await handler.prepare(self.uow, event)
        async with self.uow() as uow:
            outcome: HandlerOutcome = await handler.handle(uow, event)
            await uow.commit()
        return outcome

    def lead(self, lead_id: str) -> Lead:
        return self.uow.store.leads[lead_id]

    def booking(self, booking_id: str) -> Booking:
        return self.uow.store.bookings[booking_id]

    @property
    def all_leads(self) -> list[Lead]:
        return list(self.uow.store.leads.values())

    @property
    def changes(self) -> list[LocalChange]:
        return sorted(self.uow.store.sync.changes.values(), key=lambda c: (c.created_at, c.id))

    def events(self, *types: type[DomainEvent]) -> list[DomainEvent]:
        return [e for e in self.uow.outbox if not types or isinstance(e, types)]

    async def stored_integration(self) -> Integration:
        async with self.uow() as uow:
            found = await uow.integrations.get(self.integration.id)
        assert found is not None
        return found


async def make_sync(*, calendar: bool = True) -> Sync:
    uow = FakeUnitOfWorkFactory()
    clock = FixedClock(START)
    ids = SequentialIds()
    cipher = FakeCipher()
    ghl = InMemoryGhl(clock.now)
    template = a_template()
    config: dict[str, Any] = {"locationId": "loc-1"}
    if calendar:
        config["calendarId"] = "cal-1"
    integration = Integration.create(
        id="int-1",
        sub_account_id=SUB_ACCOUNT,
        template_id=template.id,
        template_name=template.name,
        name="CRM",
        config=config,
        now=clock.now(),
    )
    integration.secrets["apiKey"] = await cipher.encrypt(
        SecretBinding(SUB_ACCOUNT, integration.id, "apiKey"), SecretStr("pit-test-token")
    )
    integration.activate(now=clock.now())
    async with uow() as setup:
        await setup.templates.add(template)
        await setup.integrations.add(integration)
        await setup.commit()
    uow.store.outbox.clear()
    api = cast("CrmApi", ghl)
    leases = InMemorySyncLeases(uow.store.integrations)
    leads = LeadSync(
        reader=GhlPayloads(),
        directory=FakeTenantDirectory({SUB_ACCOUNT: AssignedUser("u-ana", "strategy-fast")}),
        timezones=FakeTimezoneResolver(),
        accounts=CachedGhlLocationSettings(api, clock=clock),
        cipher=cipher,
        ids=ids,
        clock=clock,
    )
    bookings = BookingSync(reader=GhlPayloads(), ids=ids, clock=clock)
    opportunities = OpportunitySync(reader=GhlPayloads(), ids=ids, clock=clock)
    push = PushPendingChanges(
        uow=uow,
        crm=api,
        cipher=cipher,
        leads=leads,
        bookings=bookings,
        opportunities=opportunities,
        leases=leases,
        ids=ids,
        clock=clock,
        rng=random.Random(1),
    )
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    sync = SyncIntegration(
        crm_templates=GHL_TEMPLATE_NAMES,
        uow=uow,
        crm=api,
        cipher=cipher,
        leads=leads,
        bookings=bookings,
        opportunities=opportunities,
        push=push,
        leases=leases,
        ids=ids,
        clock=clock,
        policy=SyncPolicy(page_size=2, opportunity_page_size=2),
        sleep=sleep,
    )
    return Sync(
        uow=uow,
        clock=clock,
        ghl=ghl,
        leases=leases,
        integration=integration,
        leads=leads,
        bookings=bookings,
        opportunities=opportunities,
        push=push,
        sync=sync,
        create_lead=CreateLead(uow=uow, leads=leads, ids=ids, clock=clock),
        update_lead=UpdateLead(uow=uow, ids=ids, clock=clock, crm_templates=GHL_TEMPLATE_NAMES),
        create_booking=CreateBooking(uow=uow, ids=ids, clock=clock),
        cancel_booking=CancelBooking(uow=uow, ids=ids, clock=clock),
        contacts=HandleContactEvent(leads=leads),
        appointments=HandleAppointmentEvent(reader=GhlPayloads(), ids=ids, clock=clock),
        opportunity_events=HandleOpportunityEvent(
            leads=leads, opportunities=opportunities, crm=api, cipher=cipher
        ),
        sleeps=sleeps,
    )


def contact_payload(contact: CrmContact, event_type: str = "ContactUpdate") -> dict[str, Any]:
    """The webhook GHL sends about a contact (flat fields, as the fake sends them)."""
    fields = {
        "id": contact.id,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "companyName": contact.company_name,
        "city": contact.city,
        "tags": list(contact.tags),
        "dateAdded": contact.date_added.isoformat() if contact.date_added else None,
        "dateUpdated": contact.date_updated.isoformat() if contact.date_updated else None,
    }
    return {
        "type": event_type,
        "locationId": contact.location_id,
        **{k: v for k, v in fields.items() if v is not None},
    }


def appointment_payload(
    appointment: CrmAppointment, event_type: str = "AppointmentUpdate"
) -> dict[str, Any]:
    assert appointment.start is not None
    assert appointment.end is not None
    body = {
        "id": appointment.id,
        "calendarId": appointment.calendar_id,
        "contactId": appointment.contact_id,
        "title": appointment.title,
        "appointmentStatus": appointment.status,
        "startTime": appointment.start.isoformat(),
        "endTime": appointment.end.isoformat(),
    }
    if appointment.date_updated is not None:
        body["dateUpdated"] = appointment.date_updated.isoformat()
    return {"type": event_type, "locationId": appointment.location_id, "appointment": body}


async def run_sync(app: Sync) -> SyncRun:
    result = await app.sync.execute(SyncIntegrationCommand(integration_id=app.integration.id))
    return result.run


async def provider_call_of(app: Sync) -> ProviderCall:
    async with app.uow() as uow:
        return await provider_call(
            uow, app.leads.cipher, app.integration, priority=Priority.BACKGROUND
        )


async def conflicts_of(app: Sync) -> list[ConflictRecord]:
    async with app.uow() as uow:
        return await uow.sync.list_conflicts(app.integration.id, limit=100)


def opportunity_payload(
    opportunity: CrmOpportunity, event_type: str = "OpportunityStatusUpdate"
) -> dict[str, Any]:
    """The webhook GHL sends about an opportunity (flat fields; the envelope's timestamp)."""
    assert opportunity.updated_at is not None
    return {
        "type": event_type,
        "locationId": opportunity.location_id,
        "id": opportunity.id,
        "contactId": opportunity.contact_id,
        "pipelineId": opportunity.pipeline_id,
        "status": opportunity.status,
        "timestamp": opportunity.updated_at.isoformat(),
    }

"""The webhook GHL sends back for a write this service made is recognised and changes nothing."""

from __future__ import annotations

from datetime import timedelta

from application.ports import HandlerOutcome
from application.sync_records import ChangeStatus
from application.use_cases.create_booking import CreateBookingCommand
from application.use_cases.create_lead import CreateLeadCommand
from application.use_cases.update_lead import UpdateLeadCommand
from domain.errors import ConnectionFailedError
from domain.events import BookingUpdated, LeadCaptured, LeadUpdated
from domain.lead import ContactDetails
from domain.webhook_delivery import EventKind
from tests.unit.sync.support import (
    SERVICE,
    START,
    Sync,
    appointment_payload,
    contact_payload,
    provider_call_of,
    run_sync,
)


async def test_the_echo_of_a_pushed_update_is_ignored_and_not_pushed_back(app: Sync) -> None:
    contact = app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=1)
    await run_sync(app)
    [lead] = app.all_leads
    await app.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=lead.id,
            changes={"first_name": "Ada L."},
        )
    )
    await app.push.push(app.integration, await provider_call_of(app))
    events_before = len(app.events())
    assert len(app.uow.store.sync.own_writes) == 1  # remembered as this service's write

    echo = contact_payload(app.ghl.contacts[contact.id])
    outcome = await app.deliver(EventKind.CONTACT_UPDATED, echo)

    assert outcome is HandlerOutcome.IGNORED
    assert app.uow.store.sync.own_writes == {}  # recognised as its echo
    assert len(app.events()) == events_before
    assert [c.status for c in app.changes] == [ChangeStatus.DONE]
    assert len(app.ghl.called("update_contact")) == 1
    # Recognised once: the same payload again is an ordinary (no-op) delivery.
    assert await app.deliver(EventKind.CONTACT_UPDATED, echo) is HandlerOutcome.IGNORED


async def test_the_echo_of_a_created_contact_is_ignored_and_leaves_one_lead(app: Sync) -> None:
    view = await app.create_lead.execute(
        CreateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            details=ContactDetails(first_name="Neo", email="neo@example.com"),
        )
    )
    await app.push.push(app.integration, await provider_call_of(app))
    [contact] = app.ghl.contacts.values()

    outcome = await app.deliver(
        EventKind.CONTACT_CREATED, contact_payload(contact, "ContactCreate")
    )

    assert outcome is HandlerOutcome.IGNORED
    [lead] = app.all_leads
    assert (lead.id, lead.external_id) == (view.id, contact.id)
    assert len(app.events(LeadCaptured)) == 1


async def test_a_create_webhook_that_beats_the_push_record_links_the_lead_made_here(
    app: Sync,
) -> None:
    view = await app.create_lead.execute(
        CreateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            details=ContactDetails(first_name="Neo", email="neo@example.com"),
        )
    )
    # GHL creates the contact, but its answer never arrives.
    app.ghl.after_failures["upsert_contact"] = [ConnectionFailedError("connection dropped")]
    push = await _push_failing(app)
    assert push is ConnectionFailedError
    [contact] = app.ghl.contacts.values()

    outcome = await app.deliver(
        EventKind.CONTACT_CREATED, contact_payload(contact, "ContactCreate")
    )

    assert outcome is HandlerOutcome.APPLIED
    [lead] = app.all_leads
    assert (lead.id, lead.external_id) == (view.id, contact.id)
    [change] = app.changes
    assert (change.status, change.external_id) == (ChangeStatus.DONE, contact.id)
    app.clock.advance(hours=1)
    assert (await app.push.push(app.integration, await provider_call_of(app))).pushed == 0
    assert len(app.ghl.contacts) == 1


async def test_the_echo_of_a_booked_appointment_is_ignored(app: Sync) -> None:
    app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=1)
    await run_sync(app)
    [lead] = app.all_leads
    booked = await app.create_booking.execute(
        CreateBookingCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=lead.id,
            start=START + timedelta(days=1),
            end=START + timedelta(days=1, minutes=30),
            title="Consultation",
        )
    )
    await app.push.push(app.integration, await provider_call_of(app))
    [appointment] = app.ghl.appointments.values()
    updates = len(app.events(BookingUpdated))

    outcome = await app.deliver(
        EventKind.APPOINTMENT_CREATED, appointment_payload(appointment, "AppointmentCreate")
    )

    assert outcome is HandlerOutcome.IGNORED
    assert app.uow.store.sync.own_writes == {}
    assert app.booking(booked.id).external_id == appointment.id
    assert len(app.uow.store.bookings) == 1
    assert len(app.events(BookingUpdated)) == updates
    assert not app.events(LeadUpdated)


async def _push_failing(app: Sync) -> type[Exception] | None:
    try:
        await app.push.push(app.integration, await provider_call_of(app))
    except Exception as err:
        return type(err)
    return None

"""Changes made here, pushed to the fake GHL; both sides changed at once; the echoes of the
service's own writes; GHL failing in the middle of a run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from adapters.ghl.fake.faults import ScriptedFault
from adapters.persistence.models import SYNC_CONFLICTS
from application.ports.crm import ContactFields
from application.sync_records import RunStatus
from application.use_cases.cancel_booking import CancelBookingCommand
from application.use_cases.create_booking import CreateBookingCommand
from application.use_cases.create_lead import CreateLeadCommand
from application.use_cases.update_lead import UpdateLeadCommand
from domain.lead import ContactDetails
from tests.integration.ghl.support import pit_auth
from tests.integration.sync.support import (
    CALENDAR,
    SERVICE,
    SyncStack,
    add_contacts,
    ghl_time,
)

APPOINTMENTS = "/calendars/events/appointments"


async def create_lead(stack: SyncStack, email: str = "neo@example.com") -> str:
    view = await stack.create_lead.execute(
        CreateLeadCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            details=ContactDetails(first_name="Neo", last_name="Anderson", email=email),
        )
    )
    return view.id


async def book(stack: SyncStack, lead_id: str) -> str:
    start = (stack.clock.now() + timedelta(days=3)).replace(minute=0, second=0)
    view = await stack.create_booking.execute(
        CreateBookingCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            lead_id=lead_id,
            start=start,
            end=start + timedelta(minutes=30),
            title="Consultation",
            ignore_free_slot_validation=True,
        )
    )
    return view.id


async def lead_of(stack: SyncStack, lead_id: str) -> Any:
    async with stack.uow() as uow:
        return await uow.leads.get(lead_id)


async def booking_of(stack: SyncStack, booking_id: str) -> Any:
    async with stack.uow() as uow:
        return await uow.bookings.get(booking_id)


def appointments_at_ghl(stack: SyncStack) -> list[dict[str, Any]]:
    return [e for e in stack.fake.state.events.values() if e.get("kind") == "appointment"]


async def test_leads_and_bookings_made_here_land_at_ghl_with_their_ids_stored(
    stack: SyncStack,
) -> None:
    lead_id = await create_lead(stack)
    booking_id = await book(stack, lead_id)

    run = await stack.run()

    assert (run.status, run.pushed) == (RunStatus.SUCCEEDED, 2)
    [contact] = stack.fake.state.contacts.values()
    [appointment] = appointments_at_ghl(stack)
    assert (contact["email"], contact["firstName"]) == ("neo@example.com", "Neo")
    assert (appointment["contactId"], appointment["calendarId"]) == (contact["id"], CALENDAR)
    assert (await lead_of(stack, lead_id)).external_id == contact["id"]
    assert (await booking_of(stack, booking_id)).external_id == appointment["id"]

    await stack.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            lead_id=lead_id,
            changes={"city": "Zion", "company": "Nebuchadnezzar"},
        )
    )
    await stack.cancel_booking.execute(
        CancelBookingCommand(
            actor=SERVICE, integration_id=stack.integration.id, booking_id=booking_id
        )
    )
    stack.clock.advance(minutes=1)
    run = await stack.run()

    assert run.pushed == 2
    contact = stack.fake.state.contacts[contact["id"]]
    assert (contact["city"], contact["companyName"]) == ("Zion", "Nebuchadnezzar")
    assert appointments_at_ghl(stack)[0]["appointmentStatus"] == "cancelled"
    assert len(stack.fake.state.contacts) == 1


async def test_a_field_changed_on_both_sides_goes_to_the_newer_change_and_is_recorded(
    stack: SyncStack,
) -> None:
    add_contacts(stack.fake, 1, changed=stack.clock.now() - timedelta(hours=1))
    await stack.run()
    [contact_id] = stack.fake.state.contacts
    async with stack.uow() as uow:
        lead = await uow.leads.get_by_external_id(stack.integration.id, contact_id)
    assert lead is not None

    # Here: email and first name; at GHL, thirty seconds later: email and city.
    await stack.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            lead_id=lead.id,
            changes={"email": "mine@example.com", "first_name": "Mine"},
        )
    )
    stack.fake.state.contacts[contact_id].update(
        email="theirs@example.com",
        city="Austin",
        dateUpdated=ghl_time(stack.clock.now() + timedelta(seconds=30)),
    )
    stack.clock.advance(minutes=1)

    run = await stack.run()

    assert (run.status, run.conflicts, run.pushed) == (RunStatus.SUCCEEDED, 1, 1)
    at_ghl = stack.fake.state.contacts[contact_id]
    assert (at_ghl["email"], at_ghl["firstName"], at_ghl["city"]) == (
        "theirs@example.com",
        "Mine",
        "Austin",
    )
    here = (await lead_of(stack, lead.id)).details
    assert (here.email, here.first_name, here.city) == ("theirs@example.com", "Mine", "Austin")
    async with stack.engine.connect() as connection:
        [row] = (await connection.execute(select(SYNC_CONFLICTS))).all()
    assert (row.fields, row.winners) == (["email"], {"email": "remote"})
    assert (row.local["email"], row.remote["email"]) == ("mine@example.com", "theirs@example.com")


async def test_the_webhooks_ghl_sends_back_for_the_services_writes_are_not_bounced(
    stack: SyncStack,
) -> None:
    lead_id = await create_lead(stack)
    await stack.run()
    lead = await lead_of(stack, lead_id)
    await stack.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            lead_id=lead_id,
            changes={"city": "Zion"},
        )
    )
    stack.clock.advance(minutes=1)
    await stack.run()
    written = await lead_of(stack, lead_id)

    statuses = await stack.deliver_webhooks()

    assert statuses == ["ignored", "ignored"]  # ContactCreate and ContactUpdate: our echoes
    assert (await lead_of(stack, lead_id)).version == written.version
    assert await stack.leads_count() == 1
    assert stack.ghl_requests("POST", "/contacts/upsert") == 1
    assert stack.ghl_requests("PUT", f"/contacts/{lead.external_id}") == 1

    # A change somebody makes at GHL still comes through.
    await stack.client.update_contact(
        pit_auth(), lead.external_id, ContactFields(first_name="Thomas")
    )
    assert (await stack.deliver_webhooks())[-1] == "done"
    assert (await lead_of(stack, lead_id)).details.first_name == "Thomas"


async def test_ghl_failing_in_the_middle_of_a_run_leaves_no_duplicate_on_either_side(
    stack: SyncStack,
) -> None:
    add_contacts(stack.fake, 300, changed=stack.clock.now() - timedelta(hours=1))
    lead_id = await create_lead(stack)
    booking_id = await book(stack, lead_id)
    stack.fake.inject(
        # GHL books the appointment, but its answer is lost on the way back...
        ScriptedFault(kind="lost_answer", method="POST", path_prefix=APPOINTMENTS),
        # ...then its search fails through the client's every retry, once.
        ScriptedFault(status=503, count=4, path_prefix="/contacts/search"),
    )

    run = await stack.run()

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 3)
    [appointment] = appointments_at_ghl(stack)
    assert (await booking_of(stack, booking_id)).external_id == appointment["id"]
    assert len(stack.fake.state.contacts) == 301
    assert await stack.leads_count() == 301
    assert await stack.bookings_count() == 1

    stack.clock.advance(hours=1)  # past any retry of the appointment's create
    await stack.run()
    assert stack.ghl_requests("POST", APPOINTMENTS) == 1
    assert len(appointments_at_ghl(stack)) == 1


async def test_a_block_slot_whose_answer_was_lost_is_found_and_its_cancellation_frees_it(
    stack: SyncStack,
) -> None:
    lead_id = await create_lead(stack)
    start = (stack.clock.now() + timedelta(days=2)).replace(minute=0, second=0)
    view = await stack.create_booking.execute(
        CreateBookingCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            lead_id=lead_id,
            start=start,
            end=start + timedelta(hours=1),
            title="Held for Neo",
            block_slot=True,
        )
    )
    stack.fake.inject(
        ScriptedFault(kind="lost_answer", method="POST", path_prefix="/calendars/events/block")
    )
    run = await stack.run()
    # The block may have landed: it waits (backoff), and the run's retry goes on without it.
    assert (run.status, run.attempts, run.pushed) == (RunStatus.SUCCEEDED, 2, 1)

    stack.clock.advance(hours=1)
    await stack.run()

    blocks = [e for e in stack.fake.state.events.values() if e.get("kind") == "block"]
    assert [b["title"] for b in blocks] == ["Held for Neo"]
    assert stack.ghl_requests("POST", "/calendars/events/block-slots") == 1
    assert stack.ghl_requests("GET", "/calendars/blocked-slots") == 1
    assert (await booking_of(stack, view.id)).external_id == blocks[0]["id"]

    await stack.cancel_booking.execute(
        CancelBookingCommand(actor=SERVICE, integration_id=stack.integration.id, booking_id=view.id)
    )
    stack.clock.advance(minutes=1)
    await stack.run()

    assert [e for e in stack.fake.state.events.values() if e.get("kind") == "block"] == []

"""The push: changes made here land at GHL exactly once, in order, retried until they do."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.sync_records import ChangeOperation, ChangeStatus, OwnWrite
from application.use_cases.cancel_booking import CancelBookingCommand
from application.use_cases.create_booking import CreateBookingCommand
from application.use_cases.create_lead import CreateLeadCommand
from application.use_cases.update_lead import UpdateLeadCommand
from domain.booking import BookingStatus
from domain.errors import (
    ConfigSchemaInvalidError,
    ConnectionFailedError,
    ProviderError,
    RateLimitExceededError,
)
from domain.lead import ContactDetails
from tests.unit.sync.support import SERVICE, START, Sync, provider_call_of, run_sync

TOMORROW = START + timedelta(days=1)


async def create_lead(app: Sync, email: str = "neo@example.com") -> str:
    view = await app.create_lead.execute(
        CreateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            details=ContactDetails(first_name="Neo", email=email, tags=("vip",)),
        )
    )
    return view.id


async def book(app: Sync, lead_id: str, *, block_slot: bool = False) -> str:
    view = await app.create_booking.execute(
        CreateBookingCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=lead_id,
            start=TOMORROW,
            end=TOMORROW + timedelta(minutes=30),
            title="Consultation",
            block_slot=block_slot,
        )
    )
    return view.id


async def push(app: Sync) -> tuple[int, int]:
    result = await app.push.push(app.integration, await provider_call_of(app))
    return result.pushed, result.failures


async def test_a_lead_created_here_is_upserted_at_ghl_and_takes_its_id(app: Sync) -> None:
    lead_id = await create_lead(app)
    assert app.lead(lead_id).on_provider is False

    assert await push(app) == (1, 0)

    [contact] = app.ghl.contacts.values()
    assert (contact.first_name, contact.email, contact.tags) == ("Neo", "neo@example.com", ("vip",))
    lead = app.lead(lead_id)
    assert (lead.external_id, lead.external_updated_at) == (contact.id, contact.date_updated)
    [change] = app.changes
    assert (change.status, change.external_id) == (ChangeStatus.DONE, contact.id)
    [written] = app.uow.store.sync.own_writes.values()
    assert isinstance(written, OwnWrite)
    assert written.external_id == contact.id
    assert await push(app) == (0, 0)  # nothing left
    assert len(app.ghl.called("upsert_contact")) == 1


async def test_a_booking_of_a_lead_made_here_goes_after_its_contact_with_the_contacts_id(
    app: Sync,
) -> None:
    lead_id = await create_lead(app)
    booking_id = await book(app, lead_id)

    assert await push(app) == (2, 0)

    [contact] = app.ghl.contacts.values()
    [appointment] = app.ghl.appointments.values()
    assert (appointment.contact_id, appointment.start, appointment.title) == (
        contact.id,
        TOMORROW,
        "Consultation",
    )
    booking = app.booking(booking_id)
    assert (booking.external_id, booking.details.contact_external_id) == (
        appointment.id,
        contact.id,
    )


async def test_an_appointment_whose_answer_was_lost_is_found_not_booked_twice(app: Sync) -> None:
    lead_id = await create_lead(app)
    await push(app)
    booking_id = await book(app, lead_id)
    app.ghl.after_failures["create_appointment"] = [ConnectionFailedError("connection dropped")]

    with pytest.raises(ConnectionFailedError):
        await push(app)
    [change] = [c for c in app.changes if c.operation is ChangeOperation.CREATE_APPOINTMENT]
    assert (change.status, change.uncertain) == (ChangeStatus.PENDING, True)
    assert change.next_attempt_at is not None
    assert change.next_attempt_at > app.clock.now()  # waits before trying again

    app.clock.advance(minutes=20)
    assert await push(app) == (1, 0)

    [appointment] = app.ghl.appointments.values()
    assert len(app.ghl.called("create_appointment")) == 1
    assert len(app.ghl.called("list_appointments")) == 1
    assert app.booking(booking_id).external_id == appointment.id


async def test_a_create_ghl_surely_never_received_is_simply_made_again(app: Sync) -> None:
    lead_id = await create_lead(app)
    await push(app)
    await book(app, lead_id)
    app.ghl.failures["create_appointment"] = [
        RateLimitExceededError("throttled", retry_after_seconds=30)
    ]

    with pytest.raises(RateLimitExceededError):
        await push(app)
    app.clock.advance(seconds=31)
    assert await push(app) == (1, 0)

    assert len(app.ghl.appointments) == 1
    assert app.ghl.called("list_appointments") == []  # no need to look: it was never sent


async def test_a_block_slot_booking_blocks_the_calendar_and_its_cancellation_frees_it(
    app: Sync,
) -> None:
    lead_id = await create_lead(app)
    booking_id = await book(app, lead_id, block_slot=True)
    await push(app)
    [block] = app.ghl.blocks.values()
    assert (block.calendar_id, block.start) == ("cal-1", TOMORROW)
    assert app.ghl.appointments == {}

    await app.cancel_booking.execute(
        CancelBookingCommand(
            actor=SERVICE, integration_id=app.integration.id, booking_id=booking_id
        )
    )
    assert await push(app) == (1, 0)

    assert app.ghl.blocks == {}
    assert app.booking(booking_id).status is BookingStatus.CANCELLED


async def test_cancelling_a_pulled_appointment_cancels_it_at_ghl(app: Sync) -> None:
    contact = app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    appointment = app.ghl.add_appointment(
        contact_id=contact.id, start=TOMORROW, end=TOMORROW + timedelta(minutes=30)
    )
    app.clock.advance(minutes=1)
    await run_sync(app)
    [booking] = app.uow.store.bookings.values()

    await app.cancel_booking.execute(
        CancelBookingCommand(
            actor=SERVICE, integration_id=app.integration.id, booking_id=booking.id
        )
    )
    assert await push(app) == (1, 0)

    assert app.ghl.appointments[appointment.id].status == "cancelled"


async def test_a_booking_cancelled_before_it_reached_ghl_is_never_sent(app: Sync) -> None:
    lead_id = await create_lead(app)
    await push(app)
    booking_id = await book(app, lead_id)

    await app.cancel_booking.execute(
        CancelBookingCommand(
            actor=SERVICE, integration_id=app.integration.id, booking_id=booking_id
        )
    )
    await push(app)

    assert app.ghl.called("create_appointment") == []
    assert [c.status for c in app.changes if c.record_id == booking_id] == [ChangeStatus.SUPERSEDED]


async def test_a_change_ghl_keeps_refusing_fails_after_the_last_attempt(app: Sync) -> None:
    app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=1)
    await run_sync(app)
    [lead] = app.all_leads
    await app.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=lead.id,
            changes={"phone": "not a phone"},
        )
    )
    app.ghl.failures["update_contact"] = [ProviderError("phone is invalid")] * 5

    outcomes = []
    for _ in range(5):
        outcomes.append(await push(app))
        app.clock.advance(hours=1)

    assert outcomes == [(0, 0)] * 4 + [(0, 1)]
    [change] = [c for c in app.changes if c.operation is ChangeOperation.UPDATE_CONTACT]
    assert (change.status, change.attempts, change.last_error) == (
        ChangeStatus.FAILED,
        5,
        "phone is invalid",
    )


async def test_an_update_ghl_could_not_take_lands_on_a_later_push(app: Sync) -> None:
    app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=1)
    await run_sync(app)
    [lead] = app.all_leads
    await app.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=lead.id,
            changes={"company": "Analytical Engines"},
        )
    )
    app.ghl.failures["get_contact"] = [ConnectionFailedError("unreachable")]

    with pytest.raises(ConnectionFailedError):
        await push(app)
    assert await push(app) == (0, 0)  # not due yet
    app.clock.advance(minutes=20)
    assert await push(app) == (1, 0)

    assert app.ghl.contacts[lead.external_id].company_name == "Analytical Engines"


async def test_a_booking_of_a_lead_ghl_refused_for_good_fails_too(app: Sync) -> None:
    lead_id = await create_lead(app)
    booking_id = await book(app, lead_id)
    app.ghl.failures["upsert_contact"] = [ProviderError("email is invalid")] * 5

    for _ in range(5):
        await push(app)
        app.clock.advance(hours=1)

    statuses = {c.operation: c.status for c in app.changes}
    assert statuses == {
        ChangeOperation.CREATE_CONTACT: ChangeStatus.FAILED,
        ChangeOperation.CREATE_APPOINTMENT: ChangeStatus.FAILED,
    }
    [failed] = [c for c in app.changes if c.record_id == booking_id]
    assert failed.last_error == "the CRM refused the lead's contact: email is invalid"
    assert app.ghl.called("create_appointment") == []


async def test_an_integration_the_crm_cannot_be_called_for_leaves_its_changes_untouched(
    app: Sync,
) -> None:
    # The provider reads its account from the integration's config when called: an integration
    # without one fails the call, which is no refusal of the change.
    app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=1)
    await run_sync(app)
    [lead] = app.all_leads
    await app.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=lead.id,
            changes={"company": "Analytical Engines"},
        )
    )
    app.ghl.failures["get_contact"] = [
        ConfigSchemaInvalidError("the integration has no account id", ())
    ]

    with pytest.raises(ConfigSchemaInvalidError):
        await push(app)

    [change] = [c for c in app.changes if c.operation is ChangeOperation.UPDATE_CONTACT]
    assert (change.status, change.attempts, change.last_error) == (ChangeStatus.PENDING, 0, None)

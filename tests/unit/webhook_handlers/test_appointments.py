"""HandleAppointmentEvent: GHL appointments → bookings, cancelled when deleted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from application.ports import HandlerOutcome
from domain.booking import BookingStatus
from domain.events import BookingCancelled, BookingCreated, BookingUpdated
from domain.webhook_delivery import EventKind
from tests.unit.webhook_handlers.support import App, reference_payload

CREATED, UPDATED, DELETED = (
    EventKind.APPOINTMENT_CREATED,
    EventKind.APPOINTMENT_UPDATED,
    EventKind.APPOINTMENT_DELETED,
)
IST = timezone(timedelta(hours=5, minutes=30))


def appointment(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "appt-1",
        "calendarId": "cal-1",
        "contactId": "contact-1",
        "title": "Cleaning",
        "appointmentStatus": "confirmed",
        "startTime": "2026-02-03T16:00:00+05:30",
        "endTime": "2026-02-03T16:30:00+05:30",
        "dateUpdated": "2026-01-01T10:00:00+00:00",
    }
    body.update(fields)
    return {"type": "AppointmentCreate", "locationId": "loc-1", "appointment": body}


async def test_a_created_appointment_becomes_a_booking_with_aware_times(app: App) -> None:
    outcome = await app.deliver(CREATED, reference_payload("AppointmentCreate"))

    assert outcome is HandlerOutcome.APPLIED
    [booking] = app.bookings
    assert (booking.external_id, booking.details.calendar_id, booking.status) == (
        "0007BWpSzSwfiuSl0tR2",
        "BqTwX8QFwXzpegMve9EQ",
        BookingStatus.CONFIRMED,
    )
    assert booking.details.contact_external_id == "9NkT25Vor1v4aQatFsv2"
    assert booking.details.start == datetime(2023, 9, 25, 16, 0, tzinfo=IST)
    assert booking.details.start.utcoffset() == timedelta(hours=5, minutes=30)
    assert booking.details.title == "Appointment with GHL Dev team"
    assert [type(e) for e in app.events()] == [BookingCreated]


async def test_ghls_mislabelled_update_example_is_an_idempotent_upsert(app: App) -> None:
    # The AppointmentUpdate example says "type": "AppointmentCreate" and changes nothing.
    await app.deliver(CREATED, reference_payload("AppointmentCreate"))

    outcome = await app.deliver(CREATED, reference_payload("AppointmentUpdate"))

    assert outcome is HandlerOutcome.IGNORED
    assert len(app.bookings) == 1


async def test_a_booking_links_to_the_contacts_lead(app: App) -> None:
    await app.deliver(EventKind.CONTACT_CREATED, {"id": "contact-1", "firstName": "Ada"})

    await app.deliver(CREATED, appointment())

    assert app.bookings[0].lead_id == app.leads[0].id


async def test_a_rescheduled_appointment_updates_the_booking(app: App) -> None:
    await app.deliver(CREATED, appointment())

    outcome = await app.deliver(
        UPDATED,
        appointment(
            startTime="2026-02-04T10:00:00+05:30",
            endTime="2026-02-04T10:30:00+05:30",
            dateUpdated="2026-01-02T10:00:00+00:00",
        ),
    )

    assert outcome is HandlerOutcome.APPLIED
    assert app.bookings[0].details.start == datetime(2026, 2, 4, 10, tzinfo=IST)
    [updated] = app.events(BookingUpdated)
    assert isinstance(updated, BookingUpdated)
    assert updated.changed_fields == ("start", "end")


async def test_an_older_appointment_change_arriving_late_is_ignored(app: App) -> None:
    await app.deliver(CREATED, appointment(title="New", dateUpdated="2026-01-02T00:00:00Z"))

    late = await app.deliver(UPDATED, appointment(title="Old", dateUpdated="2026-01-01T00:00:00Z"))

    assert late is HandlerOutcome.IGNORED
    assert app.bookings[0].details.title == "New"


async def test_a_cancelled_appointment_cancels_the_booking(app: App) -> None:
    await app.deliver(CREATED, appointment())

    await app.deliver(
        UPDATED, appointment(appointmentStatus="cancelled", dateUpdated="2026-01-02T00:00:00Z")
    )

    assert app.bookings[0].status is BookingStatus.CANCELLED
    [cancelled] = app.events(BookingCancelled)
    assert isinstance(cancelled, BookingCancelled)
    assert cancelled.reason == "cancelled"


async def test_a_deleted_appointment_cancels_the_booking_once(app: App) -> None:
    await app.deliver(CREATED, appointment())

    first = await app.deliver(DELETED, appointment())
    again = await app.deliver(DELETED, appointment())
    revived = await app.deliver(UPDATED, appointment(dateUpdated="2026-02-01T00:00:00Z"))

    assert (first, again, revived) == (
        HandlerOutcome.APPLIED,
        HandlerOutcome.IGNORED,
        HandlerOutcome.IGNORED,
    )
    [booking] = app.bookings
    assert (booking.status, booking.deleted) == (BookingStatus.CANCELLED, True)
    assert len(app.events(BookingCancelled)) == 1


async def test_a_delete_before_its_create_leaves_a_cancelled_booking(app: App) -> None:
    await app.deliver(DELETED, appointment())
    late = await app.deliver(CREATED, appointment())

    assert late is HandlerOutcome.IGNORED
    [booking] = app.bookings
    assert booking.status is BookingStatus.CANCELLED


async def test_an_appointment_without_a_start_time_is_ignored(app: App) -> None:
    outcome = await app.deliver(CREATED, appointment(startTime=None))

    assert outcome is HandlerOutcome.IGNORED
    assert app.bookings == []


async def test_the_seeds_flat_appointment_shape_is_read_too(app: App) -> None:
    flat = appointment()["appointment"] | {"event": "appointment.created"}

    await app.deliver(CREATED, flat, event_type="appointment.created")

    assert [b.external_id for b in app.bookings] == ["appt-1"]

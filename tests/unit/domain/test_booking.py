"""The Booking aggregate: creation, provider updates, cancellation and deletion."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.booking import Booking, BookingDetails, BookingStatus
from domain.errors import InvalidArgumentError
from domain.events import BookingCancelled, BookingCreated, BookingUpdated

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
START = datetime(2026, 2, 3, 16, 0, tzinfo=IST)
T1 = datetime(2025, 12, 1, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
DETAILS = BookingDetails(
    calendar_id="cal-1",
    contact_external_id="contact-1",
    start=START,
    end=START + timedelta(minutes=30),
    title="Cleaning",
)


def created(**overrides: object) -> Booking:
    fields: dict[str, object] = {
        "id": "b-1",
        "sub_account_id": "sa-1",
        "integration_id": "int-1",
        "external_id": "appt-1",
        "details": DETAILS,
        "now": NOW,
        "external_updated_at": T1,
    }
    fields.update(overrides)
    booking = Booking.create(**fields)  # type: ignore[arg-type]
    booking.pull_events()
    return booking


def test_a_created_booking_records_its_calendar_contact_times_and_status() -> None:
    booking = Booking.create(
        id="b-1",
        sub_account_id="sa-1",
        integration_id="int-1",
        external_id="appt-1",
        details=DETAILS,
        status=BookingStatus.CONFIRMED,
        lead_id="lead-1",
        now=NOW,
    )

    [event] = booking.pull_events()
    assert isinstance(event, BookingCreated)
    assert event.payload() == {
        "integration_id": "int-1",
        "external_id": "appt-1",
        "calendar_id": "cal-1",
        "contact_external_id": "contact-1",
        "lead_id": "lead-1",
        "title": "Cleaning",
        "start": "2026-02-03T16:00:00+05:30",
        "end": "2026-02-03T16:30:00+05:30",
        "status": "confirmed",
    }


def test_booking_times_must_be_aware_and_in_order() -> None:
    with pytest.raises(InvalidArgumentError) as naive:
        dataclasses.replace(DETAILS, start=START.replace(tzinfo=None))
    with pytest.raises(InvalidArgumentError) as reversed_:
        dataclasses.replace(DETAILS, end=START - timedelta(minutes=1))

    assert [v.field for v in naive.value.violations] == ["start"]
    assert [v.field for v in reversed_.value.violations] == ["end"]


def test_a_booking_needs_its_calendar_and_contact() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        dataclasses.replace(DETAILS, calendar_id="", contact_external_id="")
    assert [v.field for v in caught.value.violations] == ["calendar_id", "contact_external_id"]


def test_a_rescheduled_booking_records_the_fields_that_changed() -> None:
    booking = created()
    moved = dataclasses.replace(
        DETAILS, start=START + timedelta(days=1), end=START + timedelta(days=1)
    )

    assert booking.sync(
        details=moved, status=BookingStatus.CONFIRMED, external_updated_at=T2, now=NOW
    )

    [event] = booking.pull_events()
    assert isinstance(event, BookingUpdated)
    assert event.changed_fields == ("start", "end", "status")
    assert booking.status is BookingStatus.CONFIRMED


def test_a_change_older_than_the_bookings_is_ignored() -> None:
    booking = created(external_updated_at=T2)

    assert not booking.sync(
        details=DETAILS, status=BookingStatus.CANCELLED, external_updated_at=T1, now=NOW
    )

    assert booking.status is BookingStatus.BOOKED
    assert booking.pull_events() == []


def test_a_move_to_cancelled_records_a_cancellation_and_a_newer_change_may_book_it_again() -> None:
    booking = created()

    assert booking.sync(details=DETAILS, status=BookingStatus.CANCELLED, now=NOW)
    [cancelled] = booking.pull_events()
    assert booking.sync(details=DETAILS, status=BookingStatus.CONFIRMED, now=NOW)

    assert isinstance(cancelled, BookingCancelled)
    assert cancelled.reason == "cancelled"
    [updated] = booking.pull_events()
    assert isinstance(updated, BookingUpdated)
    assert updated.changed_fields == ("status",)


def test_a_lead_found_later_is_linked_and_an_unknown_lead_keeps_the_link() -> None:
    booking = created()

    assert booking.sync(details=DETAILS, lead_id="lead-9", now=NOW)
    assert not booking.sync(details=DETAILS, lead_id=None, now=NOW)

    assert booking.lead_id == "lead-9"


def test_a_deleted_booking_is_cancelled_for_good() -> None:
    booking = created()

    assert booking.delete(now=NOW)
    assert not booking.delete(now=NOW)
    assert not booking.sync(
        details=DETAILS, status=BookingStatus.CONFIRMED, external_updated_at=T2, now=NOW
    )

    [event] = booking.pull_events()
    assert isinstance(event, BookingCancelled)
    assert event.reason == "deleted"
    assert (booking.status, booking.deleted) == (BookingStatus.CANCELLED, True)


def test_deleting_a_booking_already_cancelled_records_no_second_cancellation() -> None:
    booking = created(status=BookingStatus.CANCELLED)

    assert booking.delete(now=NOW)

    assert booking.deleted
    assert booking.pull_events() == []

"""The domain's part of sync: leads and bookings made here, and a synced integration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.booking import Booking, BookingDetails, BookingStatus
from domain.errors import InvalidArgumentError, InvalidTransitionError
from domain.events import BookingCancelled, BookingUpdated, IntegrationSynced, LeadUpdated
from domain.integration import IntegrationStatus
from domain.lead import ContactDetails, Lead, provisional_external_id
from tests.support.builders import a_template, an_integration

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_local_lead() -> Lead:
    lead = Lead.capture(
        id="lead-1",
        sub_account_id="sa-1",
        integration_id="int-1",
        external_id=provisional_external_id("lead-1"),
        details=ContactDetails(first_name="Neo", email="neo@example.com"),
        now=NOW,
    )
    lead.pull_events()
    return lead


def a_local_booking() -> Booking:
    start = NOW + timedelta(days=1)
    booking = Booking.create(
        id="b-1",
        sub_account_id="sa-1",
        integration_id="int-1",
        external_id=provisional_external_id("b-1"),
        details=BookingDetails(
            calendar_id="cal-1",
            contact_external_id=provisional_external_id("lead-1"),
            start=start,
            end=start + timedelta(minutes=30),
        ),
        now=NOW,
    )
    booking.pull_events()
    return booking


def test_a_lead_made_here_waits_for_the_providers_id_then_takes_it() -> None:
    lead = a_local_lead()
    assert not lead.on_provider

    lead.link("ghl-123", external_updated_at=NOW, now=NOW)

    assert (lead.on_provider, lead.external_id, lead.external_updated_at) == (True, "ghl-123", NOW)
    [event] = lead.pull_events()
    assert isinstance(event, LeadUpdated)
    assert (event.external_id, event.changed_fields) == ("ghl-123", ("external_id",))
    with pytest.raises(InvalidArgumentError):
        lead.link("ghl-456", external_updated_at=None, now=NOW)


def test_an_edit_here_names_the_fields_it_changed_and_a_deleted_lead_takes_none() -> None:
    lead = a_local_lead()

    changed = lead.edit(ContactDetails(first_name="Neo", email="neo@zion.io", city="Zion"), now=NOW)

    assert changed == ("email", "city")
    [event] = lead.pull_events()
    assert isinstance(event, LeadUpdated)
    assert event.changed_fields == ("email", "city")
    lead.mark_deleted(now=NOW)
    with pytest.raises(InvalidArgumentError):
        lead.edit(ContactDetails(first_name="Trinity"), now=NOW)


def test_a_booking_cancelled_here_records_one_cancellation() -> None:
    booking = a_local_booking()

    assert booking.cancel(now=NOW)
    assert not booking.cancel(now=NOW)

    assert booking.status is BookingStatus.CANCELLED
    assert [type(e) for e in booking.pull_events()] == [BookingCancelled]


def test_a_booking_made_here_takes_the_providers_ids_of_itself_and_its_contact() -> None:
    booking = a_local_booking()

    booking.link("appt-9", contact_external_id="ghl-123", external_updated_at=None, now=NOW)

    assert (booking.on_provider, booking.external_id, booking.details.contact_external_id) == (
        True,
        "appt-9",
        "ghl-123",
    )
    [event] = booking.pull_events()
    assert isinstance(event, BookingUpdated)
    assert event.changed_fields == ("external_id", "contact_external_id")


def test_a_sync_brings_an_errored_integration_back_and_records_its_time() -> None:
    integration = an_integration(a_template(), now=NOW)
    integration.fail(code="CONNECTION_FAILED", message="down", now=NOW)
    integration.pull_events()

    integration.mark_synced(pulled=3, pushed=1, conflicts=0, failures=0, now=NOW)

    assert (integration.status, integration.last_sync_at, integration.error_code) == (
        IntegrationStatus.ACTIVE,
        NOW,
        None,
    )
    synced = integration.pull_events()[-1]
    assert isinstance(synced, IntegrationSynced)
    assert (synced.pulled, synced.pushed) == (3, 1)


def test_a_disconnected_integration_is_not_synced() -> None:
    integration = an_integration(a_template(), now=NOW)
    integration.deactivate(now=NOW)

    with pytest.raises(InvalidTransitionError):
        integration.mark_synced(pulled=0, pushed=0, conflicts=0, failures=0, now=NOW)

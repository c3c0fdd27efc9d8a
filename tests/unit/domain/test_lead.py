"""The Lead aggregate: capture, provider updates in and out of order, status, deletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidArgumentError
from domain.events import LeadCaptured, LeadDeleted, LeadMerged, LeadStatusChanged, LeadUpdated
from domain.lead import ContactDetails, Lead, LeadStatus

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
T1 = datetime(2025, 12, 1, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
T3 = T1 + timedelta(hours=2)
ADA = ContactDetails(first_name="Ada", last_name="Lovelace", email="ada@example.com", tags=("vip",))


def captured(**overrides: object) -> Lead:
    fields: dict[str, object] = {
        "id": "lead-1",
        "sub_account_id": "sa-1",
        "integration_id": "int-1",
        "external_id": "ghl-contact-1",
        "details": ADA,
        "now": NOW,
        "timezone": "Europe/London",
        "assigned_user_id": "u-2",
        "strategy_id": "st-1",
        "external_updated_at": T2,
    }
    fields.update(overrides)
    lead = Lead.capture(**fields)  # type: ignore[arg-type]
    lead.pull_events()
    return lead


def test_a_captured_lead_is_open_at_version_one_and_records_what_was_captured() -> None:
    lead = Lead.capture(
        id="lead-1",
        sub_account_id="sa-1",
        integration_id="int-1",
        external_id="ghl-contact-1",
        details=ADA,
        now=NOW,
        timezone="Europe/London",
        assigned_user_id="u-2",
        strategy_id="st-1",
    )

    assert (lead.status, lead.version, lead.deleted) == (LeadStatus.OPEN, 1, False)
    [event] = lead.pull_events()
    assert isinstance(event, LeadCaptured)
    assert (event.aggregate_id, event.aggregate_version, event.sub_account_id) == (
        "lead-1",
        1,
        "sa-1",
    )
    assert event.payload() == {
        "integration_id": "int-1",
        "external_id": "ghl-contact-1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": None,
        "company": None,
        "timezone": "Europe/London",
        "status": "open",
        "assigned_user_id": "u-2",
        "strategy_id": "st-1",
        "attribution": {},
    }


@pytest.mark.parametrize("external_id", ["", "x" * 129])
def test_a_lead_needs_a_provider_id_of_at_most_128_characters(external_id: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        captured(external_id=external_id)
    assert [v.field for v in caught.value.violations] == ["external_id"]


def test_a_newer_change_updates_the_details_and_lists_the_fields_that_changed() -> None:
    lead = captured()
    new = ContactDetails(first_name="Ada", last_name="King", email="ada@example.com", tags=())

    assert lead.sync(details=new, timezone="Europe/Paris", external_updated_at=T3, now=NOW)

    assert (lead.details, lead.timezone, lead.external_updated_at) == (new, "Europe/Paris", T3)
    [event] = lead.pull_events()
    assert isinstance(event, LeadUpdated)
    assert event.changed_fields == ("last_name", "tags", "timezone")
    assert event.aggregate_version == 2


def test_a_change_older_than_the_one_the_lead_holds_is_ignored() -> None:
    lead = captured()

    assert not lead.sync(details=ContactDetails(first_name="Old"), external_updated_at=T1, now=NOW)

    assert lead.details == ADA
    assert lead.external_updated_at == T2
    assert lead.pull_events() == []


def test_the_same_details_again_record_nothing_but_a_newer_time_is_kept() -> None:
    lead = captured()

    assert not lead.sync(details=ADA, external_updated_at=T2, now=NOW)
    assert lead.sync(details=ADA, external_updated_at=T3, now=NOW)

    assert lead.external_updated_at == T3
    assert lead.pull_events() == []
    # A change made between the two is now older than what the lead holds.
    assert not lead.sync(details=ContactDetails(first_name="Mid"), external_updated_at=T2, now=NOW)


def test_a_change_of_unknown_time_applies_and_keeps_the_known_time() -> None:
    lead = captured()

    assert lead.sync(details=ContactDetails(first_name="Ada"), now=NOW)

    assert lead.details.email is None
    assert lead.external_updated_at == T2


def test_no_timezone_detected_keeps_the_leads_timezone() -> None:
    lead = captured()

    lead.sync(details=ADA, timezone=None, external_updated_at=T3, now=NOW)

    assert lead.timezone == "Europe/London"


def test_a_status_change_is_recorded_once_and_the_same_status_again_records_nothing() -> None:
    lead = captured()

    assert lead.change_status(LeadStatus.WON, now=NOW)
    assert not lead.change_status(LeadStatus.WON, now=NOW)

    [event] = lead.pull_events()
    assert isinstance(event, LeadStatusChanged)
    assert (event.previous_status, event.status) == ("open", "won")


def test_a_status_change_older_than_the_last_one_is_ignored() -> None:
    lead = captured()
    lead.change_status(LeadStatus.WON, now=NOW, changed_at=T3)

    assert not lead.change_status(LeadStatus.LOST, now=NOW, changed_at=T2)

    assert lead.status is LeadStatus.WON


def test_the_same_status_at_a_newer_time_moves_the_time_without_an_event() -> None:
    lead = captured()
    lead.change_status(LeadStatus.WON, now=NOW, changed_at=T1)
    lead.pull_events()

    assert lead.change_status(LeadStatus.WON, now=NOW, changed_at=T3)

    assert lead.status_changed_at == T3
    assert lead.pull_events() == []
    assert not lead.change_status(LeadStatus.LOST, now=NOW, changed_at=T2)


def test_a_deleted_lead_is_deleted_once_and_takes_no_more_changes() -> None:
    lead = captured()

    assert lead.mark_deleted(now=NOW)
    assert not lead.mark_deleted(now=NOW)
    assert not lead.sync(details=ContactDetails(first_name="Back"), external_updated_at=T3, now=NOW)
    assert not lead.change_status(LeadStatus.WON, now=NOW)

    assert [type(e) for e in lead.pull_events()] == [LeadDeleted]
    assert (lead.deleted, lead.details, lead.status) == (True, ADA, LeadStatus.OPEN)


def test_details_name_their_differences_in_declaration_order() -> None:
    other = ContactDetails(phone="+1", first_name="Bea", country="US")

    assert ADA.differences(other) == (
        "first_name",
        "last_name",
        "email",
        "phone",
        "country",
        "tags",
    )
    assert ADA.differences(ADA) == ()


def test_a_lead_made_here_merged_at_the_provider_ends_naming_the_lead_that_lives_on() -> None:
    made_here = captured(id="lead-2", external_id="local:lead-2")
    survivor = captured()

    made_here.merge_into(survivor, contact_id="ghl-contact-1", now=NOW)

    [event] = made_here.pull_events()
    assert isinstance(event, LeadMerged)
    assert (event.aggregate_id, event.surviving_lead_id, event.external_id) == (
        "lead-2",
        "lead-1",
        "ghl-contact-1",
    )
    assert (made_here.deleted, made_here.merged_into_id) == (True, "lead-1")
    with pytest.raises(InvalidArgumentError):
        made_here.merge_into(survivor, contact_id="ghl-contact-1", now=NOW)
    with pytest.raises(InvalidArgumentError):  # a lead at the provider is not merged here
        survivor.merge_into(captured(id="lead-3"), contact_id="ghl-contact-1", now=NOW)

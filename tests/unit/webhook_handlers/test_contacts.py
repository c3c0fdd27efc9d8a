"""HandleContactEvent: GHL contacts → leads, once each, newest data winning."""

from __future__ import annotations

from typing import Any

from application.ports import HandlerOutcome
from domain.errors import ConnectionFailedError
from domain.events import LeadCaptured, LeadDeleted, LeadUpdated
from domain.webhook_delivery import EventKind
from tests.unit.webhook_handlers.support import ANA, App, reference_payload

CREATED, UPDATED, DELETED = (
    EventKind.CONTACT_CREATED,
    EventKind.CONTACT_UPDATED,
    EventKind.CONTACT_DELETED,
)


def contact(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "ContactUpdate",
        "locationId": "loc-1",
        "id": "contact-1",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "phone": "+13125550101",
        "country": "US",
        "dateAdded": "2025-11-01T10:00:00.000Z",
    }
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


async def test_a_created_contact_becomes_an_assigned_lead_with_its_details(app: App) -> None:
    app.timezones.by_country["DE"] = "Europe/Berlin"

    outcome = await app.deliver(CREATED, reference_payload("ContactCreate"))

    assert outcome is HandlerOutcome.APPLIED
    [lead] = app.leads
    assert (lead.integration_id, lead.external_id, lead.sub_account_id) == (
        "int-1",
        "nmFmQEsNgz6AVpgLVUJ0",
        "sa-1",
    )
    d = lead.details
    assert (d.first_name, d.last_name, d.email, d.phone, d.company) == (
        "John",
        "Deo",
        "JohnDeo@gmail.comm",
        "+919509597501",
        "Loram ipsum",
    )
    assert (d.postal_code, d.state, d.city, d.country) == ("452001", "AL", "ruDolomitebika", "DE")
    assert d.tags == ("id magna sed Lorem", "Duis dolor commodo aliqua")
    assert (lead.assigned_user_id, lead.strategy_id) == (ANA.user_id, ANA.strategy_id)
    assert lead.timezone == "Europe/Berlin"
    assert [type(e) for e in app.events()] == [LeadCaptured]


async def test_the_same_contact_delivered_twice_makes_one_lead(app: App) -> None:
    first = await app.deliver(CREATED, reference_payload("ContactCreate"))
    second = await app.deliver(CREATED, reference_payload("ContactCreate"))

    assert (first, second) == (HandlerOutcome.APPLIED, HandlerOutcome.IGNORED)
    assert len(app.leads) == 1
    assert len(app.events(LeadCaptured)) == 1
    assert app.directory.asked == ["sa-1"]


async def test_a_contacts_own_timezone_comes_first(app: App) -> None:
    app.timezones.by_country["US"] = "America/New_York"

    await app.deliver(CREATED, contact(timezone="America/Los_Angeles"))

    assert app.leads[0].timezone == "America/Los_Angeles"


async def test_an_unknown_zone_name_from_ghl_is_not_taken(app: App) -> None:
    app.timezones.by_country["US"] = "America/New_York"

    await app.deliver(CREATED, contact(timezone="Mars/Olympus_Mons"))

    assert app.leads[0].timezone == "America/New_York"


async def test_the_phone_decides_when_the_address_does_not(app: App) -> None:
    app.timezones.by_phone["+13125550101"] = "America/Chicago"

    await app.deliver(CREATED, contact(country=None))

    assert app.leads[0].timezone == "America/Chicago"
    hints = app.timezones.hints[0]
    assert (hints.phone, hints.country) == ("+13125550101", None)
    assert app.ghl.location_calls == 0


async def test_without_address_or_phone_the_lead_takes_the_locations_timezone(app: App) -> None:
    app.ghl.location_timezone = "America/Denver"

    await app.deliver(CREATED, contact(country=None, phone=None))

    assert app.leads[0].timezone == "America/Denver"
    assert app.ghl.location_calls == 1


async def test_a_location_ghl_cannot_give_leaves_the_lead_without_timezone(app: App) -> None:
    app.ghl.location_error = ConnectionFailedError("GHL is down")

    outcome = await app.deliver(CREATED, contact(country=None, phone=None))

    assert outcome is HandlerOutcome.APPLIED
    assert app.leads[0].timezone is None


async def test_a_sub_account_with_no_assignable_user_leaves_the_lead_unassigned(app: App) -> None:
    app.directory.users.clear()

    await app.deliver(CREATED, contact())

    lead = app.leads[0]
    assert (lead.assigned_user_id, lead.strategy_id) == (None, None)


async def test_an_update_changes_the_lead_and_names_what_changed(app: App) -> None:
    await app.deliver(CREATED, contact())

    outcome = await app.deliver(
        UPDATED, contact(lastName="King", dateUpdated="2025-12-01T10:00:00.000Z")
    )

    assert outcome is HandlerOutcome.APPLIED
    assert app.leads[0].details.last_name == "King"
    [updated] = app.events(LeadUpdated)
    assert isinstance(updated, LeadUpdated)
    assert updated.changed_fields == ("last_name",)


async def test_an_older_update_arriving_late_does_not_overwrite_a_newer_one(app: App) -> None:
    await app.deliver(CREATED, contact())
    await app.deliver(UPDATED, contact(lastName="New", dateUpdated="2025-12-02T00:00:00Z"))

    late = await app.deliver(UPDATED, contact(lastName="Old", dateUpdated="2025-12-01T00:00:00Z"))

    assert late is HandlerOutcome.IGNORED
    assert app.leads[0].details.last_name == "New"


async def test_a_create_arriving_after_an_update_does_not_undo_it(app: App) -> None:
    await app.deliver(UPDATED, contact(lastName="Updated", dateUpdated="2025-12-02T00:00:00Z"))

    late = await app.deliver(CREATED, contact(lastName="Original"))

    assert late is HandlerOutcome.IGNORED
    assert [lead.details.last_name for lead in app.leads] == ["Updated"]


async def test_the_events_own_timestamp_orders_updates_that_carry_no_date_updated(
    app: App,
) -> None:
    await app.deliver(CREATED, contact())
    await app.deliver(UPDATED, contact(lastName="Second", timestamp="2026-01-01T10:00:02Z"))

    late = await app.deliver(UPDATED, contact(lastName="First", timestamp="2026-01-01T10:00:01Z"))

    assert late is HandlerOutcome.IGNORED
    assert app.leads[0].details.last_name == "Second"


async def test_a_deleted_contact_marks_its_lead_deleted_once(app: App) -> None:
    await app.deliver(CREATED, contact())

    first = await app.deliver(DELETED, reference_payload("ContactDelete") | {"id": "contact-1"})
    again = await app.deliver(DELETED, contact())

    assert (first, again) == (HandlerOutcome.APPLIED, HandlerOutcome.IGNORED)
    assert app.leads[0].deleted
    assert len(app.events(LeadDeleted)) == 1


async def test_a_delete_before_its_create_leaves_a_deleted_lead_the_create_cannot_revive(
    app: App,
) -> None:
    await app.deliver(DELETED, contact())
    late = await app.deliver(CREATED, contact())

    assert late is HandlerOutcome.IGNORED
    [lead] = app.leads
    assert lead.deleted
    assert {type(e) for e in app.events()} == {LeadCaptured, LeadDeleted}


async def test_a_payload_without_a_contact_id_is_ignored(app: App) -> None:
    # GHL's integration guide test body: fields under "data", and no id.
    outcome = await app.deliver(CREATED, reference_payload("test-payload-WebhookIntegrationGuide"))

    assert outcome is HandlerOutcome.IGNORED
    assert app.leads == []


async def test_the_seeds_nested_contact_shape_is_read_too(app: App) -> None:
    payload = {"event": "contact.created", "contact": {"id": "c-9", "firstName": "Grace"}}

    await app.deliver(CREATED, payload, event_type="contact.created")

    [lead] = app.leads
    assert (lead.external_id, lead.details.first_name) == ("c-9", "Grace")

"""HandleOpportunityEvent: an opportunity's status → its contact's lead, once per change."""

from __future__ import annotations

from typing import Any

from application.ports import HandlerOutcome
from application.ports.crm import CrmContact
from domain.events import LeadCaptured, LeadStatusChanged
from domain.lead import LeadStatus
from domain.webhook_delivery import EventKind
from tests.unit.webhook_handlers.support import App, reference_payload

CHANGED = EventKind.OPPORTUNITY_STATUS_CHANGED


def opportunity(event_type: str, **fields: Any) -> dict[str, Any]:
    return reference_payload(event_type) | {"contactId": "contact-1"} | fields


async def with_lead(app: App) -> None:
    await app.deliver(EventKind.CONTACT_CREATED, {"id": "contact-1", "firstName": "Ada"})


async def test_ghls_two_events_for_one_status_change_apply_it_once(app: App) -> None:
    await with_lead(app)

    generic = await app.deliver(CHANGED, opportunity("OpportunityUpdate", status="won"))
    specific = await app.deliver(CHANGED, opportunity("OpportunityStatusUpdate", status="won"))

    assert (generic, specific) == (HandlerOutcome.APPLIED, HandlerOutcome.IGNORED)
    assert app.leads[0].status is LeadStatus.WON
    [changed] = app.events(LeadStatusChanged)
    assert isinstance(changed, LeadStatusChanged)
    assert (changed.previous_status, changed.status) == ("open", "won")


async def test_the_documented_example_keeps_an_open_lead_open_and_links_its_opportunity(
    app: App,
) -> None:
    await with_lead(app)
    example = opportunity("OpportunityStatusUpdate")

    outcome = await app.deliver(CHANGED, example)
    again = await app.deliver(CHANGED, example)

    assert (outcome, again) == (HandlerOutcome.APPLIED, HandlerOutcome.IGNORED)
    assert app.events(LeadStatusChanged) == []
    assert (app.leads[0].status, app.leads[0].opportunity_id) == (LeadStatus.OPEN, example["id"])


async def test_each_real_change_is_applied(app: App) -> None:
    await with_lead(app)

    for status in ("won", "lost", "abandoned", "open"):
        await app.deliver(CHANGED, opportunity("OpportunityStatusUpdate", status=status))

    assert [
        e.status for e in app.events(LeadStatusChanged) if isinstance(e, LeadStatusChanged)
    ] == ["won", "lost", "abandoned", "open"]


async def test_a_status_change_older_than_the_last_is_ignored(app: App) -> None:
    await with_lead(app)
    await app.deliver(
        CHANGED,
        opportunity("OpportunityStatusUpdate", status="lost", timestamp="2026-01-01T10:00:05Z"),
    )

    late = await app.deliver(
        CHANGED, opportunity("OpportunityUpdate", status="won", timestamp="2026-01-01T10:00:01Z")
    )

    assert late is HandlerOutcome.IGNORED
    assert app.leads[0].status is LeadStatus.LOST


async def test_an_unknown_contact_is_fetched_from_ghl_and_captured_first(app: App) -> None:
    app.ghl.contacts["contact-1"] = CrmContact(
        id="contact-1", location_id="loc-1", first_name="Grace", email="grace@example.com"
    )

    outcome = await app.deliver(CHANGED, opportunity("OpportunityStatusUpdate", status="won"))

    assert outcome is HandlerOutcome.APPLIED
    [lead] = app.leads
    assert (lead.details.first_name, lead.status, lead.assigned_user_id) == (
        "Grace",
        LeadStatus.WON,
        "u-ana",
    )
    assert {type(e) for e in app.events()} == {LeadCaptured, LeadStatusChanged}


async def test_a_contact_ghl_no_longer_has_is_ignored(app: App) -> None:
    outcome = await app.deliver(CHANGED, opportunity("OpportunityStatusUpdate", status="won"))

    assert outcome is HandlerOutcome.IGNORED
    assert app.leads == []


async def test_a_status_that_is_not_a_lead_status_is_ignored(app: App) -> None:
    await with_lead(app)

    outcome = await app.deliver(CHANGED, opportunity("OpportunityUpdate", status="all"))

    assert outcome is HandlerOutcome.IGNORED
    assert app.leads[0].status is LeadStatus.OPEN

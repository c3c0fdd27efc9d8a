"""Opportunities both ways: a status changed at GHL is pulled onto its contact's lead (no
webhook needed), a status set here goes to the lead's opportunity, echoes change nothing, and a
status both sides changed goes to the newer change, recorded."""

from __future__ import annotations

from typing import Any

from application.ghl import GhlOpportunity
from application.inbox import EventKind
from application.sync import RunStatus, SyncResource
from domain.events import LeadStatusChanged
from domain.lead import LeadStatus
from tests.unit.sync.support import Sync, run_sync


def opportunity_payload(
    opportunity: GhlOpportunity, event_type: str = "OpportunityStatusUpdate"
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


async def lead_of_contact(app: Sync, email: str = "ada@example.com") -> tuple[str, str]:
    """A contact at GHL, pulled as a lead: (contact id, lead id)."""
    contact = app.ghl.add_contact(first_name="Ada", email=email)
    app.clock.advance(minutes=1)
    await run_sync(app)
    [lead] = [lead for lead in app.all_leads if lead.external_id == contact.id]
    return contact.id, lead.id


async def statuses(app: Sync) -> list[tuple[str, str]]:
    return [
        (e.previous_status, e.status)
        for e in app.events(LeadStatusChanged)
        if isinstance(e, LeadStatusChanged)
    ]


async def test_a_status_changed_at_ghl_without_a_webhook_is_pulled_onto_the_lead(
    app: Sync,
) -> None:
    contact_id, lead_id = await lead_of_contact(app)
    opportunity = app.ghl.add_opportunity(contact_id=contact_id)
    app.clock.advance(minutes=5)
    await run_sync(app)
    assert (app.lead(lead_id).status, app.lead(lead_id).opportunity_id) == (
        LeadStatus.OPEN,
        opportunity.id,
    )

    app.clock.advance(minutes=1)
    won = app.ghl.edit_opportunity(opportunity.id, status="won")  # its webhook never came
    app.clock.advance(minutes=5)
    run = await run_sync(app)

    lead = app.lead(lead_id)
    assert (lead.status, lead.status_changed_at) == (LeadStatus.WON, won.updated_at)
    assert await statuses(app) == [("open", "won")]
    assert (run.status, run.missed_by_webhooks) == (RunStatus.SUCCEEDED, 1)


async def test_every_opportunity_page_is_read_and_the_cursor_keeps_the_newest_change(
    app: Sync,
) -> None:
    leads = [await lead_of_contact(app, f"c{n}@example.com") for n in range(5)]
    for contact_id, _ in leads:
        app.ghl.add_opportunity(contact_id=contact_id, status="lost")
        app.clock.advance(seconds=1)
    app.ghl.add_opportunity(contact_id="someone-else", status="won")  # no lead here: skipped
    app.ghl.calls.clear()

    run = await run_sync(app)

    assert {app.lead(lead_id).status for _, lead_id in leads} == {LeadStatus.LOST}
    assert len(app.ghl.called("search_opportunities")) == 3  # 6 opportunities, pages of 2
    assert run.status is RunStatus.SUCCEEDED
    assert len(app.all_leads) == 5
    async with app.uow() as uow:
        cursor = await uow.sync.get_cursor(app.integration.id, SyncResource.OPPORTUNITIES)
    assert cursor is not None
    assert cursor.position == max(
        o.updated_at for o in app.ghl.opportunities.values() if o.updated_at
    )


async def test_a_lead_follows_the_newest_status_change_of_its_contacts_opportunities(
    app: Sync,
) -> None:
    contact_id, lead_id = await lead_of_contact(app)
    newer = app.ghl.add_opportunity(id="o-1", contact_id=contact_id, status="won")
    app.clock.advance(minutes=-30)  # an older opportunity, later in GHL's order
    app.ghl.add_opportunity(id="o-2", contact_id=contact_id, status="lost")
    app.clock.advance(minutes=31)

    await run_sync(app)
    await run_sync(app)

    lead = app.lead(lead_id)
    assert (lead.status, lead.opportunity_id) == (LeadStatus.WON, newer.id)
    assert await statuses(app) == [("open", "won")]


async def test_a_pulled_status_the_lead_already_has_records_nothing(app: Sync) -> None:
    contact_id, lead_id = await lead_of_contact(app)
    opportunity = app.ghl.add_opportunity(contact_id=contact_id, status="won")
    await app.deliver(EventKind.OPPORTUNITY_STATUS_CHANGED, opportunity_payload(opportunity))
    version = app.lead(lead_id).version
    app.clock.advance(minutes=5)

    run = await run_sync(app)

    assert app.lead(lead_id).version == version
    assert await statuses(app) == [("open", "won")]
    assert run.missed_by_webhooks == 0

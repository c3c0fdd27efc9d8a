"""Opportunities both ways: a status changed at GHL is pulled onto its contact's lead (no
webhook needed), a status set here goes to the lead's opportunity, echoes change nothing, and a
status both sides changed goes to the newer change, recorded."""

from __future__ import annotations

from application.ports.crm import CrmOpportunity
from application.sync_records import ChangeOperation, ChangeStatus, RunStatus, SyncResource
from application.use_cases.update_lead import UpdateLeadCommand
from domain.events import LeadStatusChanged
from domain.lead import LeadStatus
from domain.webhook_delivery import EventKind
from tests.unit.sync.support import (
    SERVICE,
    Sync,
    conflicts_of,
    opportunity_payload,
    provider_call_of,
    run_sync,
)


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


# --- push ------------------------------------------------------------------------------------


async def set_status(app: Sync, lead_id: str, status: LeadStatus) -> None:
    await app.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=lead_id,
            changes={"status": status},
        )
    )


async def push(app: Sync) -> tuple[int, int]:
    result = await app.push.push(app.integration, await provider_call_of(app))
    return result.pushed, result.failures


async def lead_with_opportunity(app: Sync) -> tuple[str, CrmOpportunity]:
    contact_id, lead_id = await lead_of_contact(app)
    opportunity = app.ghl.add_opportunity(contact_id=contact_id)
    app.clock.advance(minutes=1)
    await run_sync(app)
    return lead_id, opportunity


async def test_a_status_set_here_goes_to_the_leads_opportunity_at_ghl(app: Sync) -> None:
    lead_id, opportunity = await lead_with_opportunity(app)

    await set_status(app, lead_id, LeadStatus.WON)
    assert app.lead(lead_id).status is LeadStatus.WON  # here at once
    [change] = [c for c in app.changes if c.operation is ChangeOperation.UPDATE_OPPORTUNITY_STATUS]
    assert (change.fields, change.base) == ({"status": "won"}, {"status": "open"})
    app.clock.advance(seconds=5)
    assert await push(app) == (1, 0)

    at_ghl = app.ghl.opportunities[opportunity.id]
    assert at_ghl.status == "won"
    [put] = app.ghl.called("update_opportunity_status")
    assert put.args["opportunity_id"] == opportunity.id
    lead = app.lead(lead_id)
    assert (lead.status, lead.status_changed_at) == (LeadStatus.WON, at_ghl.updated_at)
    assert app.uow.store.sync.changes[change.id].status is ChangeStatus.DONE
    assert await statuses(app) == [("open", "won")]
    assert await push(app) == (0, 0)  # nothing left


async def test_the_echo_of_a_pushed_status_changes_nothing_by_webhook_or_pull(app: Sync) -> None:
    lead_id, opportunity = await lead_with_opportunity(app)
    await set_status(app, lead_id, LeadStatus.LOST)
    await push(app)
    version = app.lead(lead_id).version

    echo = app.ghl.opportunities[opportunity.id]
    for event_type in ("OpportunityStatusUpdate", "OpportunityUpdate"):
        await app.deliver(
            EventKind.OPPORTUNITY_STATUS_CHANGED, opportunity_payload(echo, event_type)
        )
    app.clock.advance(minutes=5)
    run = await run_sync(app)

    assert app.lead(lead_id).version == version
    assert await statuses(app) == [("open", "lost")]
    assert (run.missed_by_webhooks, run.pushed) == (0, 0)
    assert len(app.ghl.called("update_opportunity_status")) == 1


async def test_a_lead_without_an_opportunity_gets_one_in_the_first_pipeline_with_its_status(
    app: Sync,
) -> None:
    contact_id, lead_id = await lead_of_contact(app)

    await set_status(app, lead_id, LeadStatus.WON)
    assert await push(app) == (1, 0)

    [created] = app.ghl.opportunities.values()
    assert (created.contact_id, created.status, created.name) == (contact_id, "won", "Ada")
    assert (created.pipeline_id, created.pipeline_stage_id) == ("pipe-1", "stage-1")
    assert app.lead(lead_id).opportunity_id == created.id
    assert [c.args["contact_id"] for c in app.ghl.called("search_opportunities")][-1] == contact_id

    await set_status(app, lead_id, LeadStatus.LOST)  # the next one updates it
    assert await push(app) == (1, 0)
    assert [o.status for o in app.ghl.opportunities.values()] == ["lost"]
    assert len(app.ghl.called("create_opportunity")) == 1


async def test_a_newer_status_set_at_ghl_before_the_push_wins_and_is_recorded(app: Sync) -> None:
    lead_id, opportunity = await lead_with_opportunity(app)
    await set_status(app, lead_id, LeadStatus.WON)
    app.clock.advance(seconds=30)
    app.ghl.edit_opportunity(opportunity.id, status="lost")  # later, at GHL

    assert await push(app) == (0, 0)

    assert app.ghl.called("update_opportunity_status") == []
    assert app.lead(lead_id).status is LeadStatus.LOST
    [change] = [c for c in app.changes if c.operation is ChangeOperation.UPDATE_OPPORTUNITY_STATUS]
    assert change.status is ChangeStatus.SUPERSEDED
    [conflict] = await conflicts_of(app)
    assert (conflict.fields, conflict.winners) == (("status",), {"status": "remote"})
    assert (conflict.local, conflict.remote) == ({"status": "won"}, {"status": "lost"})


async def test_an_older_status_change_at_ghl_loses_to_the_one_set_here_and_is_recorded(
    app: Sync,
) -> None:
    lead_id, opportunity = await lead_with_opportunity(app)
    app.clock.advance(seconds=10)
    app.ghl.edit_opportunity(opportunity.id, status="abandoned")  # its webhook not here yet
    app.clock.advance(seconds=10)
    await set_status(app, lead_id, LeadStatus.WON)

    assert await push(app) == (1, 0)

    assert app.ghl.opportunities[opportunity.id].status == "won"
    assert app.lead(lead_id).status is LeadStatus.WON
    [conflict] = await conflicts_of(app)
    assert conflict.winners == {"status": "local"}


async def test_a_newer_status_by_webhook_supersedes_the_one_not_pushed_yet(app: Sync) -> None:
    lead_id, opportunity = await lead_with_opportunity(app)
    await set_status(app, lead_id, LeadStatus.WON)
    app.clock.advance(seconds=30)
    lost = app.ghl.edit_opportunity(opportunity.id, status="lost")

    await app.deliver(EventKind.OPPORTUNITY_STATUS_CHANGED, opportunity_payload(lost))

    assert app.lead(lead_id).status is LeadStatus.LOST
    assert [c.status for c in app.changes if c.record_id == lead_id][-1] is ChangeStatus.SUPERSEDED
    assert await push(app) == (0, 0)
    assert app.ghl.called("update_opportunity_status") == []
    assert len(await conflicts_of(app)) == 1


async def test_setting_the_status_a_lead_has_records_nothing(app: Sync) -> None:
    _, lead_id = await lead_of_contact(app)

    await set_status(app, lead_id, LeadStatus.OPEN)

    assert [c for c in app.changes if c.record_id == lead_id] == []
    assert await statuses(app) == []

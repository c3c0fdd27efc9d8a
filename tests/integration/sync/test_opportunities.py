"""Opportunities with the fake GHL over loopback, on SQLite and PostgreSQL: every opportunity
pulled page by page onto its contact's lead, a status changed at GHL without a webhook caught by
the next sync, a status set here pushed to the lead's opportunity (made when it has none) with
its echoes ignored, and a status both sides changed settled by the newer change."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from adapters.persistence.models import LEADS
from application.sync_records import RunStatus, SyncResource
from application.use_cases.update_lead import UpdateLeadCommand
from domain.lead import LeadStatus
from tests.integration.sync.support import (
    PIPELINE,
    SERVICE,
    SyncStack,
    add_contacts,
    add_opportunities,
)


async def statuses(stack: SyncStack) -> dict[str, str]:
    async with stack.engine.connect() as connection:
        rows = await connection.execute(select(LEADS.c.external_id, LEADS.c.status))
        return {row.external_id: row.status for row in rows}


async def test_every_opportunity_is_pulled_in_pages_onto_its_contacts_lead(
    stack: SyncStack,
) -> None:
    changed = stack.clock.now() - timedelta(hours=1)
    add_contacts(stack.fake, 150, changed=changed)
    contacts = sorted(stack.fake.state.contacts)
    add_opportunities(stack.fake, contacts[:120], status="won", changed=changed)

    run = await stack.run()

    assert run.status is RunStatus.SUCCEEDED
    found = await statuses(stack)
    assert [found[c] for c in contacts[:120]] == ["won"] * 120
    assert [found[c] for c in contacts[120:]] == ["open"] * 30
    assert stack.ghl_requests("GET", "/opportunities/search") == 2  # 100 a page
    async with stack.uow() as uow:
        cursor = await uow.sync.get_cursor(stack.integration.id, SyncResource.OPPORTUNITIES)
    assert cursor is not None
    assert cursor.position == changed + timedelta(milliseconds=119)


async def test_a_status_changed_at_ghl_without_a_webhook_is_caught_by_the_next_sync(
    stack: SyncStack,
) -> None:
    changed = stack.clock.now() - timedelta(hours=1)
    add_contacts(stack.fake, 3, changed=changed)
    contacts = sorted(stack.fake.state.contacts)
    [first, *_] = add_opportunities(stack.fake, contacts, status="open", changed=changed)
    await stack.run()
    assert set((await statuses(stack)).values()) == {"open"}

    opportunity = stack.fake.state.opportunities[first]
    stack.fake.state.set_opportunity_status(opportunity, "lost")  # its webhook never came
    stack.clock.advance(minutes=15)
    run = await stack.run()

    assert run.status is RunStatus.SUCCEEDED
    assert await statuses(stack) == {contacts[0]: "lost", contacts[1]: "open", contacts[2]: "open"}


async def lead_id_of(stack: SyncStack, contact_id: str) -> str:
    async with stack.uow() as uow:
        lead = await uow.leads.get_by_external_id(stack.integration.id, contact_id)
    assert lead is not None
    return lead.id


async def set_status(stack: SyncStack, lead_id: str, status: LeadStatus) -> None:
    await stack.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            lead_id=lead_id,
            changes={"status": status},
        )
    )


async def test_a_status_set_here_reaches_the_opportunity_and_its_echoes_are_not_bounced(
    stack: SyncStack,
) -> None:
    changed = stack.clock.now() - timedelta(hours=1)
    add_contacts(stack.fake, 2, changed=changed)
    with_deal, without = sorted(stack.fake.state.contacts)
    [deal] = add_opportunities(stack.fake, [with_deal], status="open", changed=changed)
    await stack.run()

    await set_status(stack, await lead_id_of(stack, with_deal), LeadStatus.WON)
    await set_status(stack, await lead_id_of(stack, without), LeadStatus.LOST)
    stack.clock.advance(minutes=1)
    run = await stack.run()

    assert (run.status, run.pushed, run.failures) == (RunStatus.SUCCEEDED, 2, 0)
    assert stack.fake.state.opportunities[deal]["status"] == "won"
    [created] = [o for o in stack.fake.state.opportunities.values() if o["contactId"] == without]
    assert (created["status"], created["pipelineId"]) == ("lost", PIPELINE)
    assert stack.ghl_requests("PUT", f"/opportunities/{deal}/status") == 1
    assert stack.ghl_requests("POST", "/opportunities/") == 1
    before = await statuses(stack)

    # GHL announces each write twice (and the create twice more): none changes a lead.
    deliveries = await stack.deliver_webhooks()

    assert deliveries == ["ignored"] * len(deliveries)
    assert len(deliveries) == 4
    assert await statuses(stack) == before == {with_deal: "won", without: "lost"}
    stack.clock.advance(minutes=15)
    again = await stack.run()
    assert (again.pushed, again.conflicts, again.missed_by_webhooks) == (0, 0, 0)
    assert stack.ghl_requests("PUT", f"/opportunities/{deal}/status") == 1


async def test_a_status_both_sides_changed_goes_to_the_newer_change_and_is_recorded(
    stack: SyncStack,
) -> None:
    changed = stack.clock.now() - timedelta(hours=1)
    add_contacts(stack.fake, 1, changed=changed)
    [contact] = stack.fake.state.contacts
    [deal] = add_opportunities(stack.fake, [contact], status="open", changed=changed)
    await stack.run()
    lead_id = await lead_id_of(stack, contact)

    await set_status(stack, lead_id, LeadStatus.WON)  # here, at the test clock's time
    stack.fake.state.set_opportunity_status(stack.fake.state.opportunities[deal], "abandoned")
    run = await stack.run()  # GHL's change is newer: the fake stamps the real time

    assert (run.pushed, run.conflicts) == (0, 1)
    assert await statuses(stack) == {contact: "abandoned"}
    assert stack.fake.state.opportunities[deal]["status"] == "abandoned"
    assert await stack.conflicts_count() == 1

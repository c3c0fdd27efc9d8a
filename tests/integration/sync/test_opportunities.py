"""Opportunities with the fake GHL over loopback, on SQLite and PostgreSQL: every opportunity
pulled page by page onto its contact's lead, a status changed at GHL without a webhook caught by
the next sync."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from adapters.persistence.models import LEADS
from application.sync import RunStatus, SyncResource
from tests.integration.sync.support import SyncStack, add_contacts, add_opportunities


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

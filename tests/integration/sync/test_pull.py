"""Pulling from the fake GHL over loopback into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from application.sync import RunStatus, SyncResource
from entrypoints.fake_ghl.faults import ScriptedFault
from tests.integration.sync.support import SyncStack, add_contacts


async def test_two_thousand_contacts_are_pulled_into_leads_in_pages(stack: SyncStack) -> None:
    add_contacts(stack.fake, 2_000, changed=stack.clock.now() - timedelta(hours=1))

    run = await stack.run()

    assert (run.status, run.pulled, run.failures) == (RunStatus.SUCCEEDED, 2_000, 0)
    assert await stack.leads_count() == 2_000
    assert stack.ghl_requests("POST", "/contacts/search") == 4  # 500 a page
    async with stack.uow() as uow:
        cursor = await uow.sync.get_cursor(stack.integration.id, SyncResource.CONTACTS)
        integration = await uow.integrations.get(stack.integration.id)
    assert cursor is not None
    assert cursor.position == stack.clock.now() - timedelta(hours=1, milliseconds=-1_999)
    assert integration is not None
    assert integration.last_sync_at == stack.clock.now()


async def test_an_outage_in_the_middle_of_the_paging_is_resumed_without_duplicates(
    stack: SyncStack,
) -> None:
    add_contacts(stack.fake, 1_200, changed=stack.clock.now() - timedelta(hours=1))
    # After the first page, GHL answers 503 to every retry of the client's: the run retries.
    stack.fake.inject(ScriptedFault(status=503, count=4, path_prefix="/contacts/search", after=1))

    run = await stack.run()

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert await stack.leads_count() == 1_200
    assert run.pulled == 1_200 + 500  # the first page again, in the resumed run's overlap

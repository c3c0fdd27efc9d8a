"""Pulling from the fake GHL over loopback into SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from adapters.ghl.fake.faults import ScriptedFault
from application.sync_records import RecordKind, RunStatus, SyncResource
from application.use_cases.create_lead import CreateLeadCommand
from domain.lead import ContactDetails
from tests.integration.sync.support import SERVICE, SyncStack, add_contacts


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


async def test_the_leads_with_changes_waiting_for_ghl_are_read_at_once(stack: SyncStack) -> None:
    async def create(email: str) -> str:
        view = await stack.create_lead.execute(
            CreateLeadCommand(
                actor=SERVICE,
                integration_id=stack.integration.id,
                details=ContactDetails(first_name="Neo", email=email),
            )
        )
        return view.id

    await create("pushed@example.com")
    await stack.run()
    waiting = await create("waiting@example.com")

    async with stack.uow() as uow:
        leads = await uow.sync.pending_record_ids(stack.integration.id, RecordKind.LEAD)
        bookings = await uow.sync.pending_record_ids(stack.integration.id, RecordKind.BOOKING)
        elsewhere = await uow.sync.pending_record_ids("another-integration", RecordKind.LEAD)

    assert (leads, bookings, elsewhere) == ({waiting}, set(), set())

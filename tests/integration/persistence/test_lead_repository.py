"""SqlAlchemyLeadRepository against the LeadRepository contract (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from application.ports import LeadFilter, OutboxReader, PageRequest, UnitOfWorkFactory
from domain.errors import AlreadyExistsError, ConcurrencyError
from domain.lead import ContactDetails, Lead, LeadStatus
from tests.integration.persistence.leads_support import a_lead, stored_integration
from tests.support.builders import NOW


def _fields(lead: Lead) -> dict[str, object]:
    return {k: v for k, v in vars(lead).items() if k != "_events"}


async def _add(uow_factory: UnitOfWorkFactory, *leads: Lead) -> None:
    async with uow_factory() as uow:
        for lead in leads:
            await uow.leads.add(lead)
        await uow.commit()


async def test_a_lead_reads_back_field_for_field_by_id_and_by_provider_id(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    lead = a_lead(
        integration,
        first_name="Zoë",
        last_name="Ångström",
        email="zoe@example.com",
        phone="+13125550101",
        company="Acme",
        address1="1 Main St",
        city="Chicago",
        state="IL",
        postal_code="60601",
        country="US",
        tags=("vip", "dentist"),
    )
    lead.change_status(LeadStatus.WON, now=NOW, changed_at=NOW)
    await _add(uow_factory, lead)

    async with uow_factory() as uow:
        by_id = await uow.leads.get(lead.id)
        by_provider_id = await uow.leads.get_by_external_id(integration.id, "contact-1")

    assert by_id is not None
    assert by_provider_id is not None
    assert _fields(by_id) == _fields(lead) == _fields(by_provider_id)
    assert by_id.details.tags == ("vip", "dentist")


async def test_a_provider_contact_is_one_lead_per_integration(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first, second = await stored_integration(uow_factory, "sub-1", "sub-2")
    await _add(uow_factory, a_lead(first), a_lead(second))

    async with uow_factory() as uow:
        with pytest.raises(AlreadyExistsError):
            await uow.leads.add(a_lead(first))

    async with uow_factory() as uow:
        assert await uow.leads.get_by_external_id(second.id, "contact-1") is not None
        assert await uow.leads.get_by_external_id(first.id, "contact-2") is None


async def test_leads_added_together_read_back_with_their_events_in_the_outbox(
    uow_factory: UnitOfWorkFactory, outbox: OutboxReader
) -> None:
    [integration] = await stored_integration(uow_factory)
    before = await outbox.read(after_sequence=0, limit=100)
    leads = [a_lead(integration, f"contact-{n}", first_name=f"N{n}", tags=("t",)) for n in range(3)]

    async with uow_factory() as uow:
        await uow.leads.add_many(leads)
        await uow.leads.add_many([])
        await uow.commit()

    async with uow_factory() as uow:
        stored = [await uow.leads.get(lead.id) for lead in leads]
    assert [_fields(s) for s in stored if s is not None] == [_fields(lead) for lead in leads]
    records = await outbox.read(after_sequence=before[-1].sequence if before else 0, limit=100)
    assert [(r.event_type, r.aggregate_id) for r in records] == [
        ("LeadCaptured", lead.id) for lead in leads
    ]


@pytest.mark.parametrize("clash", ["stored already", "twice in the batch"])
async def test_leads_added_together_are_all_refused_when_one_exists(
    uow_factory: UnitOfWorkFactory, clash: str
) -> None:
    [integration] = await stored_integration(uow_factory)
    if clash == "stored already":
        await _add(uow_factory, a_lead(integration, "contact-2"))
    batch = [a_lead(integration, "contact-1"), a_lead(integration, "contact-2")]
    if clash == "twice in the batch":
        batch.append(a_lead(integration, "contact-1"))

    async with uow_factory() as uow:
        with pytest.raises(AlreadyExistsError):
            await uow.leads.add_many(batch)

    async with uow_factory() as uow:
        assert await uow.leads.get_by_external_id(integration.id, "contact-1") is None


async def test_the_leads_of_many_contacts_are_read_at_once_within_their_integration(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first, second = await stored_integration(uow_factory, "sub-1", "sub-2")
    mine = [a_lead(first, f"contact-{n}") for n in range(0, 600, 2)]
    longest = a_lead(first, "y" * 128)
    async with uow_factory() as uow:
        await uow.leads.add_many([*mine, longest])
        await uow.leads.add_many([a_lead(second, f"contact-{n}") for n in range(600)])
        await uow.commit()
    # An id longer than any lead's is no lead's, even one with its first 128 characters.
    asked = [f"contact-{n}" for n in range(600)] + ["contact-0", "unknown", "y" * 129]

    # Repeated: PostgreSQL plans a prepared statement generically after a few executions.
    for _ in range(7):
        async with uow_factory() as uow:
            found = await uow.leads.get_many_by_external_id(first.id, asked)
            assert await uow.leads.get_many_by_external_id(first.id, []) == {}

        assert {k: v.id for k, v in found.items()} == {lead.external_id: lead.id for lead in mine}
        assert all(lead.integration_id == first.id for lead in found.values())


async def test_an_update_writes_the_change_and_a_stale_copy_fails(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    lead = a_lead(integration, first_name="Ada")
    await _add(uow_factory, lead)

    async with uow_factory() as uow:
        stale = await uow.leads.get(lead.id)
    async with uow_factory() as uow:
        fresh = await uow.leads.get(lead.id)
        assert fresh is not None
        fresh.sync(details=ContactDetails(first_name="Grace"), now=NOW)
        await uow.leads.update(fresh)
        await uow.commit()
    assert stale is not None
    stale.mark_deleted(now=NOW)

    async with uow_factory() as uow:
        with pytest.raises(ConcurrencyError):
            await uow.leads.update(stale)

    async with uow_factory() as uow:
        stored = await uow.leads.get(lead.id)
    assert stored is not None
    assert (stored.details.first_name, stored.deleted, stored.version) == ("Grace", False, 2)


async def test_a_leads_events_reach_the_outbox_with_the_change(
    uow_factory: UnitOfWorkFactory, outbox: OutboxReader
) -> None:
    [integration] = await stored_integration(uow_factory)
    before = await outbox.read(after_sequence=0, limit=100)
    lead = a_lead(integration)
    await _add(uow_factory, lead)
    async with uow_factory() as uow:
        loaded = await uow.leads.get(lead.id)
        assert loaded is not None
        loaded.change_status(LeadStatus.LOST, now=NOW)
        await uow.leads.update(loaded)
        await uow.commit()

    records = await outbox.read(after_sequence=before[-1].sequence if before else 0, limit=100)

    assert [(r.event_type, r.aggregate_version) for r in records] == [
        ("LeadCaptured", 1),
        ("LeadStatusChanged", 2),
    ]
    assert records[1].payload["status"] == "lost"
    assert {r.aggregate_id for r in records} == {lead.id}


async def test_leads_are_listed_by_sub_account_or_integration_in_pages(
    uow_factory: UnitOfWorkFactory,
) -> None:
    mine, other = await stored_integration(uow_factory, "sub-1", "sub-2")
    leads = [a_lead(mine, f"c-{n}") for n in range(5)]
    gone = a_lead(mine, "c-gone")
    gone.mark_deleted(now=NOW)
    await _add(uow_factory, *leads[:2], a_lead(other, "c-x"), gone, *leads[2:])

    found: list[str] = []
    sizes: list[int] = []
    after: str | None = None
    async with uow_factory() as uow:
        while True:
            page = await uow.leads.list_page(
                LeadFilter(sub_account_id="sub-1"), PageRequest(size=2, after_id=after)
            )
            found.extend(lead.external_id for lead in page.items)
            sizes.append(len(page.items))
            if page.next_after_id is None:
                break
            after = page.next_after_id
        by_integration = await uow.leads.list_page(
            LeadFilter(integration_id=mine.id, include_deleted=True), PageRequest(size=10)
        )

    assert found == [f"c-{n}" for n in range(5)]
    assert sizes == [2, 2, 1]
    # Ordered by id, that is by creation, whatever the order they were stored in.
    assert [lead.external_id for lead in by_integration.items] == [
        "c-0",
        "c-1",
        "c-2",
        "c-3",
        "c-4",
        "c-gone",
    ]


async def test_deleting_an_integration_deletes_its_leads(uow_factory: UnitOfWorkFactory) -> None:
    [integration] = await stored_integration(uow_factory)
    lead = a_lead(integration)
    await _add(uow_factory, lead)

    async with uow_factory() as uow:
        loaded = await uow.integrations.get(integration.id)
        assert loaded is not None
        await uow.integrations.delete(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.leads.get(lead.id) is None

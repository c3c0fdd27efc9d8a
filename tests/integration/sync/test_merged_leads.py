"""A lead created here whose contact GHL merges into one another lead already stands for (its
upsert matches by phone): the other lead lives on, and the new one names it."""

from __future__ import annotations

from adapters.persistence.engine import create_session_factory
from adapters.persistence.outbox import SqlAlchemyOutboxReader
from application.use_cases.create_lead import CreateLeadCommand
from domain.lead import ContactDetails
from tests.integration.sync.support import SERVICE, SyncStack
from tests.integration.sync.test_push import book, booking_of, lead_of

PHONE = "+15415550134"


async def create_lead(stack: SyncStack, email: str) -> str:
    view = await stack.create_lead.execute(
        CreateLeadCommand(
            actor=SERVICE,
            integration_id=stack.integration.id,
            details=ContactDetails(first_name="Ada", email=email, phone=PHONE),
        )
    )
    return view.id


async def test_a_lead_ghl_merges_is_recorded_as_merged_into_the_surviving_lead(
    stack: SyncStack,
) -> None:
    survivor_id = await create_lead(stack, "ada@example.com")
    await stack.run()
    survivor = await lead_of(stack, survivor_id)
    merged_id = await create_lead(stack, "ada.lovelace@example.com")
    booking_id = await book(stack, merged_id)  # booked before the merge is known

    await stack.run()

    merged = await lead_of(stack, merged_id)
    assert (merged.deleted, merged.merged_into_id) == (True, survivor_id)
    survivor = await lead_of(stack, survivor_id)
    assert (survivor.deleted, survivor.details.email) == (False, "ada.lovelace@example.com")
    [contact] = stack.fake.state.contacts.values()
    assert contact["id"] == survivor.external_id
    records = await SqlAlchemyOutboxReader(create_session_factory(stack.engine)).read(
        after_sequence=0, limit=1000
    )
    about_merged = [r for r in records if r.aggregate_id == merged_id]
    assert [r.event_type for r in about_merged][-1] == "LeadMerged"
    assert "LeadDeleted" not in [r.event_type for r in about_merged]
    assert about_merged[-1].payload["surviving_lead_id"] == survivor_id
    assert about_merged[-1].payload["external_id"] == survivor.external_id
    booking = await booking_of(stack, booking_id)
    assert booking.details.contact_external_id == survivor.external_id
    assert booking.on_provider

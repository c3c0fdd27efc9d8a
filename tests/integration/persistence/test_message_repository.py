"""SqlAlchemyMessageRepository: recorded once, replies claimed once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.ports import UnitOfWorkFactory
from domain.conversation import ConversationMessage, MessageStatus
from domain.errors import AlreadyExistsError
from domain.integration import Integration
from tests.integration.persistence.leads_support import a_message, stored_integration
from tests.support.builders import IDS, NOW
from tests.support.databases import clean_tables


def _fields(message: ConversationMessage) -> dict[str, object]:
    return {k: v for k, v in vars(message).items() if k != "_events"}


async def _inbound_with_reply(
    uow_factory: UnitOfWorkFactory, integration: Integration, key: str, *, age: timedelta
) -> ConversationMessage:
    message = a_message(integration, key)
    reply = message.queue_reply(id=IDS.new_id(), body="Hi!", channel="SMS", now=NOW - age)
    async with uow_factory() as uow:
        await uow.messages.add(message)
        await uow.messages.add(reply)
        await uow.commit()
    return reply


async def test_a_message_reads_back_field_for_field_by_id_and_by_key(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    message = a_message(integration)
    async with uow_factory() as uow:
        await uow.messages.add(message)
        await uow.commit()

    async with uow_factory() as uow:
        by_id = await uow.messages.get(message.id)
        by_key = await uow.messages.get_by_dedupe_key(integration.id, "ghl:msg-1")
        missing = await uow.messages.get_by_dedupe_key(integration.id, "ghl:other")

    assert by_id is not None
    assert by_key is not None
    assert _fields(by_id) == _fields(message) == _fields(by_key)
    assert missing is None


async def test_a_message_is_recorded_once_per_key(uow_factory: UnitOfWorkFactory) -> None:
    [integration] = await stored_integration(uow_factory)
    async with uow_factory() as uow:
        await uow.messages.add(a_message(integration))
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(AlreadyExistsError):
            await uow.messages.add(a_message(integration))


async def test_only_the_services_own_sent_messages_count_as_its_own(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    reply = await _inbound_with_reply(uow_factory, integration, "ghl:in-1", age=timedelta(0))
    async with uow_factory() as uow:
        loaded = await uow.messages.get(reply.id)
        assert loaded is not None
        loaded.start_sending(now=NOW)
        loaded.mark_sent(external_message_id="out-1", conversation_id="conv-1", now=NOW)
        await uow.messages.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.messages.is_own_message(integration.id, "out-1")
        assert not await uow.messages.is_own_message(integration.id, "in-1")  # the contact's
        assert not await uow.messages.is_own_message("another-integration", "out-1")


async def test_due_replies_come_oldest_first_and_only_when_due(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    newer = await _inbound_with_reply(uow_factory, integration, "ghl:1", age=timedelta(minutes=1))
    older = await _inbound_with_reply(uow_factory, integration, "ghl:2", age=timedelta(minutes=2))
    later = await _inbound_with_reply(uow_factory, integration, "ghl:3", age=timedelta(minutes=3))
    async with uow_factory() as uow:
        deferred = await uow.messages.get(later.id)
        assert deferred is not None
        deferred.start_sending(now=NOW)
        deferred.defer(until=NOW + timedelta(seconds=30), reason="rate limited", now=NOW)
        await uow.messages.update(deferred)
        await uow.commit()

    async with uow_factory() as uow:
        now_due = await uow.messages.due_replies(now=NOW, limit=10)
        after_wait = await uow.messages.due_replies(now=NOW + timedelta(seconds=30), limit=10)
        first_only = await uow.messages.due_replies(now=NOW, limit=1)

    assert [m.id for m in now_due] == [older.id, newer.id]
    assert [m.id for m in after_wait] == [later.id, older.id, newer.id]
    assert [m.id for m in first_only] == [older.id]


async def test_replies_stuck_sending_are_found_after_the_cutoff(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    reply = await _inbound_with_reply(uow_factory, integration, "ghl:1", age=timedelta(0))
    async with uow_factory() as uow:
        loaded = await uow.messages.get(reply.id)
        assert loaded is not None
        loaded.start_sending(now=NOW)
        await uow.messages.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        before = await uow.messages.stuck_replies(sending_since=NOW, limit=10)
        after = await uow.messages.stuck_replies(sending_since=NOW + timedelta(seconds=1), limit=10)
        pending = await uow.messages.due_replies(now=NOW + timedelta(hours=1), limit=10)

    assert before == []
    assert [(m.id, m.status) for m in after] == [(reply.id, MessageStatus.SENDING)]
    assert pending == []


@pytest.mark.postgres
async def test_two_senders_never_claim_the_same_reply_on_postgres(
    postgres_database_url: str,
) -> None:
    # Row locks are PostgreSQL's (SQLite serialises its writers): this runs there only.
    engine = create_engine(postgres_database_url)
    await clean_tables(engine)
    uow_factory = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
    try:
        [integration] = await stored_integration(uow_factory)
        for n in range(4):
            await _inbound_with_reply(
                uow_factory, integration, f"ghl:{n}", age=timedelta(minutes=n)
            )
        holding = asyncio.Event()
        release = asyncio.Event()

        async def first_sender() -> list[str]:
            async with uow_factory() as uow:
                claimed = await uow.messages.due_replies(now=NOW, limit=2)
                holding.set()
                await release.wait()
            return [m.id for m in claimed]

        async def second_sender() -> list[str]:
            await holding.wait()
            async with uow_factory() as uow:
                claimed = await uow.messages.due_replies(now=NOW, limit=10)
            release.set()
            return [m.id for m in claimed]

        first, second = await asyncio.gather(first_sender(), second_sender())
    finally:
        await engine.dispose()

    assert len(first) == 2
    assert len(second) == 2
    assert not set(first) & set(second)

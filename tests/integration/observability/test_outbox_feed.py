"""PollingOutboxFeed on SQLite and Postgres: pages never skip an event that commits late, filtered
pages move past other sub-accounts' events, waiters wake on commits and on close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.ids import Uuid7Generator
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.event_feed import PollingOutboxFeed
from adapters.persistence.outbox import SqlAlchemyOutboxReader, append, event_to_row
from domain.events import IntegrationDeleted
from tests.support.databases import clean_tables
from tests.support.waiting import PATIENCE_SECONDS

IDS = Uuid7Generator()
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await clean_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
async def feed(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[PollingOutboxFeed]:
    feed = PollingOutboxFeed(engine, SqlAlchemyOutboxReader(sessions), poll_interval=0.01)
    yield feed
    feed.close()


def row(sub_account_id: str = "sub-1") -> dict[str, object]:
    event = IntegrationDeleted(
        aggregate_id=IDS.new_id(),
        aggregate_version=1,
        occurred_at=NOW,
        sub_account_id=sub_account_id,
    )
    return event_to_row(event, aggregate_type="Integration", event_id=IDS.new_id(), recorded_at=NOW)


async def commit_event(sessions: async_sessionmaker[AsyncSession], sub: str = "sub-1") -> None:
    async with sessions() as session:
        await append(session, [row(sub)])
        await session.commit()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_a_page_waits_for_an_event_still_committing_rather_than_skip_it(
    feed: PollingOutboxFeed, sessions: async_sessionmaker[AsyncSession]
) -> None:
    slow = sessions()
    await append(slow, [row()])  # its sequence is handed out; it is not committed yet
    await commit_event(sessions)  # a later sequence, committed first

    page = asyncio.create_task(feed.read_page(after_sequence=0, limit=10))
    await asyncio.sleep(0.2)
    assert not page.done(), "the reader must wait for the writer in flight"
    await slow.commit()
    await slow.close()

    records = (await asyncio.wait_for(page, timeout=PATIENCE_SECONDS)).records
    assert len(records) == 2
    assert records[0].sequence < records[1].sequence


async def test_a_filtered_page_moves_past_other_sub_accounts_events(
    feed: PollingOutboxFeed, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for sub in ("sub-1", "sub-2", "sub-2", "sub-1", "sub-2"):
        await commit_event(sessions, sub)
    everything = (await feed.read_page(after_sequence=0, limit=100)).records

    first = await feed.read_page(after_sequence=0, limit=1, sub_account_id="sub-1")
    second = await feed.read_page(after_sequence=first.scanned_to, limit=1, sub_account_id="sub-1")
    last = await feed.read_page(after_sequence=second.scanned_to, limit=1, sub_account_id="sub-1")

    assert [r.sequence for r in first.records + second.records] == [
        r.sequence for r in everything if r.sub_account_id == "sub-1"
    ]
    assert first.scanned_to == everything[0].sequence  # a full page: scanned to its last event
    assert last.records == []
    assert last.scanned_to == everything[-1].sequence  # nothing left: scanned to the head


async def test_a_waiter_wakes_when_an_event_commits_and_every_waiter_when_the_feed_closes(
    feed: PollingOutboxFeed, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await commit_event(sessions)
    head = (await feed.read_page(after_sequence=0, limit=10)).scanned_to
    assert await asyncio.wait_for(feed.wait_for_events(head - 1), PATIENCE_SECONDS) is True

    waiting = asyncio.create_task(feed.wait_for_events(head))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await commit_event(sessions)
    assert await asyncio.wait_for(waiting, timeout=PATIENCE_SECONDS) is True

    idle = [asyncio.create_task(feed.wait_for_events(head + 1)) for _ in range(3)]
    await asyncio.sleep(0.05)
    feed.close()
    assert await asyncio.wait_for(asyncio.gather(*idle), PATIENCE_SECONDS) == [False] * 3
    assert await feed.wait_for_events(0) is False

"""The outbox: domain events written in the transaction that changed their aggregate, read in
commit order by whoever publishes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.errors import translated
from adapters.persistence.models import OUTBOX
from application.event_feed import OutboxPage
from application.ports import OutboxRecord
from domain.events import DomainEvent

# One advisory lock key for the outbox ("outbox" in ASCII), shared by writers, exclusive to
# readers: see `append` and `SqlAlchemyOutboxReader.read`.
_LOCK_KEY: Final = 0x6F7574626F78


def event_to_row(
    event: DomainEvent, *, aggregate_type: str, event_id: str, recorded_at: datetime
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "aggregate_id": event.aggregate_id,
        "aggregate_type": aggregate_type,
        "sub_account_id": event.sub_account_id,
        "event_type": event.event_type,
        "aggregate_version": event.aggregate_version,
        "payload": event.payload(),
        "occurred_at": event.occurred_at,
        "recorded_at": recorded_at,
    }


async def append(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows in the session's transaction, which must commit right after.

    PostgreSQL hands out `sequence` values at insert, not at commit, so a transaction could
    commit an event behind one that a reader has already passed. Writers therefore hold a shared
    advisory lock from the insert to their commit, and readers take it exclusively: a reader
    waits for the writers in flight, and sees every sequence handed out before it. Writers do
    not wait for each other. On SQLite writers are serialized already (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock_shared(_LOCK_KEY)))
    await session.execute(insert(OUTBOX), list(rows))


class SqlAlchemyOutboxReader:
    """Reads the outbox in sequence order, each call in its own short transaction."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @translated
    async def read(self, *, after_sequence: int, limit: int) -> list[OutboxRecord]:
        query = (
            select(
                OUTBOX.c.sequence,
                OUTBOX.c.event_id,
                OUTBOX.c.event_type,
                OUTBOX.c.aggregate_id,
                OUTBOX.c.aggregate_version,
                OUTBOX.c.sub_account_id,
                OUTBOX.c.occurred_at,
                OUTBOX.c.payload,
            )
            .where(OUTBOX.c.sequence > after_sequence)
            .order_by(OUTBOX.c.sequence)
            .limit(limit)
        )
        async with self._session_factory() as session:
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
            rows = (await session.execute(query)).all()
        return [OutboxRecord(**row._asdict()) for row in rows]

    @translated
    async def read_page(
        self, *, after_sequence: int, limit: int, sub_account_id: str | None = None
    ) -> OutboxPage:
        """As `read`, optionally one sub-account's events only. A page shorter than `limit`
        was scanned to the newest sequence committed, so that a filtered reader moves past
        other sub-accounts' events rather than scanning them again."""
        query = (
            select(*_RECORD_COLUMNS)
            .where(OUTBOX.c.sequence > after_sequence)
            .order_by(OUTBOX.c.sequence)
            .limit(limit)
        )
        if sub_account_id is not None:
            query = query.where(OUTBOX.c.sub_account_id == sub_account_id)
        async with self._session_factory() as session:
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
            rows = (await session.execute(query)).all()
            if len(rows) == limit:
                scanned_to = rows[-1].sequence
            else:
                # Under the lock every sequence handed out so far has committed (or never will).
                head = (await session.execute(select(func.max(OUTBOX.c.sequence)))).scalar()
                scanned_to = max(after_sequence, head or 0)
        return OutboxPage([OutboxRecord(**row._asdict()) for row in rows], scanned_to)


_RECORD_COLUMNS = (
    OUTBOX.c.sequence,
    OUTBOX.c.event_id,
    OUTBOX.c.event_type,
    OUTBOX.c.aggregate_id,
    OUTBOX.c.aggregate_version,
    OUTBOX.c.sub_account_id,
    OUTBOX.c.occurred_at,
    OUTBOX.c.payload,
)

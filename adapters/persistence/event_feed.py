"""An OutboxFeed over the outbox table: pages read under the outbox lock, and one poller per process
that watches the outbox's head for every waiting stream."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.models import OUTBOX
from adapters.persistence.outbox import SqlAlchemyOutboxReader
from application.event_feed import OutboxPage

log = structlog.get_logger(__name__)

DEFAULT_POLL_INTERVAL = 0.2


class PollingOutboxFeed:
    """However many streams wait, one query per `poll_interval` (the outbox's newest sequence,
    an index lookup) runs while any of them waits, and none when none does. A head that moved
    wakes every waiter; each reads its own pages. The head read without the lock is only a hint:
    pages are read under it (SqlAlchemyOutboxReader.read_page), so a sequence seen in the hint
    whose predecessors are still committing is waited for, never skipped."""

    def __init__(
        self,
        engine: AsyncEngine,
        reader: SqlAlchemyOutboxReader,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self._engine = engine
        self._reader = reader
        self._interval = poll_interval
        self._head: int | None = None
        self._moved = asyncio.Event()
        self._waiters = 0
        self._poller: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False

    async def read_page(
        self, *, after_sequence: int, limit: int, sub_account_id: str | None = None
    ) -> OutboxPage:
        return await self._reader.read_page(
            after_sequence=after_sequence, limit=limit, sub_account_id=sub_account_id
        )

    async def wait_for_events(self, after_sequence: int) -> bool:
        while not self._closed:
            if self._head is not None and self._head > after_sequence:
                return True
            moved = self._moved
            self._waiters += 1
            try:
                if self._poller is None:
                    self._poller = asyncio.create_task(self._poll())
                await moved.wait()
            finally:
                self._waiters -= 1
        return False

    def close(self) -> None:
        self._closed = True
        self._moved.set()
        if self._poller is not None:
            self._poller.cancel()

    async def _poll(self) -> None:
        try:
            while self._waiters > 0 and not self._closed:
                head = await self._read_head()
                if head is not None and head != self._head:
                    self._head = head
                    moved, self._moved = self._moved, asyncio.Event()
                    moved.set()
                await asyncio.sleep(self._interval)
        finally:
            self._poller = None

    async def _read_head(self) -> int | None:
        try:
            async with self._engine.connect() as connection:
                head = (await connection.execute(select(func.max(OUTBOX.c.sequence)))).scalar()
        except Exception as err:  # the database is down: streams wait, reads will fail loudly
            if not self._failing:
                log.warning("outbox_poll_failed", error_type=type(err).__name__)
            self._failing = True
            return None
        self._failing = False
        return int(head or 0)

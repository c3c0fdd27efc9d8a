"""The unit of work: one session, one transaction, the touched aggregates' events in the outbox."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.clock import SystemClock
from adapters.ids import Uuid7Generator
from adapters.persistence.errors import storage_errors, translated
from adapters.persistence.leads import (
    SqlAlchemyBookingRepository,
    SqlAlchemyLeadRepository,
    SqlAlchemyMessageRepository,
)
from adapters.persistence.outbox import append, event_to_row
from adapters.persistence.repositories import (
    SeenAggregates,
    SqlAlchemyIntegrationRepository,
    SqlAlchemyTemplateRepository,
)
from adapters.persistence.sync_repository import SqlAlchemySyncRepository
from adapters.persistence.webhook_inbox import SqlAlchemyInbox
from application.ports import (
    BookingRepository,
    Clock,
    IdGenerator,
    Inbox,
    IntegrationRepository,
    LeadRepository,
    MessageRepository,
    TemplateRepository,
)
from application.sync_records import SyncRepository

_EVENT_IDS = Uuid7Generator()
_CLOCK = SystemClock()


class SqlAlchemyUnitOfWork:
    """`async with uow:` opens a session; `commit()` writes the events of every aggregate the
    repositories loaded or wrote to the outbox, then commits; leaving without a commit (or after
    a failed one) rolls back. Transient database failures surface as StorageUnavailableError."""

    templates: TemplateRepository
    integrations: IntegrationRepository
    leads: LeadRepository
    bookings: BookingRepository
    messages: MessageRepository
    inbox: Inbox
    sync: SyncRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        event_ids: IdGenerator | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._event_ids = event_ids or _EVENT_IDS
        self._clock = clock or _CLOCK

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        self._seen = SeenAggregates()
        self.templates = SqlAlchemyTemplateRepository(self._session, self._seen)
        self.integrations = SqlAlchemyIntegrationRepository(self._session, self._seen)
        self.leads = SqlAlchemyLeadRepository(self._session, self._seen)
        self.bookings = SqlAlchemyBookingRepository(self._session, self._seen)
        self.messages = SqlAlchemyMessageRepository(self._session, self._seen)
        self.inbox = SqlAlchemyInbox(self._session, self._seen)
        self.sync = SqlAlchemySyncRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing rolls back whatever was not committed and returns the connection to the pool.
        with storage_errors():
            await self._session.close()

    @translated
    async def commit(self) -> None:
        recorded_at = self._clock.now()
        rows = [
            event_to_row(
                event,
                aggregate_type=type(aggregate).__name__,
                event_id=self._event_ids.new_id(),
                recorded_at=recorded_at,
            )
            for aggregate in self._seen
            for event in aggregate.pull_events()
        ]
        if rows:
            await append(self._session, rows)
        await self._session.commit()

    @translated
    async def rollback(self) -> None:
        await self._session.rollback()
        # Their changes are undone: their events must not reach a later commit.
        for aggregate in self._seen:
            aggregate.pull_events()
        self._seen.clear()


class SqlAlchemyUnitOfWorkFactory:
    """Makes units of work on one session factory (a UnitOfWorkFactory, for the container)."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        event_ids: IdGenerator | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._event_ids = event_ids
        self._clock = clock

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self._session_factory, event_ids=self._event_ids, clock=self._clock
        )

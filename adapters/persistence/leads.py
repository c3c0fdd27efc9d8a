"""Repositories of leads, bookings and conversation messages, on one unit of work's session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    Table,
    Update,
    bindparam,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.errors import is_unique_violation, translated
from adapters.persistence.lead_mappers import (
    booking_from_row,
    booking_to_row,
    lead_from_row,
    lead_to_row,
    message_from_row,
    message_to_row,
)
from adapters.persistence.models import BOOKINGS, CONVERSATION_MESSAGES, LEADS
from adapters.persistence.repositories import (
    SeenAggregates,
    _check_one_row,
    _keyset,
    _page,
)
from application.ports import BookingFilter, LeadFilter, Page, PageRequest
from domain.aggregate import Aggregate
from domain.booking import Booking
from domain.conversation import ConversationMessage, MessageDirection, MessageStatus
from domain.errors import AlreadyExistsError
from domain.lead import Lead

A = TypeVar("A", bound=Aggregate)


class _AggregateTable(Generic[A]):
    """Reads and optimistic writes of one aggregate type's table."""

    resource: str

    def __init__(
        self,
        session: AsyncSession,
        seen: SeenAggregates,
        table: Table,
        from_row: Callable[[Row[Any]], A],
        to_row: Callable[[A], dict[str, Any]],
    ) -> None:
        self._session = session
        self.seen = seen
        self._table = table
        self._from_row = from_row
        self._to_row = to_row

    @translated
    async def get(self, aggregate_id: str) -> A | None:
        return await self._one(self._table.c.id == aggregate_id)

    @translated
    async def add(self, aggregate: A) -> None:
        await self._insert([aggregate])

    @translated
    async def add_many(self, aggregates: Sequence[A]) -> None:
        """Insert all in one statement, or none."""
        if aggregates:
            await self._insert(aggregates)

    async def _insert(self, aggregates: Sequence[A]) -> None:
        # Rows as execution parameters, not .values(): the statement is compiled once and
        # cached, and several rows go as one executemany (asyncpg pipelines it).
        rows = [self._to_row(aggregate) for aggregate in aggregates]
        try:
            await self._session.execute(insert(self._table), rows)
        except IntegrityError as err:
            if is_unique_violation(err):
                raise AlreadyExistsError(
                    f"the {self.resource} already exists", metadata={"resource": self.resource}
                ) from err
            raise
        for aggregate in aggregates:
            self.seen.add(aggregate)

    @translated
    async def update(self, aggregate: A) -> None:
        row = self._to_row(aggregate)
        row["at_id"], row["at_version"] = row.pop("id"), row.pop("version")
        result = await self._session.execute(_update_at_version(self._table), row)
        _check_one_row(result, self.resource, aggregate)
        aggregate.version += 1
        self.seen.add(aggregate)

    async def _one(self, condition: ColumnElement[bool]) -> A | None:
        row = (await self._session.execute(select(self._table).where(condition))).first()
        return None if row is None else self._load(row)

    async def _all(self, query: Any) -> list[A]:
        return [self._load(row) for row in (await self._session.execute(query)).all()]

    def _load(self, row: Row[Any]) -> A:
        aggregate = self._from_row(row)
        self.seen.add(aggregate)
        return aggregate


@cache
def _update_at_version(table: Table) -> Update:
    """Write every column but the key, with the version bumped in SQL, if the row is still at
    the version read (`at_id`, `at_version`). Values go as execution parameters, so the
    statement is compiled once, not for every row."""
    c = table.c
    return (
        update(table)
        .where((c.id == bindparam("at_id")) & (c.version == bindparam("at_version")))
        .values(version=c.version + 1)
    )


class SqlAlchemyLeadRepository(_AggregateTable[Lead]):
    resource = "lead"

    def __init__(self, session: AsyncSession, seen: SeenAggregates) -> None:
        super().__init__(session, seen, LEADS, lead_from_row, lead_to_row)

    @translated
    async def get_by_external_id(self, integration_id: str, external_id: str) -> Lead | None:
        return await self._one(
            (LEADS.c.integration_id == integration_id) & (LEADS.c.external_id == external_id)
        )

    @translated
    async def get_many_by_external_id(
        self, integration_id: str, external_ids: Sequence[str]
    ) -> dict[str, Lead]:
        if not external_ids:
            return {}
        wanted = list(dict.fromkeys(external_ids))
        of_integration = LEADS.c.integration_id == integration_id
        if self._session.get_bind().dialect.name != "postgresql":
            query = select(LEADS).where(of_integration & LEADS.c.external_id.in_(wanted))
        else:
            # An IN list of a page's ids runs, once PostgreSQL switches the prepared statement to
            # a generic plan, as a scan of all the integration's leads, each compared with every
            # id: O(leads * page). One index probe per id instead, whatever the table's size or
            # statistics (LIMIT 1 keeps the lateral subquery from being flattened into a join).
            # The ids go as text: a length-limited type would truncate one that is too long.
            ids = (
                func.unnest(bindparam("external_ids", wanted, type_=ARRAY(String())))
                .table_valued("external_id")
                .render_derived()
            )
            lead = (
                select(LEADS)
                .where(of_integration & (LEADS.c.external_id == ids.c.external_id))
                .limit(1)
                .lateral()
            )
            query = select(lead).select_from(ids).join(lead, true())
        return {lead.external_id: lead for lead in await self._all(query)}

    @translated
    async def list_page(self, filter: LeadFilter, page: PageRequest) -> Page[Lead]:
        query = select(LEADS)
        if filter.sub_account_id is not None:
            query = query.where(LEADS.c.sub_account_id == filter.sub_account_id)
        if filter.integration_id is not None:
            query = query.where(LEADS.c.integration_id == filter.integration_id)
        if not filter.include_deleted:
            query = query.where(LEADS.c.deleted.is_(False))
        if filter.statuses:
            query = query.where(LEADS.c.status.in_(sorted(str(s) for s in filter.statuses)))
        rows = (await self._session.execute(_keyset(query, LEADS.c.id, page))).all()
        return _page(rows, page, self._load)


class SqlAlchemyBookingRepository(_AggregateTable[Booking]):
    resource = "booking"

    def __init__(self, session: AsyncSession, seen: SeenAggregates) -> None:
        super().__init__(session, seen, BOOKINGS, booking_from_row, booking_to_row)

    @translated
    async def get_by_external_id(self, integration_id: str, external_id: str) -> Booking | None:
        return await self._one(
            (BOOKINGS.c.integration_id == integration_id) & (BOOKINGS.c.external_id == external_id)
        )

    @translated
    async def list_page(self, filter: BookingFilter, page: PageRequest) -> Page[Booking]:
        query = select(BOOKINGS)
        if filter.sub_account_id is not None:
            query = query.where(BOOKINGS.c.sub_account_id == filter.sub_account_id)
        if filter.integration_id is not None:
            query = query.where(BOOKINGS.c.integration_id == filter.integration_id)
        if filter.lead_id is not None:
            query = query.where(BOOKINGS.c.lead_id == filter.lead_id)
        if filter.ends_after is not None:
            query = query.where(BOOKINGS.c.end_at > filter.ends_after)
        if filter.starts_before is not None:
            query = query.where(BOOKINGS.c.start_at < filter.starts_before)
        rows = (await self._session.execute(_keyset(query, BOOKINGS.c.id, page))).all()
        return _page(rows, page, self._load)


class SqlAlchemyMessageRepository(_AggregateTable[ConversationMessage]):
    resource = "conversation message"

    def __init__(self, session: AsyncSession, seen: SeenAggregates) -> None:
        super().__init__(session, seen, CONVERSATION_MESSAGES, message_from_row, message_to_row)

    @translated
    async def get_by_dedupe_key(
        self, integration_id: str, dedupe_key: str
    ) -> ConversationMessage | None:
        c = CONVERSATION_MESSAGES.c
        return await self._one((c.integration_id == integration_id) & (c.dedupe_key == dedupe_key))

    @translated
    async def is_own_message(self, integration_id: str, external_message_id: str) -> bool:
        c = CONVERSATION_MESSAGES.c
        query = (
            select(c.id)
            .where(
                (c.integration_id == integration_id)
                & (c.external_message_id == external_message_id)
                & (c.direction == str(MessageDirection.OUTBOUND))
            )
            .limit(1)
        )
        return (await self._session.execute(query)).first() is not None

    @translated
    async def due_replies(self, *, now: datetime, limit: int) -> list[ConversationMessage]:
        c = CONVERSATION_MESSAGES.c
        query = (
            select(CONVERSATION_MESSAGES)
            .where(
                (c.status == str(MessageStatus.PENDING))
                & (c.not_before.is_(None) | (c.not_before <= now))
            )
            .order_by(c.created_at, c.id)
            .limit(limit)
            # Several senders share the work on PostgreSQL; SQLite serialises writers anyway.
            .with_for_update(skip_locked=True)
        )
        return await self._all(query)

    @translated
    async def stuck_replies(
        self, *, sending_since: datetime, limit: int
    ) -> list[ConversationMessage]:
        c = CONVERSATION_MESSAGES.c
        query = (
            select(CONVERSATION_MESSAGES)
            .where((c.status == str(MessageStatus.SENDING)) & (c.updated_at < sending_since))
            .order_by(c.created_at, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return await self._all(query)

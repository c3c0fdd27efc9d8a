"""ListBookings: read an integration's bookings synced from its provider's calendars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.access import visible_integration
from application.dto import BookingView
from application.ports import BookingFilter, Page, PageRequest, UnitOfWorkFactory
from domain.errors import FieldViolation, InvalidArgumentError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class ListBookingsQuery:
    actor: Principal
    page: PageRequest
    integration_id: str
    window_start: datetime | None = None
    """Only bookings that end after this time."""
    window_end: datetime | None = None
    """Only bookings that start before this time."""


class ListBookings:
    """Rules: the bookings of one integration the actor sees (another sub-account's is not
    found), in the order they were first seen, cancelled and deleted ones included; a window
    keeps the bookings that overlap it, and must not end before it starts."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, query: ListBookingsQuery) -> Page[BookingView]:
        start, end = query.window_start, query.window_end
        if start is not None and end is not None and end <= start:
            raise InvalidArgumentError(
                "the time window ends before it starts",
                (FieldViolation("window_end", "must be after the window's start"),),
            )
        async with self._uow() as uow:
            visible_integration(
                query.actor, await uow.integrations.get(query.integration_id), query.integration_id
            )
            page = await uow.bookings.list_page(
                BookingFilter(
                    integration_id=query.integration_id, ends_after=start, starts_before=end
                ),
                query.page,
            )
        return Page([BookingView.of(b) for b in page.items], page.next_after_id)

"""The list filters LeadService needs (lead statuses, booking time windows), on the in-memory
fake, SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.ports import BookingFilter, LeadFilter, PageRequest, UnitOfWorkFactory
from domain.booking import Booking, BookingDetails
from domain.integration import Integration
from domain.lead import LeadStatus
from tests.fakes import FakeUnitOfWorkFactory
from tests.integration.persistence.leads_support import a_lead, stored_integration
from tests.support.builders import IDS, NOW
from tests.support.databases import clean_tables

ALL = PageRequest(size=50)


@pytest.fixture(params=["fake", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest) -> str:
    """ "fake", or the URL of a migrated database."""
    if request.param == "fake":
        return "fake"
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    return url


@pytest.fixture
async def any_uow(store: str) -> AsyncIterator[UnitOfWorkFactory]:
    if store == "fake":
        yield FakeUnitOfWorkFactory()
        return
    engine = create_engine(store)
    await clean_tables(engine)
    yield SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
    await engine.dispose()


def a_booking_at(integration: Integration, external_id: str, start: datetime) -> Booking:
    return Booking.create(
        id=IDS.new_id(),
        sub_account_id=integration.sub_account_id,
        integration_id=integration.id,
        external_id=external_id,
        details=BookingDetails(
            calendar_id="cal-1",
            contact_external_id="contact-1",
            start=start,
            end=start + timedelta(hours=1),
        ),
        now=NOW,
    )


async def test_leads_are_filtered_by_any_of_the_statuses_asked_for(
    any_uow: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(any_uow)
    open_lead, won, lost = (a_lead(integration, f"contact-{n}") for n in range(3))
    won.change_status(LeadStatus.WON, now=NOW)
    lost.change_status(LeadStatus.LOST, now=NOW)
    async with any_uow() as uow:
        for lead in (open_lead, won, lost):
            await uow.leads.add(lead)
        await uow.commit()

    async with any_uow() as uow:
        closed = await uow.leads.list_page(
            LeadFilter(statuses=frozenset({LeadStatus.WON, LeadStatus.LOST})), ALL
        )
        still_open = await uow.leads.list_page(
            LeadFilter(integration_id=integration.id, statuses=frozenset({LeadStatus.OPEN})), ALL
        )
        every = await uow.leads.list_page(LeadFilter(), ALL)

    assert [lead.id for lead in closed.items] == [won.id, lost.id]
    assert [lead.id for lead in still_open.items] == [open_lead.id]
    assert len(every.items) == 3


async def test_a_time_window_keeps_the_bookings_that_overlap_it(
    any_uow: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(any_uow)
    nine = NOW.replace(hour=9)
    # One-hour bookings at 8:00, 9:30, 11:00 and 12:00; the window is 9:00 to 12:00.
    early, inside, late, after = (
        a_booking_at(integration, f"appt-{n}", nine + offset)
        for n, offset in enumerate(
            (timedelta(hours=-1), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=3))
        )
    )
    async with any_uow() as uow:
        for booking in (early, inside, late, after):
            await uow.bookings.add(booking)
        await uow.commit()

    window_end = nine + timedelta(hours=3)
    async with any_uow() as uow:
        both = await uow.bookings.list_page(
            BookingFilter(integration_id=integration.id, ends_after=nine, starts_before=window_end),
            ALL,
        )
        from_nine = await uow.bookings.list_page(BookingFilter(ends_after=nine), ALL)
        until_noon = await uow.bookings.list_page(BookingFilter(starts_before=window_end), ALL)

    # The 8:00 booking ends exactly at 9:00 and the 12:00 one starts exactly at noon: neither
    # overlaps the window.
    assert [b.id for b in both.items] == [inside.id, late.id]
    assert [b.id for b in from_nine.items] == [inside.id, late.id, after.id]
    assert [b.id for b in until_noon.items] == [early.id, inside.id, late.id]

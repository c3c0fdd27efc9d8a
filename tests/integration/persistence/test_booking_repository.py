"""SqlAlchemyBookingRepository against the BookingRepository contract (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from application.ports import BookingFilter, PageRequest, UnitOfWorkFactory
from domain.booking import Booking, BookingStatus
from domain.errors import AlreadyExistsError, ConcurrencyError
from tests.integration.persistence.leads_support import a_booking, stored_integration
from tests.support.builders import NOW


def _fields(booking: Booking) -> dict[str, object]:
    return {k: v for k, v in vars(booking).items() if k != "_events"}


async def _add(uow_factory: UnitOfWorkFactory, *bookings: Booking) -> None:
    async with uow_factory() as uow:
        for booking in bookings:
            await uow.bookings.add(booking)
        await uow.commit()


async def test_a_booking_reads_back_field_for_field_with_aware_times(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    booking = a_booking(integration, lead_id="lead-1")
    await _add(uow_factory, booking)

    async with uow_factory() as uow:
        by_id = await uow.bookings.get(booking.id)
        by_provider_id = await uow.bookings.get_by_external_id(integration.id, "appt-1")

    assert by_id is not None
    assert by_provider_id is not None
    assert _fields(by_id) == _fields(booking) == _fields(by_provider_id)
    assert by_id.details.start.utcoffset() == timedelta(0)


async def test_times_written_in_any_offset_read_back_as_the_same_instant(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    booking = a_booking(integration)
    ist = timezone(timedelta(hours=5, minutes=30))
    start = booking.details.start.astimezone(ist)
    booking.sync(
        details=type(booking.details)(
            calendar_id="cal-1",
            contact_external_id="contact-1",
            start=start,
            end=start + timedelta(hours=1),
        ),
        now=NOW,
    )
    await _add(uow_factory, booking)

    async with uow_factory() as uow:
        loaded = await uow.bookings.get(booking.id)

    assert loaded is not None
    assert loaded.details.start == start
    assert loaded.details.end - loaded.details.start == timedelta(hours=1)


async def test_an_appointment_is_one_booking_per_integration(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    await _add(uow_factory, a_booking(integration))

    async with uow_factory() as uow:
        with pytest.raises(AlreadyExistsError):
            await uow.bookings.add(a_booking(integration))


async def test_a_cancellation_is_written_and_a_stale_copy_fails(
    uow_factory: UnitOfWorkFactory,
) -> None:
    [integration] = await stored_integration(uow_factory)
    booking = a_booking(integration)
    await _add(uow_factory, booking)
    async with uow_factory() as uow:
        stale = await uow.bookings.get(booking.id)

    async with uow_factory() as uow:
        fresh = await uow.bookings.get(booking.id)
        assert fresh is not None
        fresh.delete(now=NOW)
        await uow.bookings.update(fresh)
        await uow.commit()
    assert stale is not None
    stale.sync(details=stale.details, status=BookingStatus.CONFIRMED, now=NOW)

    async with uow_factory() as uow:
        with pytest.raises(ConcurrencyError):
            await uow.bookings.update(stale)
        stored = await uow.bookings.get(booking.id)

    assert stored is not None
    assert (stored.status, stored.deleted, stored.version) == (BookingStatus.CANCELLED, True, 2)


async def test_bookings_are_listed_by_integration_sub_account_or_lead_in_pages(
    uow_factory: UnitOfWorkFactory,
) -> None:
    mine, other = await stored_integration(uow_factory, "sub-1", "sub-2")
    await _add(
        uow_factory,
        a_booking(mine, "a-1", lead_id="lead-1"),
        a_booking(other, "b-1"),
        a_booking(mine, "a-2"),
        a_booking(mine, "a-3", lead_id="lead-1"),
    )

    async with uow_factory() as uow:
        first = await uow.bookings.list_page(
            BookingFilter(integration_id=mine.id), PageRequest(size=2)
        )
        rest = await uow.bookings.list_page(
            BookingFilter(integration_id=mine.id),
            PageRequest(size=2, after_id=first.next_after_id),
        )
        of_lead = await uow.bookings.list_page(BookingFilter(lead_id="lead-1"), PageRequest(10))
        of_sub = await uow.bookings.list_page(
            BookingFilter(sub_account_id="sub-2"), PageRequest(10)
        )

    assert [b.external_id for b in first.items] == ["a-1", "a-2"]
    assert ([b.external_id for b in rest.items], rest.next_after_id) == (["a-3"], None)
    assert [b.external_id for b in of_lead.items] == ["a-1", "a-3"]
    assert [b.external_id for b in of_sub.items] == ["b-1"]

"""The pull: contacts changed since the cursor (which overlaps, for GHL's index lag) and the
calendars' appointments, upserted idempotently; changes no webhook delivered are counted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from application.lead_sync import LeadBatch
from application.ports.crm import ContactPage
from application.sync_records import RunStatus, SyncResource
from domain.booking import BookingStatus
from domain.errors import ConnectionFailedError, StorageUnavailableError
from domain.events import LeadCaptured, LeadUpdated
from domain.lead import Lead
from domain.webhook_delivery import EventKind
from tests.fakes import InMemoryLeadRepository
from tests.unit.sync.support import START, SUB_ACCOUNT, Sync, contact_payload, run_sync


async def test_a_first_sync_pulls_every_contact_page_by_page_and_keeps_a_cursor(
    app: Sync,
) -> None:
    for n in range(5):
        app.ghl.add_contact(first_name=f"C{n}", email=f"c{n}@example.com")
        app.clock.advance(seconds=1)

    run = await run_sync(app)

    assert (run.status, run.pulled, run.missed_by_webhooks) == (RunStatus.SUCCEEDED, 5, 0)
    assert sorted(lead.details.first_name or "" for lead in app.all_leads) == [
        f"C{n}" for n in range(5)
    ]
    assert len(app.ghl.called("search_contacts")) == 3  # pages of 2
    async with app.uow() as uow:
        cursor = await uow.sync.get_cursor(app.integration.id, SyncResource.CONTACTS)
    assert cursor is not None
    assert cursor.position == START + timedelta(seconds=4)  # the newest change read


async def test_the_next_sync_starts_a_little_before_the_cursor_and_writes_nothing_twice(
    app: Sync,
) -> None:
    app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=10)
    await run_sync(app)
    events = len(app.events(LeadCaptured, LeadUpdated))

    app.clock.advance(minutes=15)
    run = await run_sync(app)

    asked = app.ghl.called("search_contacts")[-1].args["updated_since"]
    assert asked == START - timedelta(minutes=2)  # the cursor minus the overlap
    assert run.pulled == 1  # re-read in the overlap, changing nothing
    assert len(app.events(LeadCaptured, LeadUpdated)) == events
    assert len(app.all_leads) == 1


async def test_a_contact_the_search_index_showed_late_is_caught_by_the_overlap(app: Sync) -> None:
    app.ghl.add_contact(first_name="A", email="a@example.com")
    app.clock.advance(seconds=10)
    late = app.ghl.add_contact(first_name="Late", email="late@example.com")
    app.ghl.unindexed.add(late.id)
    app.clock.advance(seconds=10)
    app.ghl.add_contact(first_name="B", email="b@example.com")
    app.clock.advance(minutes=1)
    await run_sync(app)
    assert {lead.details.first_name for lead in app.all_leads} == {"A", "B"}

    app.ghl.unindexed.clear()  # the index caught up, after the cursor moved past it
    app.clock.advance(minutes=15)
    await run_sync(app)

    assert {lead.details.first_name for lead in app.all_leads} == {"A", "B", "Late"}


async def test_changes_no_webhook_delivered_are_counted_as_missed(app: Sync) -> None:
    app.ghl.add_contact(first_name="Old", email="old@example.com")
    app.clock.advance(minutes=1)
    assert (await run_sync(app)).missed_by_webhooks == 0  # the backfill expects none

    app.clock.advance(minutes=1)
    app.ghl.add_contact(first_name="Missed", email="missed@example.com")
    delivered = app.ghl.add_contact(first_name="Delivered", email="delivered@example.com")
    await app.deliver(EventKind.CONTACT_CREATED, contact_payload(delivered, "ContactCreate"))
    app.clock.advance(minutes=5)
    app.ghl.add_contact(first_name="Recent", email="recent@example.com")  # may still come
    app.clock.advance(seconds=10)

    run = await run_sync(app)

    assert run.missed_by_webhooks == 1
    assert len(app.all_leads) == 4


async def test_appointments_of_the_configured_calendar_become_bookings_of_their_leads(
    app: Sync,
) -> None:
    contact = app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    appointment = app.ghl.add_appointment(
        contact_id=contact.id,
        start=START + timedelta(days=2),
        end=START + timedelta(days=2, minutes=30),
        title="Cleaning",
    )
    app.ghl.add_appointment(  # outside the window: not pulled
        contact_id=contact.id,
        start=START + timedelta(days=200),
        end=START + timedelta(days=200, minutes=30),
    )
    app.clock.advance(minutes=1)
    await run_sync(app)
    app.clock.advance(minutes=1)
    app.ghl.edit_appointment(appointment.id, status="cancelled")
    app.clock.advance(minutes=5)

    run = await run_sync(app)

    [booking] = app.uow.store.bookings.values()
    [lead] = app.all_leads
    assert (booking.external_id, booking.lead_id, booking.status) == (
        appointment.id,
        lead.id,
        BookingStatus.CANCELLED,
    )
    assert run.missed_by_webhooks == 1
    assert app.ghl.called("list_appointments")[0].args["calendar_id"] == "cal-1"


async def test_without_a_configured_calendar_every_calendar_of_the_location_is_pulled() -> None:
    from tests.unit.sync.support import make_sync

    app = await make_sync(calendar=False)

    await run_sync(app)

    assert len(app.ghl.called("list_calendars")) == 1
    assert [c.args["calendar_id"] for c in app.ghl.called("list_appointments")] == ["cal-1"]


async def test_a_pull_broken_by_an_outage_resumes_and_duplicates_nothing(app: Sync) -> None:
    for n in range(6):
        app.ghl.add_contact(first_name=f"C{n}", email=f"c{n}@example.com")
        app.clock.advance(seconds=1)
    # GHL goes away after the first page, and is still away when the run first retries.
    outage = ConnectionFailedError("GoHighLevel answered HTTP 503")
    app.ghl.fail_on = {("search_contacts", 2): outage, ("search_contacts", 3): outage}

    run = await run_sync(app)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 3)
    assert len(app.sleeps) == 2
    assert len(app.all_leads) == 6
    assert len(app.events(LeadCaptured)) == 6
    assert not app.events(LeadUpdated)


def _five_contacts(app: Sync) -> None:
    for n in range(5):
        app.ghl.add_contact(first_name=f"C{n}", email=f"c{n}@example.com")
        app.clock.advance(seconds=1)


async def test_a_pages_new_leads_are_inserted_together_while_ghl_serves_the_next_page(
    app: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    _five_contacts(app)
    inserted: list[int] = []
    stored_when_asked: list[int] = []
    add_many, search = InMemoryLeadRepository.add_many, app.ghl.search_contacts

    async def insert(repository: InMemoryLeadRepository, leads: Sequence[Lead]) -> None:
        inserted.append(len(leads))
        await asyncio.sleep(0)  # a database's round trip: the pull's other tasks may run
        await add_many(repository, leads)

    async def ask(*args: Any, **kwargs: Any) -> ContactPage:
        stored_when_asked.append(len(app.all_leads))
        return await search(*args, **kwargs)

    monkeypatch.setattr(InMemoryLeadRepository, "add_many", insert)
    monkeypatch.setattr(app.ghl, "search_contacts", ask)

    run = await run_sync(app)

    assert (run.status, run.pulled) == (RunStatus.SUCCEEDED, 5)
    assert inserted == [2, 2, 1]  # pages of 2: one insert each
    assert stored_when_asked == [0, 0, 2]  # each next page asked for before this one is stored
    assert len(app.events(LeadCaptured)) == 5


async def test_a_page_that_cannot_be_stored_leaves_the_cursor_after_the_last_stored_page(
    app: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    _five_contacts(app)
    add_many = InMemoryLeadRepository.add_many
    calls = 0

    async def insert(repository: InMemoryLeadRepository, leads: Sequence[Lead]) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise StorageUnavailableError("the database is unreachable")
        await add_many(repository, leads)

    monkeypatch.setattr(InMemoryLeadRepository, "add_many", insert)

    run = await run_sync(app)

    assert (run.status, run.attempts) == (RunStatus.FAILED, 3)
    assert sorted(lead.details.first_name or "" for lead in app.all_leads) == ["C0", "C1"]
    assert len(app.events(LeadCaptured)) == 2
    async with app.uow() as uow:
        cursor = await uow.sync.get_cursor(app.integration.id, SyncResource.CONTACTS)
    assert cursor is not None
    assert cursor.position == START + timedelta(seconds=1)  # C1's change, the first page's last


async def test_a_contact_twice_in_a_page_is_captured_then_updated(app: Sync) -> None:
    contact = app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(seconds=1)
    newer = replace(contact, first_name="Grace", date_updated=app.clock.now())
    batch = LeadBatch()

    async with app.uow() as uow:
        await app.leads.prefetch(
            uow, integration_id=app.integration.id, contact_ids=[contact.id] * 2, batch=batch
        )
        for seen in (contact, newer):
            await app.leads.apply(
                uow,
                integration_id=app.integration.id,
                sub_account_id=SUB_ACCOUNT,
                contact=seen,
                changed_at=seen.date_updated,
                batch=batch,
            )
        await app.leads.store(uow, batch)
        await uow.commit()

    [lead] = app.all_leads
    assert (lead.details.first_name, lead.version) == ("Grace", 2)
    assert [(type(e), e.aggregate_version) for e in app.events()] == [
        (LeadCaptured, 1),
        (LeadUpdated, 2),
    ]

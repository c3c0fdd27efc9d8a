"""The inbox adapter on real databases: claims and leases, settling, replays, purges, listing,
and the lookup of integrations by location."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ghl.webhooks import location_account
from adapters.persistence.engine import create_session_factory
from adapters.persistence.outbox import SqlAlchemyOutboxReader
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.persistence.webhook_inbox import SqlAlchemyWebhookTargets
from application.ports import ClaimedDelivery, ClaimLostError, DeliveryFilter, PageRequest
from domain.errors import InvalidTransitionError, NotFoundError
from domain.webhook_delivery import DeliveryStatus, EventKind
from tests.fakes import FixedClock
from tests.integration.webhooks.conftest import Deliveries, Integrations
from tests.integration.webhooks.support import stored_deliveries
from tests.support.waiting import PATIENCE_SECONDS

LEASE = timedelta(minutes=2)


async def claim(
    uow: SqlAlchemyUnitOfWorkFactory, clock: FixedClock, limit: int = 10
) -> list[ClaimedDelivery]:
    async with uow() as work:
        claimed = await work.inbox.claim_due(now=clock.now(), limit=limit, lease=LEASE)
        await work.commit()
    return claimed


async def test_due_deliveries_are_claimed_oldest_first_with_an_attempt_counted(
    uow_factory: SqlAlchemyUnitOfWorkFactory, deliveries: Deliveries, clock: FixedClock
) -> None:
    first = await deliveries.add()
    second = await deliveries.add(EventKind.CONTACT_UPDATED)
    await deliveries.add(status=DeliveryStatus.REJECTED)

    claimed = await claim(uow_factory, clock)

    assert [c.id for c in claimed] == [first, second]
    assert [c.attempts for c in claimed] == [1, 1]
    assert claimed[1].kind is EventKind.CONTACT_UPDATED
    assert claimed[0].payload == {"type": "ContactCreate", "locationId": "loc-1", "id": "c-1"}
    async with uow_factory() as uow:
        view = await uow.inbox.get(first)
    assert view is not None
    assert (view.status, view.attempts) == (DeliveryStatus.PROCESSING, 1)


async def test_a_claimed_delivery_is_not_claimed_again_while_its_lease_lasts(
    uow_factory: SqlAlchemyUnitOfWorkFactory, deliveries: Deliveries, clock: FixedClock
) -> None:
    await deliveries.add()
    await claim(uow_factory, clock)

    clock.advance(seconds=LEASE.total_seconds() - 1)

    assert await claim(uow_factory, clock) == []


async def test_after_the_lease_ends_another_worker_claims_it_and_the_first_lost_it(
    uow_factory: SqlAlchemyUnitOfWorkFactory, deliveries: Deliveries, clock: FixedClock
) -> None:
    await deliveries.add()
    [stale] = await claim(uow_factory, clock)

    clock.advance(seconds=LEASE.total_seconds())
    [fresh] = await claim(uow_factory, clock)

    assert (fresh.id, fresh.attempts) == (stale.id, 2)
    assert fresh.claim_token != stale.claim_token
    async with uow_factory() as uow:
        with pytest.raises(ClaimLostError):
            await uow.inbox.mark_done(stale, now=clock.now())
    async with uow_factory() as uow:
        await uow.inbox.mark_done(fresh, now=clock.now())
        await uow.commit()
        view = await uow.inbox.get(fresh.id)
    assert view is not None
    assert (view.status, view.processed_at) == (DeliveryStatus.DONE, clock.now())


async def test_a_failed_delivery_waits_for_its_retry_time(
    uow_factory: SqlAlchemyUnitOfWorkFactory, deliveries: Deliveries, clock: FixedClock
) -> None:
    await deliveries.add()
    [claimed] = await claim(uow_factory, clock)
    async with uow_factory() as uow:
        await uow.inbox.mark_failed(
            claimed,
            error="RuntimeError: boom",
            retry_at=clock.now() + timedelta(seconds=30),
            now=clock.now(),
        )
        await uow.commit()

    assert await claim(uow_factory, clock) == []
    clock.advance(seconds=30)
    [again] = await claim(uow_factory, clock)

    assert again.attempts == 2
    async with uow_factory() as uow:
        view = await uow.inbox.get(again.id)
    assert view is not None
    assert view.last_error == "RuntimeError: boom"


async def test_released_deliveries_are_due_again_without_the_attempt_counted(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add()
    await deliveries.add()
    claimed = await claim(uow_factory, clock)

    async with uow_factory() as uow:
        await uow.inbox.release(claimed, now=clock.now())
        await uow.commit()

    rows = await stored_deliveries(engine)
    assert [(r.status, r.attempts, r.claim_token) for r in rows] == [("pending", 0, None)] * 2
    assert len(await claim(uow_factory, clock)) == 2


# SQLite has a single writer: its claims cannot overlap, so this is Postgres's behaviour only.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_concurrent_workers_skip_each_others_claims_instead_of_waiting(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    assert engine.dialect.name == "postgresql"
    for _ in range(4):
        await deliveries.add()

    async with uow_factory() as first:
        mine = await first.inbox.claim_due(now=clock.now(), limit=2, lease=LEASE)
        # Not committed: the rows stay locked while the second worker claims.
        theirs = await asyncio.wait_for(claim(uow_factory, clock), PATIENCE_SECONDS)
        await first.commit()

    assert len(mine) == 2
    assert len(theirs) == 2
    assert {c.id for c in mine}.isdisjoint({c.id for c in theirs})


async def test_a_dead_letter_keeps_its_error_and_writes_an_event_to_the_outbox(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add()
    [claimed] = await claim(uow_factory, clock)

    async with uow_factory() as uow:
        await uow.inbox.dead_letter(claimed, error="ValueError: no such contact", now=clock.now())
        await uow.commit()

    [row] = await stored_deliveries(engine)
    assert (row.status, row.last_error) == ("dead", "ValueError: no such contact")
    events = await SqlAlchemyOutboxReader(create_session_factory(engine)).read(
        after_sequence=0, limit=100
    )
    [event] = [e for e in events if e.event_type == "WebhookDeadLettered"]
    assert event.aggregate_id == claimed.id
    assert event.payload["delivery_id"] == claimed.delivery_id
    assert event.payload["last_error"] == "ValueError: no such contact"
    assert event.payload["attempts"] == 1
    assert event.payload["sender_event"] == "ContactCreate"


async def test_a_dead_letter_replayed_is_pending_again_with_its_attempts_reset(
    uow_factory: SqlAlchemyUnitOfWorkFactory, deliveries: Deliveries, clock: FixedClock
) -> None:
    await deliveries.add()
    [claimed] = await claim(uow_factory, clock)
    async with uow_factory() as uow:
        await uow.inbox.dead_letter(claimed, error="boom", now=clock.now())
        await uow.commit()
    clock.advance(minutes=5)

    async with uow_factory() as uow:
        view = await uow.inbox.replay(claimed.id, now=clock.now())
        await uow.commit()

    assert (view.status, view.attempts, view.last_error) == (DeliveryStatus.PENDING, 0, "boom")
    assert view.next_attempt_at == clock.now()
    [again] = await claim(uow_factory, clock)
    assert again.attempts == 1


async def test_only_dead_or_rejected_deliveries_with_a_payload_can_be_replayed(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
) -> None:
    pending = await deliveries.add()
    rejected = await deliveries.add(status=DeliveryStatus.REJECTED)

    async with uow_factory() as uow:
        with pytest.raises(InvalidTransitionError):
            await uow.inbox.replay(pending, now=clock.now())
        with pytest.raises(NotFoundError):
            await uow.inbox.replay("0190aaaa-0000-7000-8000-000000000000", now=clock.now())
        assert (await uow.inbox.replay(rejected, now=clock.now())).status is DeliveryStatus.PENDING

    clock.advance(days=31)
    async with uow_factory() as uow:
        assert await uow.inbox.purge_payloads(processed_before=clock.now() - timedelta(days=30))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(InvalidTransitionError, match="purged"):
            await uow.inbox.replay(rejected, now=clock.now())


async def test_settled_payloads_are_purged_after_the_retention_and_their_ids_still_dedupe(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    done = await deliveries.add(delivery_id="wh-done")
    await deliveries.add(delivery_id="wh-dead")
    claimed = await claim(uow_factory, clock)
    async with uow_factory() as uow:
        await uow.inbox.mark_done(claimed[0], now=clock.now())
        await uow.inbox.dead_letter(claimed[1], error="boom", now=clock.now())
        await uow.commit()
    recent = await deliveries.add(delivery_id="wh-recent", status=DeliveryStatus.REJECTED)
    clock.advance(days=30, seconds=1)
    await deliveries.add(delivery_id="wh-pending")

    async with uow_factory() as uow:
        purged = await uow.inbox.purge_payloads(processed_before=clock.now() - timedelta(days=30))
        await uow.commit()

    assert purged == 2  # the done one and the rejected one, both settled 30 days ago
    rows = {r.delivery_id: r for r in await stored_deliveries(engine)}
    assert rows["wh-done"].payload is None
    assert rows["wh-dead"].payload is not None
    assert rows["wh-pending"].payload is not None
    assert rows["wh-recent"].payload is None
    assert recent in {r.id for r in rows.values()}
    await deliveries.add(delivery_id="wh-done")
    assert len(await stored_deliveries(engine)) == 4
    async with uow_factory() as uow:
        view = await uow.inbox.get(done)
    assert view is not None
    assert view.payload_purged


async def test_deliveries_are_listed_by_filter_in_pages(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    integrations: Integrations,
    clock: FixedClock,
) -> None:
    ids = [await deliveries.add(event_type=f"Type{n}") for n in range(3)]
    await deliveries.add(EventKind.UNHANDLED, event_type="NoteCreate")
    other = await integrations.add("loc-2", sub_account_id="sa-2")
    deliveries.integration = other
    theirs = await deliveries.add()

    async with uow_factory() as uow:
        first = await uow.inbox.list_page(
            DeliveryFilter(sub_account_id="sa-1", kind=EventKind.CONTACT_CREATED),
            PageRequest(size=2),
        )
        second = await uow.inbox.list_page(
            DeliveryFilter(sub_account_id="sa-1", kind=EventKind.CONTACT_CREATED),
            PageRequest(size=2, after_id=first.next_after_id),
        )
        by_type = await uow.inbox.list_page(
            DeliveryFilter(event_type="NoteCreate"), PageRequest(size=10)
        )
        by_integration = await uow.inbox.list_page(
            DeliveryFilter(integration_id=other.id, statuses=frozenset({DeliveryStatus.PENDING})),
            PageRequest(size=10),
        )
        none_done = await uow.inbox.list_page(
            DeliveryFilter(statuses=frozenset({DeliveryStatus.DONE})), PageRequest(size=10)
        )

    assert [d.id for d in first.items] == ids[:2]
    assert [d.id for d in second.items] == ids[2:]
    assert second.next_after_id is None
    assert [d.event_type for d in by_type.items] == ["NoteCreate"]
    assert [d.id for d in by_integration.items] == [theirs]
    assert none_done.items == []


async def test_the_owners_of_a_location_are_found_and_cached(
    engine: AsyncEngine, integrations: Integrations, uow_factory: SqlAlchemyUnitOfWorkFactory
) -> None:
    older = await integrations.add("loc-1")
    newer = await integrations.add("loc-1", secret="a-secret-of-the-newer-one")
    switched_off = await integrations.add("loc-1", active=False)
    # Names the location in its config, but never proved it reaches it.
    claimant = await integrations.add("loc-1", sub_account_id="sa-other", owner=False)
    cached = SqlAlchemyWebhookTargets(engine, cache_seconds=60)

    owners = await cached.find_owners(location_account("loc-1"))

    assert [t.integration_id for t in owners] == [older.id, newer.id, switched_off.id]
    assert claimant.id not in {t.integration_id for t in owners}
    assert owners[1].webhook_secret is not None
    assert owners[2].is_active is False
    assert await cached.find_owners(location_account("loc-unknown")) == ()
    async with uow_factory() as uow:
        await uow.integrations.set_accounts(newer.id, frozenset())
        await uow.commit()
    assert await cached.find_owners(location_account("loc-1")) == owners
    fresh = await SqlAlchemyWebhookTargets(engine, cache_seconds=0).find_owners(
        location_account("loc-1")
    )
    assert [t.integration_id for t in fresh] == [older.id, switched_off.id]


async def test_a_deleted_integration_owns_nothing(
    engine: AsyncEngine, integrations: Integrations, uow_factory: SqlAlchemyUnitOfWorkFactory
) -> None:
    integration = await integrations.add("loc-1")
    async with uow_factory() as uow:
        stored = await uow.integrations.get(integration.id)
        assert stored is not None
        await uow.integrations.delete(stored)
        await uow.commit()

    targets = SqlAlchemyWebhookTargets(engine, cache_seconds=0)
    assert await targets.find_owners(location_account("loc-1")) == ()

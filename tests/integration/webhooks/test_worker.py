"""The inbox worker on real databases: handler and settlement in one commit, retries with
backoff, dead letters, a worker killed mid-delivery, graceful stops, purges."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.engine import create_session_factory
from adapters.persistence.outbox import SqlAlchemyOutboxReader
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.delivery_policy import BackoffPolicy
from application.ports import EventHandler, HandlerOutcome, InboundEvent, UnitOfWork
from domain.errors import InvalidCredentialsError
from domain.webhook_delivery import DeliveryStatus, EventKind
from entrypoints.worker.inbox_worker import InboxWorker
from tests.fakes import FixedClock
from tests.integration.webhooks.conftest import Deliveries
from tests.integration.webhooks.support import stored_deliveries
from tests.support.waiting import PATIENCE_SECONDS

LEASE = timedelta(minutes=2)
BACKOFF = BackoffPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=5), max_attempts=3)


@dataclass
class Handler:
    """Waits for `release` (when given), writes to the integration (so that a rollback is
    visible), then fails `failures` times before it succeeds."""

    failures: int = 0
    outcome: HandlerOutcome = HandlerOutcome.APPLIED
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event | None = None
    events: list[InboundEvent] = field(default_factory=list)
    on_handle: list[object] = field(default_factory=list)

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        self.events.append(event)
        self.entered.set()
        if self.release is not None:
            await self.release.wait()
        integration = await uow.integrations.get(event.integration_id)
        assert integration is not None
        integration.edit(description=f"handled {event.delivery_id}", now=event.received_at)
        await uow.integrations.update(integration)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the handler broke")
        return self.outcome


def worker(
    uow: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
    handlers: dict[EventKind, EventHandler],
    **options: object,
) -> InboxWorker:
    return InboxWorker(
        uow=uow,
        handlers=lambda _template: handlers,
        clock=clock,
        lease=LEASE,
        backoff=BACKOFF,
        rng=random.Random(7),
        **options,  # type: ignore[arg-type]
    )


async def description(uow: SqlAlchemyUnitOfWorkFactory, integration_id: str) -> str:
    async with uow() as work:
        integration = await work.integrations.get(integration_id)
    assert integration is not None
    return integration.description


async def test_a_delivery_and_its_handlers_changes_commit_together(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add(delivery_id="wh-1")
    handler = Handler()

    assert await worker(uow_factory, clock, {EventKind.CONTACT_CREATED: handler}).run_once() == 1

    [row] = await stored_deliveries(engine)
    assert (row.status, row.attempts, row.claim_token) == ("done", 1, None)
    assert await description(uow_factory, deliveries.integration.id) == "handled wh-1"
    [event] = handler.events
    assert (event.kind, event.event_type, event.sub_account_id) == (
        EventKind.CONTACT_CREATED,
        "ContactCreate",
        "sa-1",
    )
    assert event.payload["id"] == "c-1"


async def test_kinds_without_a_handler_and_handlers_that_ignore_are_marked_ignored(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add(EventKind.UNHANDLED, event_type="NoteCreate")
    await deliveries.add(EventKind.CONTACT_UPDATED)
    handlers: dict[EventKind, EventHandler] = {
        EventKind.CONTACT_UPDATED: Handler(outcome=HandlerOutcome.IGNORED)
    }

    await worker(uow_factory, clock, handlers).run_once()

    assert [r.status for r in await stored_deliveries(engine)] == ["ignored", "ignored"]


async def test_a_failed_attempt_rolls_back_and_is_retried_after_a_backoff(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add(delivery_id="wh-1")
    handler = Handler(failures=1)
    inbox_worker = worker(uow_factory, clock, {EventKind.CONTACT_CREATED: handler})

    await inbox_worker.run_once()

    [row] = await stored_deliveries(engine)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "RuntimeError: the handler broke"
    assert clock.now() <= row.next_attempt_at <= clock.now() + BACKOFF.base
    assert await description(uow_factory, deliveries.integration.id) != "handled wh-1"

    assert await inbox_worker.run_once() == 0  # not due yet
    clock.current = row.next_attempt_at
    await inbox_worker.run_once()

    [row] = await stored_deliveries(engine)
    assert (row.status, row.attempts) == ("done", 2)
    assert await description(uow_factory, deliveries.integration.id) == "handled wh-1"


async def test_a_delivery_that_keeps_failing_is_dead_lettered_with_its_last_error(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    row_id = await deliveries.add()
    inbox_worker = worker(uow_factory, clock, {EventKind.CONTACT_CREATED: Handler(failures=99)})

    for _ in range(BACKOFF.max_attempts):
        clock.advance(seconds=BACKOFF.cap.total_seconds())
        assert await inbox_worker.run_once() == 1
    clock.advance(days=1)

    assert await inbox_worker.run_once() == 0
    [row] = await stored_deliveries(engine)
    assert (row.status, row.attempts) == ("dead", BACKOFF.max_attempts)
    assert row.last_error == "RuntimeError: the handler broke"
    events = await SqlAlchemyOutboxReader(create_session_factory(engine)).read(
        after_sequence=0, limit=100
    )
    assert [e.aggregate_id for e in events if e.event_type == "WebhookDeadLettered"] == [row_id]


async def test_a_worker_killed_mid_delivery_leaves_it_to_complete_after_a_restart(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add(delivery_id="wh-1")
    stuck = Handler(release=asyncio.Event())
    running = asyncio.create_task(
        worker(uow_factory, clock, {EventKind.CONTACT_CREATED: stuck}).run_once()
    )
    await asyncio.wait_for(stuck.entered.wait(), timeout=PATIENCE_SECONDS)

    running.cancel()  # the process dies: nothing is settled, nothing released
    with pytest.raises(asyncio.CancelledError):
        await running
    [row] = await stored_deliveries(engine)
    assert row.status == "processing"

    restarted = worker(uow_factory, clock, {EventKind.CONTACT_CREATED: Handler()})
    assert await restarted.run_once() == 0  # still leased
    clock.advance(seconds=LEASE.total_seconds())
    assert await restarted.run_once() == 1

    [row] = await stored_deliveries(engine)
    assert (row.status, row.attempts) == ("done", 2)
    assert await description(uow_factory, deliveries.integration.id) == "handled wh-1"


async def test_a_delivery_that_never_lets_its_worker_finish_is_eventually_dead_lettered(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add()
    async with uow_factory() as uow:
        for _ in range(BACKOFF.max_attempts):
            await uow.inbox.claim_due(now=clock.now(), limit=1, lease=LEASE)
            clock.advance(seconds=LEASE.total_seconds())
        await uow.commit()
    handler = Handler()

    await worker(uow_factory, clock, {EventKind.CONTACT_CREATED: handler}).run_once()

    assert handler.events == []
    [row] = await stored_deliveries(engine)
    assert row.status == "dead"
    assert "never finished" in row.last_error


async def test_a_worker_whose_lease_ended_cannot_settle_and_its_changes_roll_back(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add(delivery_id="wh-1")
    slow = Handler(release=asyncio.Event())
    running = asyncio.create_task(
        worker(uow_factory, clock, {EventKind.CONTACT_CREATED: slow}).run_once()
    )
    await asyncio.wait_for(slow.entered.wait(), timeout=PATIENCE_SECONDS)
    # Its lease ends, and another worker claims the delivery.
    clock.advance(seconds=LEASE.total_seconds())
    async with uow_factory() as uow:
        [taken] = await uow.inbox.claim_due(now=clock.now(), limit=1, lease=LEASE)
        await uow.commit()
    assert slow.release is not None
    slow.release.set()
    await running

    [row] = await stored_deliveries(engine)
    assert (row.status, row.claim_token) == ("processing", taken.claim_token)
    assert await description(uow_factory, deliveries.integration.id) != "handled wh-1"


async def test_a_graceful_stop_finishes_the_delivery_in_hand_and_hands_back_the_rest(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    for _ in range(3):
        await deliveries.add()
    handler = Handler(release=asyncio.Event())
    inbox_worker = worker(uow_factory, clock, {EventKind.CONTACT_CREATED: handler})
    running = asyncio.create_task(inbox_worker.run())
    await asyncio.wait_for(handler.entered.wait(), timeout=PATIENCE_SECONDS)

    inbox_worker.stop()
    assert handler.release is not None
    handler.release.set()
    await asyncio.wait_for(running, timeout=PATIENCE_SECONDS)

    rows = await stored_deliveries(engine)
    assert [(r.status, r.attempts) for r in rows] == [("done", 1), ("pending", 0), ("pending", 0)]
    assert len(handler.events) == 1


async def test_the_run_loop_processes_until_stopped_and_purges_old_payloads(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add(delivery_id="wh-old", status=DeliveryStatus.REJECTED)
    clock.advance(days=31)
    await deliveries.add(delivery_id="wh-new")
    handler = Handler()
    inbox_worker = worker(
        uow_factory, clock, {EventKind.CONTACT_CREATED: handler}, poll_interval=0.01
    )

    running = asyncio.create_task(inbox_worker.run())
    await asyncio.wait_for(handler.entered.wait(), timeout=PATIENCE_SECONDS)
    inbox_worker.stop()
    await asyncio.wait_for(running, timeout=PATIENCE_SECONDS)

    rows = {r.delivery_id: r for r in await stored_deliveries(engine)}
    assert rows["wh-old"].payload is None
    assert (rows["wh-new"].status, rows["wh-new"].payload is not None) == ("done", True)


def test_backoff_waits_grow_exponentially_up_to_the_cap_with_full_jitter() -> None:
    policy = BackoffPolicy(base=timedelta(seconds=1), cap=timedelta(seconds=60), max_attempts=10)
    rng = random.Random(1)

    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (40, 60)]:
        waits = [policy.delay(attempt, rng).total_seconds() for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling * 0.8  # spread over the whole range
        assert min(waits) < ceiling * 0.2


def test_a_backoff_policy_must_make_sense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        BackoffPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base"):
        BackoffPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=1))


async def test_a_slow_batch_hands_back_what_its_lease_can_no_longer_cover(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    for _ in range(3):
        await deliveries.add()

    class Slow(Handler):
        async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
            clock.advance(seconds=LEASE.total_seconds() / 2)  # the first one takes long
            return await super().handle(uow, event)

    handler = Slow()
    await worker(uow_factory, clock, {EventKind.CONTACT_CREATED: handler}).run_once()

    rows = await stored_deliveries(engine)
    assert [(r.status, r.attempts) for r in rows] == [("done", 1), ("pending", 0), ("pending", 0)]
    assert len(handler.events) == 1


async def test_credentials_the_provider_refuses_put_the_integration_in_error(
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    deliveries: Deliveries,
    clock: FixedClock,
    engine: AsyncEngine,
) -> None:
    await deliveries.add(delivery_id="wh-1")
    refused: list[tuple[str, str]] = []

    class TokenDied(Handler):
        async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
            raise InvalidCredentialsError("the provider refused the token (190/463)")

    async def credentials_refused(integration_id: str, err: InvalidCredentialsError) -> None:
        refused.append((integration_id, err.code.value))

    await worker(
        uow_factory,
        clock,
        {EventKind.CONTACT_CREATED: TokenDied()},
        credentials_refused=credentials_refused,
    ).run_once()

    assert refused == [(deliveries.integration.id, "INVALID_CREDENTIALS")]
    [row] = await stored_deliveries(engine)
    assert row.status == "failed"  # retried, then dead-lettered and replayable once fixed

"""One tenant's deliveries never stop or stall another's, on SQLite and Postgres: stored payloads
that cannot be read back, failures no retry can mend, an integration switched off with a backlog,
and one integration waiting on its provider's rate limit."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ids import Uuid7Generator
from adapters.persistence.models import WEBHOOK_DELIVERIES as T
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.delivery_policy import BackoffPolicy
from application.ports import EventHandler, HandlerOutcome, InboundEvent, UnitOfWork
from domain.errors import InvalidArgumentError, RateLimitExceededError
from domain.integration import Integration
from domain.webhook_delivery import EventKind
from entrypoints.worker.inbox_worker import InboxWorker
from tests.fakes import FixedClock
from tests.integration.webhooks.conftest import Integrations

LEASE = timedelta(minutes=2)
BACKOFF = BackoffPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=5), max_attempts=8)
# What outside testing stored through the door before it refused them: a number Postgres keeps
# as a 5,001-digit integer, a 5,000-digit integer, and arrays nested past any reader's recursion.
POISON = {
    "huge-exponent": '{"type": "ContactCreate", "id": "c-1", "n": 1e5000}',
    "huge-integer": '{"type": "ContactCreate", "id": "c-1", "n": ' + "9" * 5000 + "}",
    "deep": '{"type": "ContactCreate", "id": "c-1", "n": ' + "[" * 5000 + "]" * 5000 + "}",
}


async def store_raw(
    engine: AsyncEngine, integration: Integration, payload: str, clock: FixedClock
) -> str:
    """A pending delivery whose payload is exactly `payload`, written around the door's checks
    (as rows stored before them were)."""
    row_id = Uuid7Generator().new_id()
    value = "CAST(:payload AS jsonb)" if engine.dialect.name == "postgresql" else ":payload"
    statement = text(
        "INSERT INTO webhook_deliveries (id, integration_id, sub_account_id, delivery_id, "  # noqa: S608 - our own constants
        "event_type, kind, status, signature_scheme, payload, attempts, next_attempt_at, "
        f"received_at, updated_at) VALUES (:id, :integration_id, :sub_account_id, :delivery_id, "
        f"'ContactCreate', 'contact.created', 'pending', 'published-ed25519', {value}, 0, :now, :now, "
        ":now)"
    )
    async with engine.begin() as connection:
        await connection.execute(
            statement,
            {
                "id": row_id,
                "integration_id": integration.id,
                "sub_account_id": integration.sub_account_id,
                "delivery_id": f"wh-{row_id}",
                "payload": payload,
                "now": clock.now(),
            },
        )
    return row_id


async def store_normal(engine: AsyncEngine, integration: Integration, clock: FixedClock) -> str:
    return await store_raw(engine, integration, '{"type": "ContactCreate", "id": "c-2"}', clock)


@dataclass
class Recorder:
    """Applies everything, recording which integrations' deliveries it saw; `gate` holds one
    integration's deliveries until it is set, `error` makes them fail."""

    seen: list[str] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    errors: dict[str, Callable[[], Exception]] = field(default_factory=dict)
    entered: dict[str, asyncio.Event] = field(default_factory=dict)

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        self.entered.setdefault(event.integration_id, asyncio.Event()).set()
        gate = self.gates.get(event.integration_id)
        if gate is not None:
            await gate.wait()
        error = self.errors.get(event.integration_id)
        if error is not None:
            raise error()
        self.seen.append(event.integration_id)
        return HandlerOutcome.APPLIED


def worker(
    uow: SqlAlchemyUnitOfWorkFactory, clock: FixedClock, handler: EventHandler, **options: object
) -> InboxWorker:
    return InboxWorker(
        uow=uow,
        handlers=lambda _template: {EventKind.CONTACT_CREATED: handler},
        clock=clock,
        lease=LEASE,
        backoff=BACKOFF,
        rng=random.Random(7),
        **options,  # type: ignore[arg-type]
    )


async def rows_of(engine: AsyncEngine) -> dict[str, Any]:
    """The deliveries' states (not their payloads, which some of these tests make unreadable)."""
    query = select(T.c.id, T.c.status, T.c.attempts, T.c.last_error, T.c.next_attempt_at).order_by(
        T.c.id
    )
    async with engine.connect() as connection:
        return {row.id: row for row in (await connection.execute(query)).all()}


async def statuses(engine: AsyncEngine) -> dict[str, tuple[str, int, str | None]]:
    return {i: (r.status, r.attempts, r.last_error) for i, r in (await rows_of(engine)).items()}


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for `check` to hold: a generous bound, since a loaded machine is slow."""
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_stored_payloads_that_cannot_be_read_fail_alone_and_others_are_processed(
    engine: AsyncEngine,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    poisoned = await integrations.add("loc-1", sub_account_id="sa-1")
    other = await integrations.add("loc-2", sub_account_id="sa-2")
    poison = {name: await store_raw(engine, poisoned, p, clock) for name, p in POISON.items()}
    fine = [await store_normal(engine, other, clock), await store_normal(engine, poisoned, clock)]
    recorder = Recorder()

    # Twice: what happens after a restart, too.
    for _ in range(2):
        await worker(uow_factory, clock, recorder).run_once()

    rows = await statuses(engine)
    assert [rows[i][0] for i in fine] == ["done", "done"]
    for name, row_id in poison.items():
        status, attempts, error = rows[row_id]
        assert (status, attempts) == ("dead", 1), name  # at once, not after eight attempts
        assert "cannot be read" in str(error), name
    assert sorted(recorder.seen) == sorted([other.id, poisoned.id])


async def test_a_failure_no_retry_can_mend_is_dead_lettered_at_once_and_others_retried(
    engine: AsyncEngine,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    refused = await integrations.add("loc-1", sub_account_id="sa-1")
    broken = await integrations.add("loc-2", sub_account_id="sa-2")
    refused_id = await store_normal(engine, refused, clock)
    broken_id = await store_normal(engine, broken, clock)
    recorder = Recorder(
        errors={
            refused.id: lambda: InvalidArgumentError("the lead's identifiers are not valid"),
            broken.id: lambda: RuntimeError("the provider's answer was cut short"),
        }
    )

    await worker(uow_factory, clock, recorder).run_once()

    rows = await statuses(engine)
    assert rows[refused_id][:2] == ("dead", 1)
    assert rows[broken_id][:2] == ("failed", 1)


async def test_deliveries_of_an_integration_switched_off_after_they_were_stored_change_nothing(
    engine: AsyncEngine,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    switched_off = await integrations.add("loc-1", sub_account_id="sa-1")
    other = await integrations.add("loc-2", sub_account_id="sa-2")
    backlog = [await store_normal(engine, switched_off, clock) for _ in range(3)]
    theirs = await store_normal(engine, other, clock)
    async with uow_factory() as uow:
        integration = await uow.integrations.get(switched_off.id)
        assert integration is not None
        integration.deactivate(now=clock.now())
        await uow.integrations.update(integration)
        await uow.commit()
    recorder = Recorder()

    await worker(uow_factory, clock, recorder).run_once()

    rows = await statuses(engine)
    assert {rows[i][0] for i in backlog} == {"rejected"}
    assert rows[theirs][0] == "done"
    assert recorder.seen == [other.id]


async def test_one_integrations_backlog_never_crowds_out_another_in_a_claim(
    engine: AsyncEngine,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    busy = await integrations.add("loc-1", sub_account_id="sa-1")
    quiet = await integrations.add("loc-2", sub_account_id="sa-2")
    for _ in range(30):
        await store_normal(engine, busy, clock)
    theirs = await store_normal(engine, quiet, clock)

    async with uow_factory() as uow:
        claims = await uow.inbox.claim_due(now=clock.now(), limit=4, lease=LEASE, per_integration=2)
        await uow.commit()

    assert [c.integration_id for c in claims] == [busy.id, quiet.id, busy.id]
    assert theirs in {c.id for c in claims}


async def test_an_integration_held_up_by_its_provider_delays_no_other(
    engine: AsyncEngine,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    slow = await integrations.add("loc-1", sub_account_id="sa-1")
    other = await integrations.add("loc-2", sub_account_id="sa-2")
    for _ in range(25):
        await store_normal(engine, slow, clock)
    theirs = [await store_normal(engine, other, clock) for _ in range(12)]
    gate = asyncio.Event()
    recorder = Recorder(gates={slow.id: gate})
    running = worker(uow_factory, clock, recorder, poll_interval=0.05)
    task = asyncio.create_task(running.run())
    try:

        async def all_of_theirs_done() -> bool:
            rows = await statuses(engine)
            return all(rows[i][0] == "done" for i in theirs)

        # While the slow integration's first delivery is still held by its provider.
        await eventually(all_of_theirs_done, "the other integration's deliveries were processed")
        assert slow.id not in recorder.seen
        gate.set()

        async def all_done() -> bool:
            return {s for s, _, _ in (await statuses(engine)).values()} == {"done"}

        await eventually(all_done, "the slow integration's backlog was processed")
    finally:
        running.stop()
        await task


async def test_an_integration_over_its_rate_limit_is_put_aside_uncounted_while_others_go_on(
    engine: AsyncEngine,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    throttled = await integrations.add("loc-1", sub_account_id="sa-1")
    other = await integrations.add("loc-2", sub_account_id="sa-2")
    backlog = [await store_normal(engine, throttled, clock) for _ in range(3)]
    theirs = await store_normal(engine, other, clock)
    recorder = Recorder(
        errors={
            throttled.id: lambda: RateLimitExceededError(
                "rate limit reached", retry_after_seconds=42
            )
        }
    )

    await worker(uow_factory, clock, recorder).run_once()

    rows = await rows_of(engine)
    assert rows[theirs].status == "done"
    for row_id in backlog:
        row = rows[row_id]
        assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
        assert row.next_attempt_at == clock.now() + timedelta(seconds=42)
    # Not due until then: nothing is claimed, and then all of it is.
    assert await worker(uow_factory, clock, recorder).run_once() == 0
    clock.advance(seconds=42)
    recorder.errors.clear()
    assert await worker(uow_factory, clock, recorder).run_once() == 3
    assert {rows_[0] for rows_ in (await statuses(engine)).values()} == {"done"}


async def test_a_delivery_that_succeeds_after_failing_keeps_no_error(
    engine: AsyncEngine,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    integration = await integrations.add("loc-1")
    row_id = await store_normal(engine, integration, clock)
    recorder = Recorder(errors={integration.id: lambda: InvalidArgumentError("a bad value")})
    await worker(uow_factory, clock, recorder).run_once()
    assert (await statuses(engine))[row_id][:2] == ("dead", 1)

    async with uow_factory() as uow:
        await uow.inbox.replay(row_id, now=clock.now())
        await uow.commit()
    recorder.errors.clear()
    await worker(uow_factory, clock, recorder).run_once()

    assert (await statuses(engine))[row_id] == ("done", 1, None)

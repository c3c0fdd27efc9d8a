"""A delivery keeps the trace context of the request that stored it (when the writer is given a
source for it, as while tracing is on), and the worker's claim hands it back, on both databases.
Several deliveries stored together (one batch) keep one each."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ids import Uuid7Generator
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.persistence.webhook_inbox import SqlAlchemyInboxWriter
from tests.fakes import FixedClock
from tests.integration.webhooks.conftest import Deliveries, Integrations

LEASE = timedelta(minutes=2)


def traceparent(n: int) -> str:
    return f"00-{n:032x}-{n:016x}-01"


async def test_each_delivery_of_a_batch_is_claimed_with_its_own_requests_trace_context(
    engine: AsyncEngine,
    writer_pool: Any,
    integrations: Integrations,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    integration = await integrations.add("loc-1")
    current: list[str | None] = []
    writer = SqlAlchemyInboxWriter(engine, writer_pool, trace_context=lambda: current.pop(0))
    deliveries = Deliveries(writer, integration, clock, Uuid7Generator())
    # Stored concurrently: one batch; the third request was not traced.
    current.extend([traceparent(1), traceparent(2), None])
    ids = await asyncio.gather(*(deliveries.add(delivery_id=f"wh-{n}") for n in range(3)))

    async with uow_factory() as uow:
        claimed = await uow.inbox.claim_due(now=clock.now(), limit=10, lease=LEASE)
        await uow.commit()

    by_id = {claim.id: claim.trace_context for claim in claimed}
    assert by_id == {ids[0]: traceparent(1), ids[1]: traceparent(2), ids[2]: None}


async def test_a_writer_without_a_trace_source_stores_none(
    uow_factory: SqlAlchemyUnitOfWorkFactory, deliveries: Deliveries, clock: FixedClock
) -> None:
    stored = await deliveries.add()

    async with uow_factory() as uow:
        [claim] = await uow.inbox.claim_due(now=clock.now(), limit=10, lease=LEASE)
        await uow.commit()

    assert (claim.id, claim.trace_context) == (stored, None)

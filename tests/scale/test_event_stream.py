"""StreamEvents from any copy: two copies on one Postgres stream the same events, with the same
sequences, in the same order, live and when resumed from a cursor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from bench.common import contact_body, sql
from integrations.v1 import event_service_pb2, event_service_pb2_grpc
from tests.scale.support import (
    Cluster,
    cluster,
    create_integration,
    send_webhooks,
    wait_until_settled,
)
from tests.support.waiting import PATIENCE_SECONDS

pytestmark = pytest.mark.postgres

CONTACTS = 60

Event = tuple[int, str, str, str, int]


async def read_events(running: Cluster, copy: int, *, after: int, count: int) -> list[Event]:
    """The first `count` events copy `copy` streams after sequence `after`."""
    events: list[Event] = []
    async with grpc.aio.insecure_channel(running.grpc_target(copy)) as channel:
        call = event_service_pb2_grpc.EventServiceStub(channel).StreamEvents(
            event_service_pb2.StreamEventsRequest(after_sequence=after),
            metadata=running.admin(),
        )
        async for reply in call:
            e = reply.event
            events.append(
                (e.sequence, e.event_id, e.event_type, e.aggregate_id, e.aggregate_version)
            )
            if len(events) == count:
                call.cancel()
                break
    return events


async def test_events_written_through_one_copy_stream_identically_from_another(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, copies=2) as running:
        # Both streams are open while the events are written, and follow them live.
        [(written,)] = await sql(running.database_url, "SELECT count(*) FROM outbox")
        expected = written + 1 + 1 + CONTACTS  # created, activated, a lead captured per contact
        live = [
            asyncio.create_task(read_events(running, copy, after=0, count=expected))
            for copy in (0, 1)
        ]
        await create_integration(running.grpc_target(0), running.keys)
        bodies = [contact_body("stream", i) for i in range(CONTACTS)]
        await send_webhooks(lambda: [running.webhook_url(0)], running.keys, bodies)
        await wait_until_settled(running.database_url, expected=CONTACTS, within=60)
        from_a, from_b = await asyncio.wait_for(asyncio.gather(*live), PATIENCE_SECONDS)
        [(total,)] = await sql(running.database_url, "SELECT count(*) FROM outbox")
        half = len(from_a) // 2
        resumed_on_b = await read_events(running, 1, after=from_a[half][0], count=total - half - 1)

    assert total == expected
    assert from_a == from_b
    sequences = [event[0] for event in from_a]
    assert sequences == sorted(set(sequences))  # increasing, no repeats
    assert [event[2] for event in from_a].count("LeadCaptured") == CONTACTS
    assert resumed_on_b == from_a[half + 1 :]  # a client resumes on any copy from its cursor

"""SIGTERM: deliveries in flight are answered 200 before the process exits, the worker finishes
the delivery in hand and hands back the rest of its batch, and a restarted service processes
everything. The database is slowed down (a proxy holds each chunk back) so that requests and
claims are in flight when the signal arrives."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bench.common import contact_body, sql
from tests.reliability.support import (
    DelayProxy,
    counts,
    deliver,
    deployment,
    record,
    wait_settled,
)

pytestmark = pytest.mark.postgres


async def _until(database_url: str, query: str, *, within: float) -> int:
    stop_at = time.monotonic() + within
    while True:
        [(value,)] = await sql(database_url, query)
        if value or time.monotonic() > stop_at:
            return int(value)
        await asyncio.sleep(0.05)


async def test_sigterm_answers_requests_in_flight_and_the_worker_hands_back_its_claims(
    tmp_path: Path,
) -> None:
    proxy = DelayProxy("127.0.0.1", 5432)
    try:
        # A long lease: the worker must not hand the batch back on its own before the signal.
        async with deployment(
            tmp_path, database_via=proxy.start, INBOX_LEASE_SECONDS="120"
        ) as running:
            proxy.delay = 0.1
            first = [contact_body("term-a", i) for i in range(6)]
            answered_first = await deliver(running.url(), running.keys, first, deadline=30)
            claimed = await _until(
                running.database_url,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'processing'",
                within=20,
            )
            second = [contact_body("term-b", i) for i in range(6)]
            in_flight = asyncio.create_task(
                deliver(
                    running.url(), running.keys, second, concurrency=6, deadline=30, retry_pause=60
                )
            )
            await asyncio.sleep(0.05)  # sent, and waiting on the slow database
            exit_code = await asyncio.to_thread(running.terminate)
            answered_second = await in_flight
            [(held,)] = await sql(
                running.database_url,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'processing' "
                "OR claim_token IS NOT NULL",
            )
            [(handed_back,)] = await sql(
                running.database_url,
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' "
                "AND attempts = 0 AND delivery_id IN (SELECT delivery_id FROM webhook_deliveries "
                "WHERE payload->>'id' LIKE 'c-term-a-%')",
            )
            proxy.delay = 0.0
            await asyncio.to_thread(running.start)
            await wait_settled(running.database_url, expected=12, within=60)
            found = await counts(running.database_url)
    finally:
        await proxy.close()

    record(
        "SIGTERM under load",
        claimed_at_signal=claimed,
        handed_back=handed_back,
        in_flight=dict(answered_second.statuses),
        exit_code=exit_code,
        **found,
    )
    assert len(answered_first.answered) == 6
    assert claimed > 0  # the worker held claims when the signal came
    assert exit_code == 0
    assert answered_second.statuses == {200: 6}  # every request in flight was answered
    assert held == 0
    assert handed_back > 0  # claimed, not attempted, handed back with its attempt uncounted
    assert found == {"deliveries_done": 12, "leads": 12, "contacts": 12, "lead_captured": 12}

"""Three copies as separate processes on one Postgres and Redis, webhooks spread across them:
each delivery is processed once (one lead per contact, every inbox row done, no event written
twice), by whichever copy claimed it; a copy killed mid-run leaves its claims to the others,
who finish them once the lease ends."""

from __future__ import annotations

import asyncio
import collections
import time
from datetime import datetime
from pathlib import Path

import pytest

from bench.common import contact_body, sql
from tests.scale.support import (
    Cluster,
    cluster,
    create_integration,
    outcome,
    processed_by,
    send_webhooks,
    wait_until_settled,
)

pytestmark = pytest.mark.postgres

COPIES = 3
LEASE_SECONDS = 2
VICTIM = COPIES - 1


async def claims_held_when_killed(running: Cluster, *, backlog: int) -> dict[str, datetime]:
    """Once the last copy has processed a few deliveries and `backlog` more wait (so that every
    worker is busy), SIGKILL it; returns the deliveries being processed at that moment, with
    the end of their leases."""
    give_up = time.monotonic() + 60
    while True:
        [(waiting,)] = await sql(
            running.database_url,
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'",
        )
        if waiting >= backlog and len(processed_by(running, VICTIM)) >= 5:
            break
        assert time.monotonic() < give_up, "no backlog built up: nothing to kill the copy in"
        await asyncio.sleep(0.02)
    await asyncio.to_thread(running.kill, VICTIM)
    rows = await sql(
        running.database_url,
        "SELECT id, claimed_until FROM webhook_deliveries WHERE status = 'processing'",
    )
    return {str(id): claimed_until for id, claimed_until in rows}


async def _run(tmp_path: Path, *, deliveries: int, kill: bool) -> None:
    async with cluster(tmp_path, copies=COPIES, INBOX_LEASE_SECONDS=str(LEASE_SECONDS)) as running:
        await create_integration(running.grpc_target(0), running.keys)
        bodies = [contact_body("scale", i) for i in range(deliveries)]
        sending = asyncio.create_task(
            send_webhooks(
                lambda: [running.webhook_url(i) for i, c in enumerate(running.copies) if c],
                running.keys,
                bodies,
            )
        )
        held = await claims_held_when_killed(running, backlog=deliveries // 10) if kill else {}
        statuses = await sending
        await wait_until_settled(running.database_url, expected=deliveries, within=300)
        found = await outcome(running.database_url)
        finished = dict(
            await sql(
                running.database_url,
                "SELECT id, processed_at FROM webhook_deliveries WHERE status = 'done'",
            )
        )
        by_copy = [processed_by(running, i) for i in range(COPIES)]

    # Answered 200 once each; other answers were 429s or the killed copy's broken connections,
    # retried on another copy (send_webhooks fails on anything else).
    assert statuses[200] == deliveries, statuses
    assert found == {
        "deliveries_done": deliveries,
        "leads": deliveries,
        "contacts": deliveries,
        "lead_captured": deliveries,
        "duplicated_events": 0,
    }
    # Every copy processed a share, and no delivery was processed by two copies (a copy logs a
    # delivery after its commit: the killed copy's last one may lack its line).
    counted = collections.Counter(d for done in by_copy for d in done)
    assert all(by_copy), [len(done) for done in by_copy]
    assert max(counted.values()) == 1
    assert len(counted) >= deliveries - (1 if kill else 0)
    if kill:
        # The victim's claims were finished by the others, only after their leases ended.
        orphaned = {d for d, until in held.items() if finished[d] >= until}
        assert orphaned, held
        assert orphaned <= set().union(*by_copy[:VICTIM])


async def test_webhooks_spread_across_three_copies_are_processed_once_through_a_kill(
    tmp_path: Path,
) -> None:
    await _run(tmp_path, deliveries=300, kill=True)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_5000_webhooks_spread_across_three_copies_are_each_processed_once(
    tmp_path: Path,
) -> None:
    await _run(tmp_path, deliveries=5000, kill=False)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_5000_webhooks_through_three_copies_one_killed_mid_run_are_each_processed_once(
    tmp_path: Path,
) -> None:
    await _run(tmp_path, deliveries=5000, kill=True)

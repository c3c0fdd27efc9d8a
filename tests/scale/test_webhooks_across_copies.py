"""Three copies as separate processes on one Postgres and Redis, webhooks spread across them:
each delivery is processed once (one lead per contact, every inbox row done, no event written
twice), by whichever copy claimed it; a copy killed mid-run leaves its claims to the others,
who finish them once the lease ends."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from datetime import UTC, datetime, timedelta
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
VICTIM = COPIES - 1
LEASE_SECONDS = 12
# The longest one delivery may take a copy that is not stopped, on a loaded machine.
ONE_DELIVERY = timedelta(seconds=LEASE_SECONDS / 4)


async def processing(running: Cluster) -> dict[str, tuple[str, datetime]]:
    """The deliveries being processed: claim token and lease end of each."""
    rows = await sql(
        running.database_url,
        "SELECT id, claim_token, claimed_until FROM webhook_deliveries WHERE status = 'processing'",
    )
    return {str(id): (token, until) for id, token, until in rows}


async def claims_held_while_stopped(running: Cluster) -> dict[str, datetime]:
    """The claims of the stopped victim, with their lease ends, among those held now.

    A copy that runs settles each claim of its batch or, once half the lease is used, hands back
    those it has not started: its claims change before `claimed_until - lease / 2` plus one
    delivery. A claim still unchanged after that is one the stopped copy holds."""
    half_lease = timedelta(seconds=LEASE_SECONDS / 2)
    undecided = await processing(running)
    held: dict[str, datetime] = {}
    while undecided:
        await asyncio.sleep(0.2)
        read_at = datetime.now(UTC)
        now = await processing(running)
        for delivery, (token, until) in list(undecided.items()):
            if now.get(delivery) != (token, until):
                del undecided[delivery]
            elif read_at >= until - half_lease + ONE_DELIVERY:
                held[delivery] = until
                del undecided[delivery]
    return held


async def kill_holding_claims(
    running: Cluster, *, backlog: int, sending: asyncio.Task[collections.Counter[int | str]]
) -> dict[str, datetime]:
    """SIGKILL the last copy mid-run, while it holds claims; returns them with their lease ends.

    Once it has processed a few deliveries and `backlog` more wait, it is stopped (SIGSTOP) until
    its claims can be told from the others'. It is killed if it holds some, else resumed and
    stopped again once it has processed another delivery, for as long as deliveries wait."""
    victim = running.copy(VICTIM).process.pid
    attempts, processed_before = 0, 4
    while True:
        [(waiting,)] = await sql(
            running.database_url,
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'",
        )
        processed = len(processed_by(running, VICTIM))
        if waiting >= backlog and processed > processed_before:
            attempts, processed_before = attempts + 1, processed
            os.kill(victim, signal.SIGSTOP)
            held = await claims_held_while_stopped(running)
            if held:
                await asyncio.to_thread(running.kill, VICTIM)
                return held
            os.kill(victim, signal.SIGCONT)
        elif sending.done() and waiting < backlog:
            raise AssertionError(
                f"the copy never held a claim to be killed with: {attempts} attempts, "
                f"{processed} deliveries processed by it, {waiting} waiting after the last was sent"
            )
        await asyncio.sleep(0.05)


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
        held = (
            await kill_holding_claims(running, backlog=deliveries // 10, sending=sending)
            if kill
            else {}
        )
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
        # The victim's claims were finished by the others, once their leases had ended.
        assert {d: finished[d] >= until for d, until in held.items()} == dict.fromkeys(held, True)
        assert set(held) <= set().union(*by_copy[:VICTIM])


@pytest.mark.timeout(600)
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

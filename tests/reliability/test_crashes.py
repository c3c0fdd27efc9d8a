"""The service killed with SIGKILL again and again while GHL keeps sending: every delivery
answered 200 is processed exactly once in effect (one lead and one LeadCaptured per contact),
and nothing is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.common import contact_body
from tests.reliability.support import (
    Deployment,
    Sent,
    counts,
    deliver,
    deployment,
    record,
    wait_settled,
)

pytestmark = pytest.mark.postgres


async def _kill_while_sending(
    running: Deployment, sending: asyncio.Task[Sent], *, every: float
) -> int:
    """SIGKILL the service every `every` seconds (starting it again at once) until the sender
    is done; returns how many times it was killed."""
    kills = 0
    while True:
        done, _ = await asyncio.wait({sending}, timeout=every)
        if done:
            return kills
        await asyncio.to_thread(running.kill)
        kills += 1
        await asyncio.to_thread(running.start)


async def _run(
    tmp_path: Path, *, deliveries: int, rate: float, every: float, min_kills: int
) -> None:
    async with deployment(tmp_path) as running:
        bodies = [contact_body("kill", i) for i in range(deliveries)]
        sending = asyncio.create_task(
            deliver(
                running.url(), running.keys, bodies, rate=rate, deadline=deliveries / rate + 240
            )
        )
        kills = await _kill_while_sending(running, sending, every=every)
        sent = await sending
        await wait_settled(running.database_url, expected=deliveries, within=120)
        found = await counts(running.database_url)
    record("kill -9 during ingest", kills=kills, statuses=dict(sent.statuses), **found)

    assert sent.server_errors == 0, sent.statuses
    assert len(sent.answered) == deliveries, sent.statuses
    assert found == {
        "deliveries_done": deliveries,
        "leads": deliveries,
        "contacts": deliveries,
        "lead_captured": deliveries,
    }
    assert kills >= min_kills


async def test_a_service_killed_mid_ingest_loses_nothing_and_processes_each_delivery_once(
    tmp_path: Path,
) -> None:
    await _run(tmp_path, deliveries=150, rate=100, every=0.8, min_kills=1)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_5000_deliveries_through_a_kill_9_every_3_seconds_give_exactly_5000_leads(
    tmp_path: Path,
) -> None:
    await _run(tmp_path, deliveries=5000, rate=250, every=3.0, min_kills=3)

"""Postgres going away during ingest: the service answers 429 (the only answer GHL retries) while
it cannot store a delivery, recovers by itself when the database is back, and loses nothing.
While developing, a proxy the test can cut stands in for the database; the slow test restarts
the real server (once, at the very end of a run: other suites share it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from bench.common import contact_body
from tests.reliability.support import (
    DelayProxy,
    Sent,
    counts,
    deliver,
    deployment,
    record,
    wait_settled,
)

pytestmark = pytest.mark.postgres


def _expect_nothing_lost(sent: Sent, found: dict[str, int], deliveries: int, test: str) -> None:
    record(test, statuses=dict(sent.statuses), **found)
    assert sent.statuses[429] > 0, sent.statuses  # the outage was seen, and answered 429
    assert sent.server_errors == 0, sent.statuses
    assert len(sent.answered) == deliveries
    assert found == {
        "deliveries_done": deliveries,
        "leads": deliveries,
        "contacts": deliveries,
        "lead_captured": deliveries,
    }


async def _through_outages(
    tmp_path: Path, *, deliveries: int, rate: float, outages: int, outage_seconds: float
) -> None:
    proxy = DelayProxy("127.0.0.1", 5432)
    try:
        async with deployment(tmp_path, database_via=proxy.start) as running:
            bodies = [contact_body("outage", i) for i in range(deliveries)]
            sending = asyncio.create_task(
                deliver(running.url(), running.keys, bodies, rate=rate, deadline=120)
            )
            for _ in range(outages):
                await asyncio.sleep(deliveries / rate / (outages + 1))
                proxy.cut()
                await asyncio.sleep(outage_seconds)
                proxy.restore()
            sent = await sending
            await wait_settled(running.database_url, expected=deliveries, within=60)
            found = await counts(running.database_url)
            assert running.service is not None
            assert running.service.process.poll() is None  # recovered without a restart
    finally:
        await proxy.close()
    _expect_nothing_lost(
        sent, found, deliveries, f"{outages} database outage(s) of {outage_seconds} s"
    )


async def test_a_database_cut_off_mid_ingest_gets_429s_then_everything_is_stored_once(
    tmp_path: Path,
) -> None:
    await _through_outages(tmp_path, deliveries=200, rate=100, outages=1, outage_seconds=1.0)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_repeated_database_outages_under_load_lose_nothing(tmp_path: Path) -> None:
    await _through_outages(tmp_path, deliveries=3000, rate=200, outages=4, outage_seconds=2.0)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_a_real_postgres_restart_mid_ingest_gets_429s_and_loses_nothing(
    tmp_path: Path,
) -> None:
    # A real restart of the shared server: run this alone, once (`make test-reliability`).
    [version] = os.listdir("/etc/postgresql")
    deliveries, rate = 2000, 200
    async with deployment(tmp_path) as running:
        bodies = [contact_body("restart", i) for i in range(deliveries)]
        sending = asyncio.create_task(
            deliver(running.url(), running.keys, bodies, rate=rate, deadline=180)
        )
        await asyncio.sleep(deliveries / rate / 3)
        await asyncio.to_thread(
            subprocess.run,
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            timeout=120,
        )
        sent = await sending
        await wait_settled(running.database_url, expected=deliveries, within=120)
        found = await counts(running.database_url)
        assert running.service is not None
        assert running.service.process.poll() is None
    _expect_nothing_lost(sent, found, deliveries, "a real Postgres restart")

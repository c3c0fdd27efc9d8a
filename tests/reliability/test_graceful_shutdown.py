"""SIGTERM: deliveries in flight are answered 200 before the process exits, the worker finishes
the delivery in hand and hands back the rest of its batch, and a restarted service processes
everything. The database is slowed down (a proxy holds each chunk back) so that requests and
claims are in flight when the signal arrives. While the copy drains, its probes answer that it
is draining (`/readyz` 503, gRPC health NOT_SERVING) for as long as it serves requests in
flight, which a lock held by the test keeps waiting."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import asyncpg_dsn, contact_body, sql
from integrations.v1 import (
    integration_pb2,
    integration_service_pb2,
    integration_service_pb2_grpc,
)
from tests.reliability.support import (
    DelayProxy,
    Deployment,
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


async def _eventually(probe: Callable[[], Awaitable[bool]], *, within: float = 30) -> None:
    stop_at = time.monotonic() + within
    while not await probe():
        assert time.monotonic() < stop_at, f"not within {within} s"
        await asyncio.sleep(0.05)


class RowLock:
    """An integration's row locked by the test (FOR UPDATE): a delivery for the integration
    (its foreign key) and an update of it wait, in flight, until `release()`."""

    def __init__(self, running: Deployment) -> None:
        self._running = running
        self._holder: Any = None

    async def __aenter__(self) -> RowLock:
        self._holder = await asyncpg.connect(asyncpg_dsn(self._running.database_url))
        await self._holder.execute("BEGIN")
        await self._holder.execute(
            "SELECT id FROM integrations WHERE id = $1 FOR UPDATE", self._running.integration_id
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.release()

    async def release(self) -> None:
        if self._holder is not None:
            holder, self._holder = self._holder, None
            await holder.close()  # ends the transaction, and the lock with it

    async def waiting(self, *, at_least: int) -> bool:
        """Whether at least that many of the service's sessions wait for a lock."""
        [(waiting,)] = await sql(
            self._running.database_url,
            "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE NOT l.granted AND a.datname = current_database() "
            "AND a.application_name = 'integrations'",
        )
        return int(waiting) >= at_least


class Probes:
    """The copy's probes as a load balancer reads them; a refused connection or call is "not
    draining" (the listener is gone)."""

    def __init__(
        self, running: Deployment, channel: grpc.aio.Channel, http: aiohttp.ClientSession
    ) -> None:
        self._readyz = f"http://127.0.0.1:{running.webhook_port}/readyz"
        self._health = health_pb2_grpc.HealthStub(channel)
        self._http = http

    async def readyz_says_draining(self) -> bool:
        try:
            async with self._http.get(self._readyz) as response:
                body = await response.json()
                return response.status == 503 and body["status"] == "draining"
        except aiohttp.ClientConnectionError:
            return False

    async def health_is_not_serving(self) -> bool:
        try:
            reply = await self._health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        except grpc.aio.AioRpcError:  # CANCELLED or UNAVAILABLE: the server refuses calls
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.NOT_SERVING)


async def _rename(channel: grpc.aio.Channel, running: Deployment, display_name: str) -> str:
    reply = await integration_service_pb2_grpc.IntegrationServiceStub(channel).UpdateIntegration(
        integration_service_pb2.UpdateIntegrationRequest(
            integration=integration_pb2.Integration(
                name=f"integrations/{running.integration_id}", display_name=display_name
            )
        ),
        metadata=(("authorization", f"Bearer {running.keys.token()}"),),
        timeout=120,
    )
    renamed: str = reply.integration.display_name
    return renamed


async def _post(running: Deployment, body: bytes) -> int:
    header, signature = running.keys.sign("ed25519", body)
    headers = {header: signature, "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(running.url(), data=body, headers=headers) as response,
    ):
        return response.status


async def test_a_draining_copy_says_so_on_both_probes_while_it_serves_requests_in_flight(
    tmp_path: Path,
) -> None:
    async with deployment(tmp_path) as running:
        assert running.service is not None
        process = running.service.process
        async with (
            RowLock(running) as lock,
            grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
            aiohttp.ClientSession() as http,
        ):
            probes = Probes(running, channel, http)
            update = asyncio.ensure_future(_rename(channel, running, "Drained"))
            delivery = asyncio.ensure_future(_post(running, contact_body("drain", 1)))
            await _eventually(lambda: lock.waiting(at_least=2))

            process.send_signal(signal.SIGTERM)
            await _eventually(probes.readyz_says_draining)
            await _eventually(probes.health_is_not_serving)
            # Both still in flight, and the copy still says it is draining.
            assert not update.done()
            assert not delivery.done()
            assert await probes.readyz_says_draining()

            await lock.release()
            renamed, answered = await update, await delivery
        exit_code = await asyncio.to_thread(process.wait, 60)
        running.service = None
        record("probes while draining", exit_code=exit_code, delivery=answered)

    assert renamed == "Drained"
    assert answered == 200
    assert exit_code == 0

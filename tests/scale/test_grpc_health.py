"""gRPC health for load balancers: NOT_SERVING while the database is unreachable or the copy is
draining, SERVING again when the database returns."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from adapters.persistence.migrate import upgrade
from bench.common import Keys, Service, fresh_database, service_env, start_service
from entrypoints.grpc.health import HealthReporter
from entrypoints.webhooks.ops import Readiness
from tests.integration.webhooks.support import TcpProxy
from tests.support.waiting import PATIENCE_SECONDS

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE = "integrations.v1.IntegrationService"


async def status_of(stub: health_pb2_grpc.HealthStub, service: str = "") -> int:
    reply = await stub.Check(
        health_pb2.HealthCheckRequest(service=service), timeout=PATIENCE_SECONDS
    )
    status: int = reply.status
    return status


async def eventually(probe: Callable[[], Awaitable[bool]], *, within: float) -> float:
    """Poll `probe` until it holds; returns how long that took."""
    started = time.monotonic()
    while not await probe():
        assert time.monotonic() - started < within, f"not within {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


class Database:
    """A ping that fails while `down`."""

    def __init__(self) -> None:
        self.down = False

    async def ping(self) -> None:
        if self.down:
            raise ConnectionRefusedError("the database is down")


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[health.aio.HealthServicer, str]]:
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    for service in ("", SERVICE):
        await servicer.set(service, SERVING)
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(None)


async def test_health_follows_the_database_and_stays_not_serving_once_draining(
    health_server: tuple[health.aio.HealthServicer, str],
) -> None:
    servicer, target = health_server
    database = Database()
    readiness = Readiness(database.ping, timeout=1.0)
    reporter = asyncio.create_task(
        HealthReporter(servicer, [SERVICE], readiness, interval=0.05).run()
    )
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def every_service_is(status: int) -> bool:
            return [await status_of(stub, s) for s in ("", SERVICE)] == [status, status]

        assert await every_service_is(SERVING)
        database.down = True
        await eventually(lambda: every_service_is(NOT_SERVING), within=PATIENCE_SECONDS)
        database.down = False
        await eventually(lambda: every_service_is(SERVING), within=PATIENCE_SECONDS)

        readiness.drain()
        await eventually(lambda: every_service_is(NOT_SERVING), within=PATIENCE_SECONDS)
        await asyncio.wait_for(reporter, PATIENCE_SECONDS)  # done: nothing will set SERVING again
        await servicer.set(SERVICE, SERVING)  # ignored after a graceful shutdown began
        assert await every_service_is(NOT_SERVING)


@pytest.mark.postgres
async def test_a_copy_reports_not_serving_while_its_database_is_cut_off_and_while_draining(
    tmp_path: Path,
) -> None:
    keys = Keys()
    async with fresh_database() as url:
        await upgrade(url)
        parsed = make_url(url)
        proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        proxied = parsed.set(port=await proxy.start()).render_as_string(hide_password=False)
        env = service_env(proxied, keys, tmp_path, ghl_url="http://127.0.0.1:9")
        copy = await asyncio.to_thread(start_service, env, tmp_path / "copy.log")
        try:
            await _check_health_through_an_outage_and_a_drain(copy, proxy)
        finally:
            await asyncio.to_thread(copy.stop)
            await proxy.stop()


async def _check_health_through_an_outage_and_a_drain(copy: Service, proxy: TcpProxy) -> None:
    readyz = f"http://127.0.0.1:{copy.webhook_port}/readyz"
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{copy.grpc_port}") as channel,
        aiohttp.ClientSession() as http,
    ):
        stub = health_pb2_grpc.HealthStub(channel)

        async def ready_status() -> int:
            async with http.get(readyz) as response:
                return response.status

        assert await status_of(stub) == SERVING
        assert await ready_status() == 200

        proxy.cut()
        await eventually(lambda: _is(stub, NOT_SERVING), within=PATIENCE_SECONDS)
        assert await status_of(stub, SERVICE) == NOT_SERVING
        assert await ready_status() == 503

        proxy.restore()
        await eventually(lambda: _is(stub, SERVING), within=PATIENCE_SECONDS)
        assert await ready_status() == 200

        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == SERVING
        copy.process.send_signal(signal.SIGTERM)
        # Reported as soon as draining starts, while the copy still finishes what it holds.
        assert (await asyncio.wait_for(watch.read(), PATIENCE_SECONDS)).status == NOT_SERVING
        watch.cancel()


async def _is(stub: health_pb2_grpc.HealthStub, status: int) -> bool:
    return await status_of(stub) == status

"""The gRPC health service kept in step with readiness: the database probed every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import structlog
from grpc_health.v1 import health, health_pb2

log = structlog.get_logger(__name__)

DEFAULT_PROBE_INTERVAL = 2.0

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ReadinessProbe(Protocol):
    """What decides whether this copy should get traffic (entrypoints.webhooks.ops.Readiness,
    which `/readyz` answers from too)."""

    @property
    def draining(self) -> bool: ...

    async def problems(self) -> list[str]:
        """Why the copy is not ready; empty when it is."""
        ...

    async def wait_drained(self) -> None:
        """Return once the copy starts draining."""
        ...


class HealthReporter:
    """Every `interval` seconds, asks `readiness` and sets every service of `servicer` SERVING
    or NOT_SERVING (a database that stops answering makes the copy NOT_SERVING; its return,
    SERVING again). Draining is final and immediate: `enter_graceful_shutdown` sets
    NOT_SERVING for good, and later sets are ignored."""

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        services: Sequence[str],
        readiness: ReadinessProbe,
        *,
        interval: float = DEFAULT_PROBE_INTERVAL,
    ) -> None:
        if interval <= 0:
            raise ValueError("the probe interval must be positive")
        self._servicer = servicer
        self._services = ("", *services)
        self._readiness = readiness
        self._interval = interval
        self._serving = True  # start_server reports SERVING before the first probe

    async def run(self) -> None:
        while True:
            problems = await self._readiness.problems()
            if self._readiness.draining:
                break
            await self._report(problems)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._readiness.wait_drained(), self._interval)
        log.info("grpc_health_draining")
        await self._servicer.enter_graceful_shutdown()

    async def _report(self, problems: list[str]) -> None:
        serving = not problems
        if serving == self._serving:
            return
        self._serving = serving
        if serving:
            log.info("grpc_health_serving")
        else:
            log.warning("grpc_health_not_serving", problems=problems)
        for service in self._services:
            await self._servicer.set(service, SERVING if serving else NOT_SERVING)

"""The funnel worker: dispatches the outbox's funnel steps to the queue, and sends each
integration's queued events to its provider, each integration in a lane of its own."""

from __future__ import annotations

import asyncio
import contextlib
import functools

import structlog

from application.call_budget import rate_limit_wait_at_most
from application.funnel import DispatchFunnelEvents, SendFunnelEvents, SendResult
from application.ports import Clock, FunnelQueue
from entrypoints.worker import metrics

log = structlog.get_logger(__name__)

DEFAULT_LANES = 8
DEFAULT_RATE_LIMIT_WAIT = 1.0


class FunnelWorker:
    """Until stopped: dispatch every outbox page there is, then start a lane for each
    integration with events due (at most `lanes` at once, none for one already in hand), then
    wait `poll_interval`. A lane sends one batch; a provider call waits at most
    `rate_limit_wait` for its rate limit (then the batch waits, uncounted, for the provider),
    so a throttled or slow integration holds up no other."""

    def __init__(
        self,
        *,
        dispatch: DispatchFunnelEvents,
        send: SendFunnelEvents,
        queue: FunnelQueue,
        clock: Clock,
        lanes: int = DEFAULT_LANES,
        poll_interval: float = 1.0,
        rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT,
    ) -> None:
        self._dispatch = dispatch
        self._send = send
        self._queue = queue
        self._clock = clock
        self._max_lanes = lanes
        self._poll_interval = poll_interval
        self._rate_limit_wait = rate_limit_wait
        self._stopping = asyncio.Event()
        self._lanes: dict[str, asyncio.Task[SendResult]] = {}

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        log.info("funnel_worker_started")
        while not self._stopping.is_set():
            try:
                await self.run_once(wait=False)
            except Exception as err:  # the database is down, or a bug: keep polling
                log.error("funnel_worker_error", error_type=type(err).__name__, exc_info=err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._poll_interval)
        await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        log.info("funnel_worker_stopped")

    async def run_once(self, *, wait: bool = True) -> int:
        """Dispatch what the outbox holds and start the lanes that are due; with `wait`, wait
        for them. Returns how many lanes it started."""
        while await self._dispatch.run_once():
            if self._stopping.is_set():
                break
        free = self._max_lanes - len(self._lanes)
        started = 0
        if free > 0:
            due = await self._queue.due_integrations(now=self._clock.now(), limit=self._max_lanes)
            for integration_id in due:
                if integration_id in self._lanes or started >= free:
                    continue
                lane = asyncio.create_task(self._lane(integration_id))
                self._lanes[integration_id] = lane
                lane.add_done_callback(functools.partial(self._lane_done, integration_id))
                started += 1
        if wait:
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)
        return started

    async def _lane(self, integration_id: str) -> SendResult:
        with rate_limit_wait_at_most(self._rate_limit_wait):
            return await self._send.execute(integration_id)

    def _lane_done(self, integration_id: str, lane: asyncio.Task[SendResult]) -> None:
        self._lanes.pop(integration_id, None)
        if lane.cancelled():
            return
        error = lane.exception()
        if error is not None:
            log.error("funnel_lane_failed", integration_id=integration_id, exc_info=error)
            return
        result = lane.result()
        for outcome in ("sent", "dropped", "skipped", "failed"):
            count = getattr(result, outcome)
            if count:
                metrics.FUNNEL_EVENTS.labels(result.template, outcome).inc(count)

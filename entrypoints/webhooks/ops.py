"""Operations endpoints on the webhook port: ``/metrics`` (Prometheus text format), ``/healthz``
(liveness) and ``/readyz`` (readiness)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from application.observability import (
    InboxStats,
    InboxStatsReader,
    IntegrationSyncStats,
    SyncStatsReader,
)
from entrypoints.webhooks.handlers import served
from entrypoints.webhooks.metrics import IngressObserver, UnverifiedCollector

log = structlog.get_logger(__name__)


class Readiness:
    """Whether this copy should receive traffic: not draining (shutting down), and its database
    answers within `timeout` seconds."""

    def __init__(self, ping: Callable[[], Awaitable[None]], *, timeout: float = 2.0) -> None:
        self._ping = ping
        self._timeout = timeout
        self._draining = False
        self._drained = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self._draining

    def drain(self) -> None:
        """From now on, report not ready: the copy is shutting down."""
        self._draining = True
        self._drained.set()

    async def wait_drained(self) -> None:
        """Return once `drain` is called (gRPC health turns NOT_SERVING then)."""
        await self._drained.wait()

    async def problems(self) -> list[str]:
        """Why the copy is not ready; empty when it is."""
        if self._draining:
            return ["draining: the service is shutting down"]
        try:
            await asyncio.wait_for(self._ping(), self._timeout)
        except TimeoutError:
            return [f"the database did not answer within {self._timeout:g} s"]
        except Exception as err:
            log.warning("readiness_database_unreachable", error_type=type(err).__name__)
            return ["the database is unreachable"]
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class Operations:
    """What the operations endpoints and the ingress metrics need."""

    readiness: Readiness
    inbox_stats: InboxStatsReader
    ingress: IngressObserver
    sync_stats: SyncStatsReader | None = None
    scrape_timeout: float = 2.0
    """How long a scrape waits for the database; past it, those gauges are left out."""
    sync_window: timedelta = timedelta(hours=24)


OPERATIONS: Final = web.AppKey("operations", Operations)


def install_operations(app: web.Application, operations: Operations) -> None:
    """Add the endpoints to `app` (the webhook routes' meter counts the deliveries)."""
    app[OPERATIONS] = operations
    for route, handler in (("/metrics", metrics), ("/healthz", healthz), ("/readyz", readyz)):
        app.router.add_get(route, served(handler, route=route))


async def metrics(request: web.Request) -> web.Response:
    """Every metric of the process, the inbox's gauges read from the database now, and the
    sync runs' (read at most every `sync_stats_ttl` seconds)."""
    operations = request.app[OPERATIONS]
    now = operations.ingress.clock.now()
    stats: InboxStats | None
    try:
        stats = await asyncio.wait_for(
            operations.inbox_stats.inbox_stats(now=now), operations.scrape_timeout
        )
    except Exception as err:  # the database is slow or down: serve the rest
        log.warning("metrics_inbox_unreadable", error_type=type(err).__name__)
        stats = None
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(InboxCollector(stats, now))
    scrape.register(UnverifiedCollector(operations.ingress.failures, now - timedelta(hours=1)))
    if operations.sync_stats is not None:
        scrape.register(SyncCollector(await _sync_stats(operations, now)))
    body = generate_latest(REGISTRY) + generate_latest(scrape)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers. It checks nothing else, so that a database outage makes
    copies unready, never restarted."""
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 503 while the database does not answer, or ("draining") while the copy
    finishes what it serves before it stops."""
    readiness = request.app[OPERATIONS].readiness
    problems = await readiness.problems()
    if problems:
        status = "draining" if readiness.draining else "not ready"
        return web.json_response({"status": status, "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


class InboxCollector(Collector):
    """The inbox's gauges from one read of the database (None: the read failed)."""

    def __init__(self, stats: InboxStats | None, now: datetime) -> None:
        self._stats = stats
        self._now = now

    def collect(self) -> Iterable[Metric]:
        stats = self._stats
        yield GaugeMetricFamily(
            "integrations_inbox_stats_up",
            "1 if the inbox's gauges could be read from the database for this scrape, else 0.",
            value=0 if stats is None else 1,
        )
        if stats is None:
            return
        deliveries = GaugeMetricFamily(
            "integrations_inbox_deliveries",
            "Webhook deliveries in the inbox by status: pending, failed (waiting for a retry), "
            "processing, dead (dead letters not replayed).",
            labels=["status"],
        )
        for status, count in (
            ("pending", stats.pending),
            ("failed", stats.failed),
            ("processing", stats.processing),
            ("dead", stats.dead),
        ):
            deliveries.add_metric([status], count)
        yield deliveries
        yield GaugeMetricFamily(
            "integrations_inbox_due_deliveries",
            "Pending or failed deliveries whose time has come: the worker's backlog.",
            value=stats.due,
        )
        oldest = stats.oldest_due_at
        yield GaugeMetricFamily(
            "integrations_inbox_oldest_due_age_seconds",
            "How long the delivery due the longest has waited; 0 when none is due.",
            value=0.0 if oldest is None else max(0.0, (self._now - oldest).total_seconds()),
        )


async def _sync_stats(operations: Operations, now: datetime) -> list[IntegrationSyncStats] | None:
    assert operations.sync_stats is not None
    try:
        return await asyncio.wait_for(
            operations.sync_stats.sync_stats(since=now - operations.sync_window),
            operations.scrape_timeout,
        )
    except Exception as err:
        log.warning("metrics_sync_runs_unreadable", error_type=type(err).__name__)
        return None


class CachedSyncStats:
    """A SyncStatsReader that reads through `reader` at most every `ttl` seconds: sync runs
    change every few minutes, scrapes come every few seconds."""

    def __init__(self, reader: SyncStatsReader, *, ttl: float = 60.0) -> None:
        self._reader = reader
        self._ttl = ttl
        self._expires = 0.0
        self._stats: list[IntegrationSyncStats] = []

    async def sync_stats(self, *, since: datetime) -> list[IntegrationSyncStats]:
        if time.monotonic() >= self._expires:
            self._stats = await self._reader.sync_stats(since=since)
            self._expires = time.monotonic() + self._ttl
        return self._stats


MAX_SYNC_SERIES: Final = 100
"""The most integrations a scrape gives series of their own (eight gauges each): series grow
with tenants otherwise. The totals cover every integration whatever the cap."""


def _most_telling(stats: IntegrationSyncStats) -> tuple[bool, int, int, float, str]:
    """Sort key, first the integrations an operator most needs to see: newest run failed, most
    failed runs, most records missed by webhooks, longest since a run started."""
    return (
        not stats.last_failed,
        -stats.failed_runs,
        -stats.missed_by_webhooks,
        stats.last_started_at.timestamp(),
        stats.integration_id,
    )


class SyncCollector(Collector):
    """The sync runs in the window (a day by default): totals over every integration that ever
    synced, and per integration, for at most `limit` of them (the most telling first, see
    `_most_telling`), its runs in the window and its newest run. The webhook miss ratio is the
    share of the records sync pulled that no webhook had delivered (GHL drops webhooks for good
    after a failed delivery)."""

    def __init__(
        self, stats: list[IntegrationSyncStats] | None, *, limit: int = MAX_SYNC_SERIES
    ) -> None:
        self._stats = stats
        self._limit = limit

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "integrations_sync_stats_up",
            "1 if the sync runs could be read from the database for this scrape, else 0.",
            value=0 if self._stats is None else 1,
        )
        if self._stats is None:
            return
        yield from _sync_totals(self._stats)
        shown = sorted(self._stats, key=_most_telling)[: self._limit]
        yield GaugeMetricFamily(
            "integrations_sync_integrations_omitted",
            f"Integrations left without series of their own by the cap of {self._limit} "
            "(those whose newest run succeeded and that failed least are left out first).",
            value=len(self._stats) - len(shown),
        )
        yield from _sync_series(shown)


def _sync_totals(stats: list[IntegrationSyncStats]) -> Iterable[Metric]:
    outcomes = GaugeMetricFamily(
        "integrations_sync_integrations",
        "Integrations that ever synced, by their newest run: succeeded, failed or running.",
        labels=["last_run"],
    )
    failed = sum(1 for s in stats if s.last_failed)
    running = sum(1 for s in stats if not s.last_failed and s.last_finished_at is None)
    for outcome, count in (
        ("succeeded", len(stats) - failed - running),
        ("failed", failed),
        ("running", running),
    ):
        outcomes.add_metric([outcome], count)
    yield outcomes
    for name, documentation, total in (
        ("runs", "Sync runs started in the last 24 hours", sum(s.runs for s in stats)),
        ("failed_runs", "Of those, the runs that failed", sum(s.failed_runs for s in stats)),
        ("pulled", "Records sync found changed at the provider", sum(s.pulled for s in stats)),
        (
            "missed_by_webhooks",
            "Of those, the records no webhook had delivered",
            sum(s.missed_by_webhooks for s in stats),
        ),
    ):
        yield GaugeMetricFamily(
            f"integrations_sync_all_{name}_last_day",
            f"{documentation}, over every integration.",
            value=total,
        )


def _sync_series(shown: list[IntegrationSyncStats]) -> Iterable[Metric]:
    label = ["integration_id"]
    families = {
        "runs": GaugeMetricFamily(
            "integrations_sync_runs_last_day",
            "Sync runs started in the last 24 hours.",
            labels=label,
        ),
        "failed": GaugeMetricFamily(
            "integrations_sync_failed_runs_last_day",
            "Sync runs started in the last 24 hours that failed.",
            labels=label,
        ),
        "pulled": GaugeMetricFamily(
            "integrations_sync_pulled_last_day",
            "Records sync found changed at the provider in the last 24 hours.",
            labels=label,
        ),
        "missed": GaugeMetricFamily(
            "integrations_sync_missed_by_webhooks_last_day",
            "Of those, the records no webhook had delivered.",
            labels=label,
        ),
        "ratio": GaugeMetricFamily(
            "integrations_sync_webhook_miss_ratio",
            "missed_by_webhooks / pulled over the last 24 hours (absent when nothing was pulled).",
            labels=label,
        ),
        "started": GaugeMetricFamily(
            "integrations_sync_last_run_start_time_seconds",
            "When the newest sync run started, in Unix seconds.",
            labels=label,
        ),
        "duration": GaugeMetricFamily(
            "integrations_sync_last_run_duration_seconds",
            "How long the newest finished sync run took.",
            labels=label,
        ),
        "last_failed": GaugeMetricFamily(
            "integrations_sync_last_run_failed",
            "1 if the newest sync run failed, else 0.",
            labels=label,
        ),
    }
    for s in shown:
        key = [s.integration_id]
        families["runs"].add_metric(key, s.runs)
        families["failed"].add_metric(key, s.failed_runs)
        families["pulled"].add_metric(key, s.pulled)
        families["missed"].add_metric(key, s.missed_by_webhooks)
        if s.pulled:
            families["ratio"].add_metric(key, s.missed_by_webhooks / s.pulled)
        families["started"].add_metric(key, s.last_started_at.timestamp())
        if s.last_finished_at is not None:
            seconds = (s.last_finished_at - s.last_started_at).total_seconds()
            families["duration"].add_metric(key, seconds)
        families["last_failed"].add_metric(key, 1 if s.last_failed else 0)
    yield from families.values()

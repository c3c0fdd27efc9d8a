"""Metrics of the webhook ingress: deliveries received, verified, rejected and duplicate by event
type, and the per-integration log of deliveries whose signature failed or was missing (for
health)."""

from __future__ import annotations

import bisect
import collections
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import structlog
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from application.observability import UnverifiedDeliveries
from application.ports import Clock, WebhookSender, WebhookTargets
from application.webhooks import (
    ReceiveWebhookResult,
    parse_payload,
)
from domain.errors import DomainError, ErrorCode, WebhookUnsignedError
from domain.webhook_delivery import EventKind

log = structlog.get_logger(__name__)

# Label values: the service's event kinds (a fixed vocabulary), never the sender's own names,
# which an unauthenticated caller chooses.
UNKNOWN: Final = "unknown"

_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class IngressCounts(Collector):
    """The ingress's counters and its latency histogram as plain numbers, turned into metric
    families only when scraped. prometheus_client's own Counter and Histogram take a lock and
    look up the labelled series on every update, which cost ~6% of the ingest path's CPU; every
    update here happens on the event loop's thread, as does the scrape."""

    def __init__(self) -> None:
        self.received: collections.Counter[str] = collections.Counter()
        self.verified: collections.Counter[str] = collections.Counter()
        self.duplicate: collections.Counter[str] = collections.Counter()
        self.deferred: collections.Counter[str] = collections.Counter()
        self.rejected: collections.Counter[tuple[str, str]] = collections.Counter()
        self._buckets = [0] * (len(_BUCKETS) + 1)  # the last one is +Inf
        self._seconds = 0.0

    def observe(self, seconds: float) -> None:
        self._buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self._seconds += seconds

    def collect(self) -> Iterable[Metric]:
        yield _counter(
            "integrations_webhooks_received",
            "Webhook deliveries received, by event type (the service's event kind).",
            self.received,
        )
        yield _counter(
            "integrations_webhooks_verified",
            "Webhook deliveries whose signature verified (stored, duplicate, or refused as "
            "inactive).",
            self.verified,
        )
        rejected = CounterMetricFamily(
            "integrations_webhooks_rejected",
            "Webhook deliveries refused, by reason: invalid, unknown_location, signature (a "
            "signature of a scheme the integration uses did not verify), unsigned (none of its "
            "schemes' signatures was sent: anyone's request), integration_not_active, too_large.",
            labels=["event_type", "reason"],
        )
        for (kind, reason), count in sorted(self.rejected.items()):
            rejected.add_metric([kind, reason], count)
        yield rejected
        yield _counter(
            "integrations_webhooks_duplicate",
            "Webhook deliveries acknowledged without being stored again (already in the inbox).",
            self.duplicate,
        )
        yield _counter(
            "integrations_webhooks_deferred",
            "Webhook deliveries answered 429 because they could not be stored (the sender "
            "retries).",
            self.deferred,
        )
        cumulative = list(itertools.accumulate(self._buckets))
        yield HistogramMetricFamily(
            "integrations_webhook_ingest_duration_seconds",
            "Time from a delivery's request to its answer (stored and committed, or refused).",
            buckets=[
                *((str(bound), n) for bound, n in zip(_BUCKETS, cumulative[:-1], strict=True)),
                ("+Inf", cumulative[-1]),
            ],
            sum_value=self._seconds,
        )


def _counter(name: str, documentation: str, counts: collections.Counter[str]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=["event_type"])
    for kind, count in sorted(counts.items()):
        family.add_metric([kind], count)
    return family


INGRESS: Final = IngressCounts()
REGISTRY.register(INGRESS)

_REASONS: Final = {
    ErrorCode.INVALID_ARGUMENT: "invalid",
    ErrorCode.NOT_FOUND: "unknown_location",
    ErrorCode.WEBHOOK_SIGNATURE_INVALID: "signature",
    ErrorCode.INTEGRATION_NOT_ACTIVE: "integration_not_active",
}


@dataclass(slots=True)
class _Tally:
    hours: deque[tuple[int, int]] = field(default_factory=deque)  # (hour number, count)
    last_at: datetime | None = None

    def add(self, at: datetime, keep_hours: int) -> None:
        hour = _hour(at)
        if self.hours and self.hours[-1][0] == hour:
            self.hours[-1] = (hour, self.hours[-1][1] + 1)
        else:
            self.hours.append((hour, 1))
        while self.hours and self.hours[0][0] <= hour - keep_hours:
            self.hours.popleft()
        self.last_at = at if self.last_at is None else max(self.last_at, at)

    def since(self, at: datetime) -> int:
        # Hourly resolution: the hour `at` falls in counts whole.
        first = _hour(at)
        return sum(n for h, n in self.hours if h >= first)


_NONE: Final = _Tally()


class SignatureFailureLog:
    """An UnverifiedDeliveryLog in memory: per integration, hourly counts for a day and the
    newest failure, and apart from them the deliveries that came unsigned. Only integrations
    that exist are tallied (a delivery is attributed through its location), so forged traffic
    cannot grow it beyond them."""

    def __init__(self, *, keep: timedelta = timedelta(hours=25)) -> None:
        self._keep_hours = int(keep.total_seconds() // 3600) + 1
        self._failed: dict[str, _Tally] = {}
        self._unsigned: dict[str, _Tally] = {}

    def record(self, integration_id: str, at: datetime, *, unsigned: bool = False) -> None:
        """A delivery for the integration refused: its signature failed, or, `unsigned`, it
        carried none of a scheme the integration uses."""
        tallies = self._unsigned if unsigned else self._failed
        tallies.setdefault(integration_id, _Tally()).add(at, self._keep_hours)

    def tallied_since(self, since: datetime) -> dict[str, UnverifiedDeliveries]:
        """Every integration with a delivery refused since `since`, and its counts."""
        tallied = {
            integration_id: self.unverified_since(integration_id, since)
            for integration_id in self._failed.keys() | self._unsigned.keys()
        }
        return {i: counts for i, counts in tallied.items() if counts.count or counts.unsigned}

    def unverified_since(self, integration_id: str, since: datetime) -> UnverifiedDeliveries:
        failed = self._failed.get(integration_id, _NONE)
        unsigned = self._unsigned.get(integration_id, _NONE)
        return UnverifiedDeliveries(
            failed.since(since), failed.last_at, unsigned=unsigned.since(since)
        )


def _hour(at: datetime) -> int:
    return int(at.timestamp() // 3600)


@dataclass(frozen=True, slots=True)
class IngressObserver:
    """What the ingress meter needs besides the counters: where deliveries go (to attribute
    a failed signature to its integration) and the log of those failures."""

    targets: WebhookTargets
    failures: SignatureFailureLog
    clock: Clock
    senders: Mapping[str, WebhookSender]
    """The providers whose deliveries are counted, by route name: each reads what a refused
    body of its was."""


class IngressMeter:
    """Counts each delivery to the webhook routes once, for their handler. A refused
    delivery (rare, off the hot path) is classified from its body, and a bad signature is
    attributed to its integration for health."""

    def __init__(self, observer: IngressObserver, *, sender: str) -> None:
        self._observer = observer
        self._sender = observer.senders.get(sender)

    def answered(self, result: ReceiveWebhookResult, seconds: float) -> None:
        """A delivery stored, or acknowledged as a duplicate."""
        kind = result.kind.value
        INGRESS.received[kind] += 1
        INGRESS.verified[kind] += 1
        if result.duplicate:
            INGRESS.duplicate[kind] += 1
        INGRESS.observe(seconds)

    async def refused(self, request: web.Request, err: DomainError, seconds: float) -> None:
        INGRESS.observe(seconds)
        await _refused(request, err, self._observer, self._sender)

    def failed(self, err: Exception, seconds: float) -> None:
        """aiohttp's own refusal (a body too large), or anything unexpected (answered 429)."""
        INGRESS.observe(seconds)
        INGRESS.received[UNKNOWN] += 1
        if isinstance(err, web.HTTPException):
            INGRESS.rejected[UNKNOWN, "too_large" if err.status == 413 else "invalid"] += 1
        else:
            INGRESS.deferred[UNKNOWN] += 1


async def _refused(
    request: web.Request,
    err: DomainError,
    observer: IngressObserver,
    sender: WebhookSender | None,
) -> None:
    body = await request.read()  # read already: aiohttp keeps the bytes
    try:
        payload = parse_payload(body)
    except DomainError:
        payload = {}
    if sender is None:
        INGRESS.received[UNKNOWN] += 1
        INGRESS.deferred[UNKNOWN] += 1
        return
    pieces = sender.split(payload)
    piece = pieces[0] if len(pieces) == 1 else payload
    facts = sender.read(piece, route_event=request.match_info.get("eventType"))
    kind = facts.kind.value if payload or facts.kind is not EventKind.UNHANDLED else UNKNOWN
    INGRESS.received[kind] += 1
    reason = _REASONS.get(err.code)
    if reason is None:  # STORAGE_UNAVAILABLE and the like: answered 429, retried by the sender
        INGRESS.deferred[kind] += 1
        return
    unsigned = isinstance(err, WebhookUnsignedError)
    INGRESS.rejected[kind, "unsigned" if unsigned else reason] += 1
    if err.code is ErrorCode.INTEGRATION_NOT_ACTIVE:
        INGRESS.verified[kind] += 1
    elif err.code is ErrorCode.WEBHOOK_SIGNATURE_INVALID:
        try:
            owners = (
                () if facts.account is None else await observer.targets.find_owners(facts.account)
            )
        except Exception as lookup_error:  # the count above stands; the attribution is lost
            log.warning("webhook_refusal_unattributed", error_type=type(lookup_error).__name__)
            return
        for target in owners:
            observer.failures.record(target.integration_id, observer.clock.now(), unsigned=unsigned)


MAX_UNVERIFIED_SERIES: Final = 100
"""The most integrations given series of unverified deliveries, the most refused first."""


class UnverifiedCollector(Collector):
    """Per integration, this copy's deliveries refused for their signature since `since`
    (hourly resolution: the clock hour `since` falls in counts whole), for at most `limit`
    integrations, those with the most refusals first. Only existing integrations are tallied
    (SignatureFailureLog), so forged traffic adds no series."""

    def __init__(
        self, failures: SignatureFailureLog, since: datetime, *, limit: int = MAX_UNVERIFIED_SERIES
    ) -> None:
        self._tallied = failures.tallied_since(since)
        self._limit = limit

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "integrations_webhooks_unverified_last_hour",
            "Deliveries refused for their signature in the last hour (from the start of the "
            "previous clock hour), by integration and reason: signature (a signature of a scheme "
            "the integration uses did not verify) or unsigned (none was sent).",
            labels=["integration_id", "reason"],
        )
        ranked = sorted(
            self._tallied.items(), key=lambda item: (-item[1].count - item[1].unsigned, item[0])
        )
        for integration_id, counts in ranked[: self._limit]:
            family.add_metric([integration_id, "signature"], counts.count)
            family.add_metric([integration_id, "unsigned"], counts.unsigned)
        yield family
        yield GaugeMetricFamily(
            "integrations_webhooks_unverified_integrations_omitted",
            f"Integrations with refused deliveries left out by the cap of {self._limit}.",
            value=max(0, len(ranked) - self._limit),
        )

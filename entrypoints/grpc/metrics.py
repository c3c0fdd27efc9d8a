"""Prometheus metrics of the gRPC API, named and labelled as the Prometheus gRPC middlewares
(go-grpc-prometheus, py-grpc-prometheus) name theirs: `grpc_server_started_total`,
`grpc_server_handled_total`, `grpc_server_msg_received_total`, `grpc_server_msg_sent_total`,
`grpc_server_handling_seconds`, and `grpc_server_in_flight` beside them. Series exist per method
the server serves (a fixed set: a caller's unknown method is not counted) and status code."""

from __future__ import annotations

import bisect
import collections
import itertools
from collections.abc import Iterable
from typing import Final

import grpc
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

UNARY: Final = "unary"
SERVER_STREAM: Final = "server_stream"

# Prometheus' default buckets, which the middlewares use.
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LABELS: Final = ["grpc_type", "grpc_service", "grpc_method"]


class MethodCounts:
    """One method's numbers, updated on the event loop's thread as each call starts and ends
    (as the webhook ingress's: prometheus_client's labelled metrics cost a lock and a lookup
    per update)."""

    __slots__ = ("_buckets", "handled", "in_flight", "labels", "received", "seconds", "sent",
                 "started")  # fmt: skip

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.started = 0
        self.received = 0
        self.sent = 0
        self.in_flight = 0
        self.handled: collections.Counter[str] = collections.Counter()
        self._buckets = [0] * (len(_BUCKETS) + 1)  # the last one is +Inf
        self.seconds = 0.0

    def start(self) -> None:
        """A call began: its request (the one message of a unary or server-streaming call) is
        received."""
        self.started += 1
        self.received += 1
        self.in_flight += 1

    def finish(self, code: grpc.StatusCode, seconds: float, *, sent: int) -> None:
        """A call ended with `code` after `seconds`, having sent `sent` messages."""
        self.in_flight -= 1
        self.handled[code.name] += 1
        self.sent += sent
        self._buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.seconds += seconds

    def cumulative_buckets(self) -> list[tuple[str, float]]:
        cumulative = list(itertools.accumulate(self._buckets))
        return [
            *((str(bound), n) for bound, n in zip(_BUCKETS, cumulative[:-1], strict=True)),
            ("+Inf", cumulative[-1]),
        ]


class GrpcServerCounts(Collector):
    """Every served method's MethodCounts, turned into metric families when scraped."""

    def __init__(self) -> None:
        self._methods: dict[str, MethodCounts] = {}

    def method(self, full_method: str, grpc_type: str) -> MethodCounts:
        """The counts of `/package.Service/Method`, shared by every server of the process."""
        counts = self._methods.get(full_method)
        if counts is None:
            service, _, name = full_method.lstrip("/").rpartition("/")
            counts = self._methods[full_method] = MethodCounts((grpc_type, service, name))
        return counts

    def collect(self) -> Iterable[Metric]:
        started = CounterMetricFamily(
            "grpc_server_started",
            "RPCs started on the server.",
            labels=_LABELS,
        )
        handled = CounterMetricFamily(
            "grpc_server_handled",
            "RPCs completed on the server, by status code (its name, e.g. OK, NOT_FOUND).",
            labels=[*_LABELS, "grpc_code"],
        )
        received = CounterMetricFamily(
            "grpc_server_msg_received",
            "Request messages received on the server.",
            labels=_LABELS,
        )
        sent = CounterMetricFamily(
            "grpc_server_msg_sent",
            "Response messages sent by the server.",
            labels=_LABELS,
        )
        in_flight = GaugeMetricFamily(
            "grpc_server_in_flight",
            "RPCs started and not yet completed (open streams included).",
            labels=_LABELS,
        )
        seconds = HistogramMetricFamily(
            "grpc_server_handling_seconds",
            "Time from an RPC's start to its completion (a stream's whole life).",
            labels=_LABELS,
        )
        for counts in list(self._methods.values()):
            labels = list(counts.labels)
            started.add_metric(labels, counts.started)
            received.add_metric(labels, counts.received)
            sent.add_metric(labels, counts.sent)
            in_flight.add_metric(labels, counts.in_flight)
            for code, count in sorted(counts.handled.items()):
                handled.add_metric([*labels, code], count)
            seconds.add_metric(labels, counts.cumulative_buckets(), counts.seconds)
        yield from (started, handled, received, sent, in_flight, seconds)


GRPC_SERVER: Final = GrpcServerCounts()
REGISTRY.register(GRPC_SERVER)

"""Prometheus metrics of one provider's calls, one set of families per provider
(`integrations_{provider}_requests`, ...). Labels name endpoints by their path template
(`/contacts/{id}`), never an id, an account or anything a tenant sent."""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from prometheus_client import Counter, Histogram

_PROVIDER_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")


class RetryReason(StrEnum):
    """Why a request was sent again: the `reason` label of `integrations_{provider}_retries`."""

    THROTTLED = "throttled"  # the provider refused it for its rate
    SERVER_ERROR = "server_error"  # a transient error answer (a gateway error)
    TRANSPORT = "transport"  # no answer arrived
    REAUTHORISED = "reauthorised"  # a 401, answered by refreshing the credentials


@dataclass(frozen=True, slots=True)
class ProviderMetrics:
    requests: Counter
    request_seconds: Histogram
    throttled: Counter
    retries: Counter

    def answered(self, method: str, endpoint: str, status: str, *, sent: float) -> None:
        """One attempt is over: `status` is the HTTP status, or 'error' when no answer came;
        `sent` is the `time.perf_counter()` of its sending."""
        self.requests.labels(method, endpoint, status).inc()
        self.request_seconds.labels(method, endpoint).observe(time.perf_counter() - sent)

    def retried(self, endpoint: str, reason: RetryReason) -> None:
        self.retries.labels(endpoint, reason.value).inc()


_BY_PROVIDER: dict[str, ProviderMetrics] = {}


def provider_metrics(name: str, display_name: str) -> ProviderMetrics:
    """The metric families of provider `name`, registered on first use and shared by every
    client of that provider in the process."""
    if not _PROVIDER_NAME.fullmatch(name):
        raise ValueError(f"a provider's metric name must match {_PROVIDER_NAME.pattern}")
    metrics = _BY_PROVIDER.get(name)
    if metrics is None:
        prefix = f"integrations_{name}"
        metrics = _BY_PROVIDER[name] = ProviderMetrics(
            requests=Counter(
                f"{prefix}_requests",
                f"Requests sent to {display_name}, by endpoint and HTTP status "
                "('error': no answer arrived).",
                ["method", "endpoint", "status"],
            ),
            request_seconds=Histogram(
                f"{prefix}_request_duration_seconds",
                f"Time from sending a request to {display_name} to its answer (or the "
                "transport failure).",
                ["method", "endpoint"],
                buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            ),
            throttled=Counter(
                f"{prefix}_throttled",
                f"Answers from {display_name} refusing a request for its rate limit.",
                ["endpoint"],
            ),
            retries=Counter(
                f"{prefix}_retries",
                f"Requests to {display_name} sent again: after a throttle, a transient error, "
                "a transport failure, or a 401 answered by refreshing the credentials.",
                ["endpoint", "reason"],
            ),
        )
    return metrics


def endpoint_template(path: str, route_segments: Collection[str]) -> str:
    """The path template of a request path: every segment not among the provider's
    `route_segments` is an id (`/contacts/abc` -> `/contacts/{id}`); the query is dropped."""
    return "/".join(
        s if s in route_segments or not s else "{id}" for s in path.split("?", 1)[0].split("/")
    )

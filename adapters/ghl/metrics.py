"""Prometheus metrics of the calls to GoHighLevel. Labels name endpoints by their path template
(`/contacts/{id}`), never an id, a location or anything a tenant sent."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

# Path segments that are part of GHL's routes; any other segment is an id.
_ROUTE_SEGMENTS: Final = frozenset(
    {
        "appointments",
        "block-slots",
        "blocked-slots",
        "calendars",
        "contacts",
        "conversations",
        "events",
        "free-slots",
        "locations",
        "messages",
        "oauth",
        "opportunities",
        "pipelines",
        "search",
        "status",
        "token",
        "upsert",
    }
)

REQUESTS: Final = Counter(
    "integrations_ghl_requests",
    "Requests sent to GoHighLevel, by endpoint and HTTP status ('error': no answer arrived).",
    ["method", "endpoint", "status"],
)
REQUEST_SECONDS: Final = Histogram(
    "integrations_ghl_request_duration_seconds",
    "Time from sending a request to GoHighLevel to its answer (or the transport failure).",
    ["method", "endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
THROTTLED: Final = Counter(
    "integrations_ghl_throttled",
    "429 (too many requests) answers from GoHighLevel.",
    ["endpoint"],
)
RETRIES: Final = Counter(
    "integrations_ghl_retries",
    "Requests to GoHighLevel sent again: after a 429, a 5xx, a transport failure, or a 401 "
    "answered by refreshing the OAuth token.",
    ["endpoint", "reason"],
)
TOKEN_REFRESHES: Final = Counter(
    "integrations_ghl_token_refreshes",
    "OAuth token refreshes at GoHighLevel, by outcome (ok, refused, failed).",
    ["outcome"],
)


def endpoint_of(path: str) -> str:
    """The path template of a request path: `/contacts/abc` -> `/contacts/{id}`."""
    return "/".join(
        s if s in _ROUTE_SEGMENTS or not s else "{id}" for s in path.split("?", 1)[0].split("/")
    )


def retry_reason(reason: str) -> str:
    """A bounded label for why a request was sent again (the client's own wording in)."""
    if reason == "HTTP 429":
        return "throttled"
    if reason.startswith("HTTP "):
        return "server_error"
    return "transport"

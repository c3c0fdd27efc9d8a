"""GoHighLevel's own metrics and metric labels: its OAuth refreshes, and its endpoints by path
template (`/contacts/{id}`), never an id, a location or anything a tenant sent. The calls
themselves are counted by the shared machinery (adapters.http.metrics) as `integrations_ghl_*`."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

from adapters.http.metrics import endpoint_template

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

TOKEN_REFRESHES: Final = Counter(
    "integrations_ghl_token_refreshes",
    "OAuth token refreshes at GoHighLevel, by outcome (ok, refused, failed).",
    ["outcome"],
)


def endpoint_of(path: str) -> str:
    """The path template of a request path: `/contacts/abc` -> `/contacts/{id}`."""
    return endpoint_template(path, _ROUTE_SEGMENTS)

"""GA4's own metrics: funnel events sent, and those refused before sending, by why. The requests
themselves are counted by the shared machinery (adapters.http.metrics) as `integrations_ga4_*`."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from prometheus_client import Counter


class DropReason(StrEnum):
    """The `reason` label of `integrations_ga4_events_dropped`."""

    STALE = "stale"  # older than GA4's 72 hours
    INVALID = "invalid"  # breaks a Measurement Protocol rule (checked here)
    REFUSED = "refused"  # GA4's validation server had messages for it (the `validate` switch)


EVENTS_SENT: Final = Counter(
    "integrations_ga4_events_sent",
    "Funnel events sent to GA4 (to its validation server with the `validate` switch).",
)
EVENTS_DROPPED: Final = Counter(
    "integrations_ga4_events_dropped",
    "Funnel events not sent to GA4, by reason (stale, invalid, refused).",
    ["reason"],
)

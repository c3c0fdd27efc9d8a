"""Prometheus metrics of the inbox worker (default registry), labelled by event kind only."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

PROCESSED: Final = Counter(
    "integrations_inbox_deliveries_processed",
    "Webhook deliveries the worker attempted, by event type (the service's event kind) and "
    "outcome: applied, ignored, failed (retried later), dead_lettered, claim_lost.",
    ["event_type", "outcome"],
)
DEAD_LETTERS: Final = Counter(
    "integrations_inbox_dead_letters",
    "Webhook deliveries given up on after their last attempt.",
    ["event_type"],
)
HANDLER_SECONDS: Final = Histogram(
    "integrations_inbox_processing_duration_seconds",
    "Time one attempt took: the handler and its transaction.",
    ["event_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LATENCY_SECONDS: Final = Histogram(
    "integrations_inbox_delivery_latency_seconds",
    "Time from a delivery's arrival to its being applied or ignored, retries included.",
    ["event_type"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0),
)
FUNNEL_EVENTS: Final = Counter(
    "integrations_funnel_events",
    "Funnel events handed to integrations' funnel sinks, by template and outcome: sent, "
    "dropped (stale or invalid, never sent), skipped (not for that integration), failed "
    "(retried later).",
    ["template", "outcome"],
)

"""Metric labels stay a fixed vocabulary, and the per-integration log of signature failures
counts what health asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.ghl.metrics import endpoint_of
from entrypoints.webhooks.metrics import SignatureFailureLog, UnverifiedCollector


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/locations/fakeLocation00000001", "/locations/{id}"),
        ("/contacts/", "/contacts/"),
        ("/contacts/ctc-123", "/contacts/{id}"),
        ("/contacts/upsert", "/contacts/upsert"),
        ("/contacts/search", "/contacts/search"),
        ("/calendars/cal-1/free-slots", "/calendars/{id}/free-slots"),
        ("/calendars/events/appointments/apt%2F9", "/calendars/events/appointments/{id}"),
        ("/calendars/events/block-slots", "/calendars/events/block-slots"),
        ("/opportunities/opp-1/status", "/opportunities/{id}/status"),
        ("/conversations/messages", "/conversations/messages"),
        ("/contacts/jane@example.com?x=1", "/contacts/{id}"),
    ],
)
def test_a_request_path_is_labelled_by_its_template_never_by_an_id(
    path: str, template: str
) -> None:
    assert endpoint_of(path) == template


def test_signature_failures_are_counted_per_integration_over_the_window() -> None:
    log = SignatureFailureLog()
    start = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    for hours in (0, 1, 1, 20, 30):
        log.record("int-1", start + timedelta(hours=hours))
    log.record("int-2", start)
    now = start + timedelta(hours=30)

    seen = log.unverified_since("int-1", now - timedelta(hours=24))

    assert seen.count == 2  # hours 20 and 30; the older ones fell out of the day
    assert seen.last_at == now
    assert log.unverified_since("int-2", now - timedelta(hours=24)).count == 0
    assert log.unverified_since("int-2", start).last_at == start
    assert log.unverified_since("int-3", start).count == 0


def test_unverified_deliveries_get_series_for_the_most_refused_integrations_only() -> None:
    log = SignatureFailureLog()
    at = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    for _ in range(3):
        log.record("int-quiet", at)
        log.record("int-loud", at)
        log.record("int-loud", at, unsigned=True)
    log.record("int-stale", at - timedelta(hours=5))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(UnverifiedCollector(log, at - timedelta(hours=1), limit=1))

    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }

    assert samples == {
        (
            "integrations_webhooks_unverified_last_hour",
            frozenset({("integration_id", "int-loud"), ("reason", "signature")}),
        ): 3,
        (
            "integrations_webhooks_unverified_last_hour",
            frozenset({("integration_id", "int-loud"), ("reason", "unsigned")}),
        ): 3,
        ("integrations_webhooks_unverified_integrations_omitted", frozenset()): 1,
    }

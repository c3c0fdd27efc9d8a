"""The alert rules operators load (deploy/prometheus/alerts.yml) name only metrics the service
exposes: promtool checks their syntax and behaviour (`make alert-rules`), not the names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import entrypoints.worker.metrics  # noqa: F401 - registers the worker's metrics
from adapters.http.metrics import provider_metrics
from application.observability import InboxStats, IntegrationSyncStats
from entrypoints.grpc.metrics import GRPC_SERVER, UNARY
from entrypoints.webhooks.metrics import SignatureFailureLog, UnverifiedCollector
from entrypoints.webhooks.ops import InboxCollector, SyncCollector

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts.yml"
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
_NAME = re.compile(r"\b(?:integrations|grpc)_[a-z0-9_]+\b")
# Label matchers and grouping clauses name labels (grpc_method), not metrics.
_LABELS = re.compile(r"\{[^}]*\}|\b(?:by|without|on|ignoring)\s*\([^)]*\)")
_NAME_PATTERN = re.compile(r'__name__=~"([^"]+)"')


def _exposed() -> set[str]:
    """Every sample name the service's /metrics can carry, each collector given data."""
    provider_metrics("ghl", "GoHighLevel")
    GRPC_SERVER.method("/integrations.v1.IntegrationService/GetIntegration", UNARY)
    failures = SignatureFailureLog()
    failures.record("int-1", NOW)
    started = NOW - timedelta(minutes=1)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(
        InboxCollector(
            InboxStats(pending=1, failed=1, processing=1, dead=1, due=1, oldest_due_at=started), NOW
        )
    )
    scrape.register(
        SyncCollector(
            [
                IntegrationSyncStats(
                    integration_id="int-1",
                    runs=2,
                    failed_runs=1,
                    pulled=10,
                    missed_by_webhooks=1,
                    last_started_at=started,
                    last_finished_at=NOW,
                    last_failed=True,
                )
            ]
        )
    )
    scrape.register(UnverifiedCollector(failures, NOW - timedelta(hours=1)))
    text = (generate_latest(REGISTRY) + generate_latest(scrape)).decode()
    # By family, with the suffixes of its type: a labelled family may have no sample yet.
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in _SUFFIXES.get(family.type, ("",))
    }


def _expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_every_metric_the_alert_rules_name_is_exposed_by_the_service() -> None:
    exposed = _exposed()
    expressions = _expressions()

    named = {name for expr in expressions for name in _NAME.findall(_LABELS.sub(" ", expr))}
    assert named, "the pattern finds the rules' metric names"
    assert named - exposed == set()
    for expr in expressions:
        for pattern in _NAME_PATTERN.findall(expr):
            assert any(re.fullmatch(pattern, name) for name in exposed), pattern


def test_the_rules_cover_what_the_health_checks_know() -> None:
    text = " ".join(_expressions())

    for metric in (
        "integrations_inbox_dead_letters_total",
        "integrations_inbox_oldest_due_age_seconds",
        "_throttled_total",
        "integrations_sync_integrations",
        "integrations_webhooks_unverified_last_hour",
        "grpc_server_handled_total",
    ):
        assert metric in text, metric

"""The sync gauges stay bounded however many tenants sync: series of their own for at most a
capped number of integrations, the most telling first, and totals over all of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from application.observability import IntegrationSyncStats
from entrypoints.webhooks.ops import SyncCollector

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def _stats(
    integration_id: str, *, failed_runs: int = 0, last_failed: bool = False, running: bool = False
) -> IntegrationSyncStats:
    started = NOW - timedelta(minutes=5)
    return IntegrationSyncStats(
        integration_id=integration_id,
        runs=4,
        failed_runs=failed_runs,
        pulled=10,
        missed_by_webhooks=1,
        last_started_at=started,
        last_finished_at=None if running else started + timedelta(seconds=3),
        last_failed=last_failed,
    )


def _scrape(collector: SyncCollector) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_only_the_capped_number_of_integrations_get_series_the_failing_ones_first() -> None:
    stats = [_stats(f"ok-{n}") for n in range(50)] + [
        _stats("flaky", failed_runs=2),
        _stats("broken", failed_runs=1, last_failed=True),
        _stats("starting", running=True),
    ]

    samples = _scrape(SyncCollector(stats, limit=2))

    assert _ids(samples, "integrations_sync_runs_last_day") == {"broken", "flaky"}
    assert _ids(samples, "integrations_sync_last_run_failed") == {"broken", "flaky"}
    assert samples[("integrations_sync_integrations_omitted", frozenset())] == 51
    # The totals cover every integration, shown or not.
    assert samples[("integrations_sync_all_runs_last_day", frozenset())] == 53 * 4
    assert samples[("integrations_sync_all_failed_runs_last_day", frozenset())] == 3
    assert samples[("integrations_sync_all_pulled_last_day", frozenset())] == 530
    assert samples[("integrations_sync_all_missed_by_webhooks_last_day", frozenset())] == 53
    outcomes = {
        dict(labels)["last_run"]: value
        for (name, labels), value in samples.items()
        if name == "integrations_sync_integrations"
    }
    assert outcomes == {"succeeded": 51, "failed": 1, "running": 1}


def test_under_the_cap_every_integration_has_its_series_and_none_is_omitted() -> None:
    samples = _scrape(SyncCollector([_stats("a"), _stats("b")]))

    assert samples[("integrations_sync_integrations_omitted", frozenset())] == 0
    assert _ids(samples, "integrations_sync_last_run_failed") == {"a", "b"}


def _ids(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> set[str]:
    return {dict(labels)["integration_id"] for sample, labels in samples if sample == name}

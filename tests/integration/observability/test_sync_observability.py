"""What health and metrics read of the sync runs (rows as the sync writes them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from adapters.ids import Uuid7Generator
from adapters.persistence.models import SYNC_RUNS
from entrypoints.commands import resolve
from integrations.v1 import integration_health_pb2, integration_service_pb2
from tests.integration.observability.conftest import TENANT, Service, user_md

Health = integration_health_pb2.IntegrationHealth
IDS = Uuid7Generator()


async def add_run(
    service: Service,
    integration_id: str,
    *,
    started_minutes_ago: float,
    seconds: float | None = 30.0,
    pulled: int = 0,
    missed: int = 0,
    error: str | None = None,
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=started_minutes_ago)
    engine = await resolve(service.container.engine)
    async with engine.begin() as connection:
        await connection.execute(
            insert(SYNC_RUNS).values(
                id=IDS.new_id(),
                integration_id=integration_id,
                sub_account_id=TENANT,
                trigger="schedule",
                status="running" if seconds is None else "failed" if error else "succeeded",
                started_at=started,
                finished_at=None if seconds is None else started + timedelta(seconds=seconds),
                attempts=1,
                pulled=pulled,
                pushed=0,
                conflicts=0,
                failures=0,
                missed_by_webhooks=missed,
                error_code="CONNECTION_FAILED" if error else None,
                error_message=error,
            )
        )


async def test_the_sync_check_reports_the_last_run_and_the_webhook_miss_rate(
    service: Service,
) -> None:
    integration = await service.create_ghl_integration()
    integration_id = integration.name.removeprefix("integrations/")
    await add_run(service, integration_id, started_minutes_ago=60 * 30, pulled=1000, missed=900)
    await add_run(service, integration_id, started_minutes_ago=40, pulled=300, missed=60)
    await add_run(
        service, integration_id, started_minutes_ago=10, error="GoHighLevel answered HTTP 503"
    )

    response = await service.integrations.GetIntegrationHealth(
        integration_service_pb2.GetIntegrationHealthRequest(name=integration.name),
        metadata=user_md(),
    )

    sync = response.integration_health.sync
    assert sync.state == Health.STATE_FAILING
    assert sync.reason == "the last sync failed: GoHighLevel answered HTTP 503"
    assert sync.last_run_error == "GoHighLevel answered HTTP 503"
    assert sync.HasField("last_run_end_time")
    # Only the runs of the last day count: the one 30 hours ago is left out.
    assert (sync.pulled_count, sync.missed_by_webhooks_count) == (300, 60)
    assert sync.webhook_miss_rate == 0.2
    assert response.integration_health.state == Health.STATE_FAILING


async def test_metrics_carry_each_integrations_sync_runs_and_miss_ratio(service: Service) -> None:
    synced = (await service.create_ghl_integration()).name.removeprefix("integrations/")
    never = (await service.create_ghl_integration()).name.removeprefix("integrations/")
    await add_run(service, synced, started_minutes_ago=50, seconds=12.5, pulled=40, missed=10)
    await add_run(service, synced, started_minutes_ago=20, seconds=None)  # still running

    scrape = await service.scrape()

    assert scrape.value("integrations_sync_stats_up") == 1
    assert scrape.value("integrations_sync_runs_last_day", integration_id=synced) == 2
    assert scrape.value("integrations_sync_failed_runs_last_day", integration_id=synced) == 0
    assert scrape.value("integrations_sync_pulled_last_day", integration_id=synced) == 40
    assert (
        scrape.value("integrations_sync_missed_by_webhooks_last_day", integration_id=synced) == 10
    )
    assert scrape.value("integrations_sync_webhook_miss_ratio", integration_id=synced) == 0.25
    assert scrape.value("integrations_sync_last_run_failed", integration_id=synced) == 0
    # The newest run is still going: it has a start, and no duration yet.
    assert scrape.value("integrations_sync_last_run_start_time_seconds", integration_id=synced) > 0
    assert (
        "integrations_sync_last_run_duration_seconds",
        frozenset({("integration_id", synced)}),
    ) not in scrape.samples
    assert never not in scrape.label_values()

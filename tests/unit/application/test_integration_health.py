"""GetIntegrationHealth on in-memory fakes: each check's rules, access, and no side effects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from adapters.ghl.auth import rate_limit_key
from application.connection import ConnectionTester
from application.observability import (
    BucketState,
    HealthState,
    ProviderLimitReport,
    RateLimitState,
    StoredWebhookActivity,
    SyncActivity,
    SyncRunSummary,
    UnverifiedDeliveries,
)
from application.ports import ConnectionTestResult, ProviderContext
from application.use_cases.create_integration import CreateIntegrationCommand
from application.use_cases.get_integration_health import (
    GetIntegrationHealth,
    GetIntegrationHealthQuery,
    HealthPolicy,
)
from application.use_cases.switch_integration import SwitchIntegrationCommand
from domain.errors import ErrorCode, NotFoundError
from domain.integration import IntegrationStatus
from tests.fakes import FakeProviderRegistry
from tests.unit.application.conftest import ADMIN, OTHER_USER, USER, App

CONFIG = {"apiKey": "pit-7f3e2a1b-0000-4c1d-9a2b-5e6f7a8b1a2b", "locationId": "loc-1"}


@dataclass
class FakeWebhookActivity:
    activity: StoredWebhookActivity = field(
        default_factory=lambda: StoredWebhookActivity(
            last_stored_at=None, rejected=0, dead_lettered=0, backlog=0, oldest_due_at=None
        )
    )
    asked: list[tuple[str, datetime]] = field(default_factory=list)

    async def webhook_activity(
        self, integration_id: str, *, since: datetime, now: datetime
    ) -> StoredWebhookActivity:
        self.asked.append((integration_id, since))
        return self.activity


@dataclass
class FakeUnverified:
    seen: UnverifiedDeliveries = field(default_factory=lambda: UnverifiedDeliveries(0, None))

    def unverified_since(self, integration_id: str, since: datetime) -> UnverifiedDeliveries:
        return self.seen


@dataclass
class FakeRateLimits:
    state: RateLimitState = field(default_factory=lambda: RateLimitState(None, None))

    async def rate_limit_state(self, key: str) -> RateLimitState:
        return self.state


@dataclass
class FakeSyncHistory:
    activity: SyncActivity = field(
        default_factory=lambda: SyncActivity(last_run=None, pulled=0, missed_by_webhooks=0)
    )

    async def sync_activity(self, integration_id: str, *, since: datetime) -> SyncActivity:
        return self.activity


class SlowProvider:
    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        await asyncio.sleep(5)
        raise AssertionError("the health check should have given up")


@dataclass
class Health:
    app: App
    use_case: GetIntegrationHealth
    webhooks: FakeWebhookActivity
    unverified: FakeUnverified
    rate_limits: FakeRateLimits
    sync: FakeSyncHistory
    integration_id: str


def build(app: App, tester: ConnectionTester, integration_id: str, **policy: float) -> Health:
    webhooks, unverified = FakeWebhookActivity(), FakeUnverified()
    rate_limits, sync = FakeRateLimits(), FakeSyncHistory()
    use_case = GetIntegrationHealth(
        uow=app.uow,
        tester=tester,
        webhooks=webhooks,
        unverified=unverified,
        rate_limits=rate_limits,
        rate_limit_key=rate_limit_key,
        sync=sync,
        clock=app.clock,
        policy=HealthPolicy(**policy),  # type: ignore[arg-type]  # numbers of the policy
    )
    return Health(app, use_case, webhooks, unverified, rate_limits, sync, integration_id)


@pytest.fixture
async def health(app: App) -> Health:
    created = await app.create.execute(
        CreateIntegrationCommand(
            actor=ADMIN, sub_account_id="sa-1", template="gohighlevel", name="CRM", config=CONFIG
        )
    )
    tester = ConnectionTester(
        uow_factory=app.uow,
        providers=FakeProviderRegistry({"gohighlevel": app.provider}),
        cipher=app.cipher,
        clock=app.clock,
    )
    return build(app, tester, created.integration.id)


def minutes_ago(health: Health, minutes: float) -> datetime:
    return health.app.clock.now() - timedelta(minutes=minutes)


async def test_a_working_integration_is_ok_in_every_check(health: Health) -> None:
    health.app.provider.result = ConnectionTestResult(
        success=True, message="Connected to GoHighLevel location 'Acme'", latency_ms=85.0
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=USER, integration_id=health.integration_id)
    )

    assert result.state is HealthState.OK
    assert result.integration.status is IntegrationStatus.ACTIVE
    assert result.connection.state is HealthState.OK
    assert result.connection.latency_ms == 85.0
    assert result.connection.reason == "Connected to GoHighLevel location 'Acme' in 85 ms"
    assert (result.webhooks.state, result.webhooks.reason) == (
        HealthState.OK,
        "no webhook received yet",
    )
    assert result.rate_limits.state is HealthState.OK
    assert (result.sync.state, result.sync.reason) == (HealthState.OK, "never synced")
    # Counts cover the policy's window (a day) back from now.
    assert health.webhooks.asked == [(health.integration_id, minutes_ago(health, 24 * 60))]


async def test_refused_credentials_fail_the_connection_check_but_leave_the_state_alone(
    health: Health,
) -> None:
    health.app.provider.result = ConnectionTestResult(
        success=False,
        message="GoHighLevel refused the credentials for this location",
        error_code=ErrorCode.INVALID_CREDENTIALS,
        latency_ms=40.0,
    )
    events_before = len(health.app.uow.outbox)

    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )

    assert result.state is HealthState.FAILING
    assert result.connection.state is HealthState.FAILING
    assert result.connection.error_code == "INVALID_CREDENTIALS"
    assert result.connection.reason == "GoHighLevel refused the credentials for this location"
    stored = health.app.uow.store.integrations[health.integration_id]
    assert stored.status is IntegrationStatus.ACTIVE
    assert len(health.app.uow.outbox) == events_before


async def test_a_throttled_connection_test_only_degrades_the_connection_check(
    health: Health,
) -> None:
    health.app.provider.result = ConnectionTestResult(
        success=False,
        message="GoHighLevel's rate limit was reached",
        error_code=ErrorCode.RATE_LIMIT_EXCEEDED,
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert result.connection.state is HealthState.DEGRADED
    assert result.state is HealthState.DEGRADED


async def test_a_slow_answer_degrades_the_connection_check(health: Health) -> None:
    health.app.provider.result = ConnectionTestResult(
        success=True, message="Connected", latency_ms=3500.0
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert result.connection.state is HealthState.DEGRADED
    assert result.connection.reason == "Connected, slowly: 3500 ms"


async def test_a_provider_that_does_not_answer_in_time_fails_the_connection_check(
    app: App, health: Health
) -> None:
    tester = ConnectionTester(
        uow_factory=app.uow,
        providers=FakeProviderRegistry({"gohighlevel": SlowProvider()}),
        cipher=app.cipher,
        clock=app.clock,
    )
    slow = build(app, tester, health.integration_id, connection_timeout_seconds=0.05)

    result = await slow.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )

    assert result.connection.state is HealthState.FAILING
    assert result.connection.reason == "the provider did not answer within 0.05 s"
    assert result.connection.error_code == "CONNECTION_FAILED"


async def test_a_switched_off_integration_is_not_called_and_fails_its_connection_check(
    app: App, health: Health
) -> None:
    await app.deactivate.execute(
        SwitchIntegrationCommand(actor=ADMIN, integration_id=health.integration_id)
    )
    calls_before = len(app.provider.calls)

    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )

    assert len(app.provider.calls) == calls_before
    assert result.connection.state is HealthState.FAILING
    assert result.connection.reason == "switched off by an admin: not tested"
    assert result.integration.is_active is False


async def test_another_sub_accounts_integration_is_not_found(health: Health) -> None:
    with pytest.raises(NotFoundError):
        await health.use_case.execute(
            GetIntegrationHealthQuery(actor=OTHER_USER, integration_id=health.integration_id)
        )


async def test_an_integration_in_error_is_failing_whatever_its_checks_say(
    app: App, health: Health
) -> None:
    stored = app.uow.store.integrations[health.integration_id]
    stored.fail(code=ErrorCode.INVALID_CREDENTIALS, message="revoked", now=app.clock.now())

    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )

    assert result.connection.state is HealthState.OK
    assert result.state is HealthState.FAILING
    assert result.integration.error_code == "INVALID_CREDENTIALS"


async def test_deliveries_failing_their_signature_since_the_last_verified_one_fail_webhooks(
    health: Health,
) -> None:
    health.webhooks.activity = StoredWebhookActivity(
        last_stored_at=minutes_ago(health, 90),
        rejected=0,
        dead_lettered=0,
        backlog=0,
        oldest_due_at=None,
    )
    health.unverified.seen = UnverifiedDeliveries(4, minutes_ago(health, 2))

    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )

    webhooks = result.webhooks
    assert webhooks.state is HealthState.FAILING
    assert "fail signature verification" in webhooks.reason
    assert webhooks.last_received_at == minutes_ago(health, 2)
    assert webhooks.last_verified_at == minutes_ago(health, 90)
    assert webhooks.rejected == 4


async def test_older_signature_failures_and_dead_letters_only_degrade_webhooks(
    health: Health,
) -> None:
    health.webhooks.activity = StoredWebhookActivity(
        last_stored_at=minutes_ago(health, 1),
        rejected=2,
        dead_lettered=3,
        backlog=1,
        oldest_due_at=minutes_ago(health, 0.5),
    )
    health.unverified.seen = UnverifiedDeliveries(1, minutes_ago(health, 30))

    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )

    webhooks = result.webhooks
    assert webhooks.state is HealthState.DEGRADED
    assert webhooks.reason.split("; ") == [
        "1 deliveries failed signature verification in the last 1 d",
        "3 deliveries were dead-lettered in the last 1 d: replay them once the cause is fixed",
        "2 deliveries were refused while the integration was switched off: replay them if "
        "their events still matter",
    ]
    assert (webhooks.rejected, webhooks.dead_lettered, webhooks.backlog) == (3, 3, 1)
    assert webhooks.oldest_due_age == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("due_minutes", "state"),
    [(2, HealthState.OK), (10, HealthState.DEGRADED), (90, HealthState.FAILING)],
)
async def test_a_backlog_degrades_then_fails_webhooks_as_its_oldest_delivery_waits(
    health: Health, due_minutes: float, state: HealthState
) -> None:
    health.webhooks.activity = StoredWebhookActivity(
        last_stored_at=minutes_ago(health, due_minutes),
        rejected=0,
        dead_lettered=0,
        backlog=7,
        oldest_due_at=minutes_ago(health, due_minutes),
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert result.webhooks.state is state
    assert result.webhooks.backlog == 7


async def test_an_exhausted_daily_quota_fails_the_rate_limit_check(health: Health) -> None:
    health.rate_limits.state = RateLimitState(
        ProviderLimitReport(
            reported_at=minutes_ago(health, 1),
            burst_limit=100,
            burst_remaining=40,
            daily_limit=200_000,
            daily_remaining=0,
        ),
        BucketState(
            limit_per_minute=100, tokens=60.0, paused_for_seconds=45.0, in_flight=0, shared=False
        ),
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert result.rate_limits.state is HealthState.FAILING
    assert result.rate_limits.reason == "the provider's daily quota is used up"
    assert result.state is HealthState.FAILING


async def test_a_recent_429_and_a_paused_bucket_degrade_the_rate_limit_check(
    health: Health,
) -> None:
    health.rate_limits.state = RateLimitState(
        ProviderLimitReport(
            reported_at=minutes_ago(health, 1),
            burst_limit=100,
            burst_remaining=0,
            daily_limit=200_000,
            daily_remaining=150_000,
            last_throttled_at=minutes_ago(health, 1),
        ),
        BucketState(
            limit_per_minute=100, tokens=0.0, paused_for_seconds=8.0, in_flight=2, shared=True
        ),
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert result.rate_limits.state is HealthState.DEGRADED
    assert result.rate_limits.reason == (
        "calls are held back for 8 s more; the provider answered 429 (too many requests) 1 min ago"
    )
    assert result.rate_limits.bucket is not None
    assert result.rate_limits.bucket.shared


async def test_limits_well_within_reach_are_summarised(health: Health) -> None:
    health.rate_limits.state = RateLimitState(
        ProviderLimitReport(
            reported_at=minutes_ago(health, 1),
            burst_limit=100,
            burst_remaining=99,
            daily_limit=200_000,
            daily_remaining=199_000,
            last_throttled_at=minutes_ago(health, 60),
        ),
        None,
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert result.rate_limits.state is HealthState.OK
    assert result.rate_limits.reason == "99 of 100 left in the burst, 199000 of 200000 left today"


async def test_a_failed_last_sync_fails_the_sync_check(health: Health) -> None:
    health.sync.activity = SyncActivity(
        last_run=SyncRunSummary(
            started_at=minutes_ago(health, 10),
            finished_at=minutes_ago(health, 9),
            error="GoHighLevel could not be reached",
        ),
        pulled=0,
        missed_by_webhooks=0,
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert result.sync.state is HealthState.FAILING
    assert result.sync.reason == "the last sync failed: GoHighLevel could not be reached"


async def test_webhooks_missing_many_of_the_changes_sync_found_degrade_the_sync_check(
    health: Health,
) -> None:
    last = SyncRunSummary(
        started_at=minutes_ago(health, 10), finished_at=minutes_ago(health, 9), error=None
    )
    health.sync.activity = SyncActivity(last_run=last, pulled=200, missed_by_webhooks=30)

    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )

    assert result.sync.state is HealthState.DEGRADED
    assert result.sync.reason == "webhooks missed 15% of the changes sync found in the last 1 d"
    health.sync.activity = SyncActivity(last_run=last, pulled=200, missed_by_webhooks=2)
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    assert (result.sync.state, result.sync.reason) == (
        HealthState.OK,
        "last sync 9 min ago succeeded",
    )


async def test_no_sync_for_longer_than_the_policy_allows_degrades_the_sync_check(
    health: Health,
) -> None:
    health.sync.activity = SyncActivity(
        last_run=SyncRunSummary(
            started_at=minutes_ago(health, 180), finished_at=minutes_ago(health, 179), error=None
        ),
        pulled=5,
        missed_by_webhooks=5,
    )
    result = await health.use_case.execute(
        GetIntegrationHealthQuery(actor=ADMIN, integration_id=health.integration_id)
    )
    # Five of five missed is a rate, but too few records to act on.
    assert (result.sync.state, result.sync.reason) == (HealthState.DEGRADED, "no sync for 2 h")

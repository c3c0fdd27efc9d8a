"""What a run does to the integration's status, retries, leases and the runs' records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.sync_records import RunStatus
from application.use_cases.sync_integration import SyncInProgressError, SyncIntegrationCommand
from domain.errors import (
    ConnectionFailedError,
    ErrorCode,
    IntegrationNotActiveError,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitExceededError,
)
from domain.events import IntegrationActivated, IntegrationFailed, IntegrationSynced
from domain.integration import IntegrationStatus
from domain.values import Principal, Role
from tests.unit.sync.support import START, Sync, run_sync


async def set_status(app: Sync, *, fail: bool = False, deactivate: bool = False) -> None:
    async with app.uow() as uow:
        integration = await uow.integrations.get(app.integration.id)
        assert integration is not None
        if fail:
            integration.fail(code="CONNECTION_FAILED", message="down", now=app.clock.now())
        if deactivate:
            integration.deactivate(now=app.clock.now())
        await uow.integrations.update(integration)
        await uow.commit()


async def test_a_successful_run_records_last_sync_and_brings_an_errored_integration_back(
    app: Sync,
) -> None:
    await set_status(app, fail=True)
    app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=1)

    run = await run_sync(app)

    integration = await app.stored_integration()
    assert (integration.status, integration.error_code) == (IntegrationStatus.ACTIVE, None)
    assert integration.last_sync_at == app.clock.now()
    assert (run.status, run.finished_at, run.pulled) == (RunStatus.SUCCEEDED, app.clock.now(), 1)
    assert app.events(IntegrationActivated)
    [synced] = app.events(IntegrationSynced)
    assert isinstance(synced, IntegrationSynced)
    assert synced.pulled == 1


async def test_refused_credentials_move_the_integration_to_error_at_once(app: Sync) -> None:
    app.ghl.failures["search_contacts"] = [InvalidCredentialsError("GHL refused the token (401)")]

    run = await run_sync(app)

    integration = await app.stored_integration()
    assert (integration.status, integration.error_code, integration.error_message) == (
        IntegrationStatus.ERROR,
        ErrorCode.INVALID_CREDENTIALS,
        "GHL refused the token (401)",
    )
    assert (run.status, run.error_code, run.attempts) == (
        RunStatus.FAILED,
        "INVALID_CREDENTIALS",
        1,
    )
    assert app.sleeps == []  # a person must act: no retry
    assert integration.last_sync_at is None


async def test_a_transient_failure_is_retried_with_backoff_before_the_status_is_touched(
    app: Sync,
) -> None:
    app.ghl.failures["search_contacts"] = [ConnectionFailedError("HTTP 503")]

    run = await run_sync(app)

    assert (run.status, run.attempts) == (RunStatus.SUCCEEDED, 2)
    assert app.sleeps == [2.0]
    assert not app.events(IntegrationFailed)
    assert (await app.stored_integration()).status is IntegrationStatus.ACTIVE


async def test_ghl_unreachable_through_every_attempt_moves_the_integration_to_error(
    app: Sync,
) -> None:
    app.ghl.failures["search_contacts"] = [ConnectionFailedError("HTTP 503")] * 3

    run = await run_sync(app)

    assert (run.status, run.attempts, run.error_code) == (
        RunStatus.FAILED,
        3,
        "CONNECTION_FAILED",
    )
    assert app.sleeps == [2.0, 4.0]
    integration = await app.stored_integration()
    assert (integration.status, integration.error_code) == (
        IntegrationStatus.ERROR,
        ErrorCode.CONNECTION_FAILED,
    )


async def test_rate_limiting_through_every_attempt_is_recorded_but_leaves_the_status(
    app: Sync,
) -> None:
    app.ghl.failures["search_contacts"] = [
        RateLimitExceededError("throttled", retry_after_seconds=5)
    ] * 3

    run = await run_sync(app)

    assert (run.status, run.error_code) == (RunStatus.FAILED, "RATE_LIMIT_EXCEEDED")
    assert app.sleeps == [5.0, 5.0]  # GHL's wait, when longer than the backoff
    assert (await app.stored_integration()).status is IntegrationStatus.ACTIVE


async def test_a_switched_off_integration_is_not_synced(app: Sync) -> None:
    await set_status(app, deactivate=True)

    with pytest.raises(IntegrationNotActiveError):
        await run_sync(app)
    assert app.ghl.calls == []


async def test_another_tenants_caller_cannot_sync_it(app: Sync) -> None:
    stranger = Principal("svc", Role.SERVICE, "sa-other")

    with pytest.raises(NotFoundError):
        await app.sync.execute(
            SyncIntegrationCommand(integration_id=app.integration.id, actor=stranger)
        )


async def test_one_run_at_a_time_and_a_dead_runs_lease_is_taken_over_when_it_expires(
    app: Sync,
) -> None:
    await app.leases.acquire(
        app.integration.id, holder="another-copy", now=app.clock.now(), ttl=timedelta(minutes=5)
    )

    with pytest.raises(SyncInProgressError):
        await run_sync(app)

    app.clock.advance(minutes=6)  # the other copy died: its lease ran out
    run = await run_sync(app)
    assert run.status is RunStatus.SUCCEEDED
    assert app.leases.leases[app.integration.id].holder is None  # released


async def test_every_run_is_recorded_and_added_up(app: Sync) -> None:
    app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    app.clock.advance(minutes=1)
    await run_sync(app)
    app.ghl.failures["search_contacts"] = [InvalidCredentialsError("401")]
    app.clock.advance(minutes=1)
    await run_sync(app)

    async with app.uow() as uow:
        runs = await uow.sync.recent_runs(app.integration.id, limit=10)
        totals = await uow.sync.run_totals(app.integration.id, since=START)

    assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert (totals.runs, totals.failed_runs, totals.pulled) == (2, 1, 1)
    assert totals.last_run is not None
    assert totals.last_run.id == runs[0].id

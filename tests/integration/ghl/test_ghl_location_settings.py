"""A location's settings, cached: one GET /locations/{id} per integration and expiry window,
whatever the number of askers, counted at the fake GHL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.ghl.client import HttpGhlClient
from adapters.ghl.fake import ScriptedFault
from adapters.ghl.location_settings import CachedGhlLocationSettings
from application.ports import ProviderCall
from domain.errors import ProviderError
from tests.fakes import FixedClock
from tests.integration.ghl.support import RunningFake, pit_auth

TTL = timedelta(minutes=10)


def location_calls(running: RunningFake) -> int:
    return sum(1 for r in running.fake.log if r.path.startswith("/locations/"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def settings(client: HttpGhlClient, clock: FixedClock) -> CachedGhlLocationSettings:
    return CachedGhlLocationSettings(client, clock=clock, ttl=TTL)


async def test_concurrent_askers_share_one_call(
    settings: CachedGhlLocationSettings, auth: ProviderCall, running: RunningFake
) -> None:
    locations = await asyncio.gather(*(settings.account(auth) for _ in range(50)))

    assert {location.timezone for location in locations} == {"America/Chicago"}
    assert location_calls(running) == 1


async def test_a_location_is_asked_again_once_per_expiry_window(
    settings: CachedGhlLocationSettings, auth: ProviderCall, running: RunningFake, clock: FixedClock
) -> None:
    for _ in range(20):
        await settings.account(auth)
    clock.advance(seconds=TTL.total_seconds() - 1)
    await settings.account(auth)
    assert location_calls(running) == 1

    clock.advance(seconds=1)
    for _ in range(20):
        await settings.account(auth)
    assert location_calls(running) == 2


async def test_each_integration_has_its_own_entry(
    settings: CachedGhlLocationSettings, running: RunningFake
) -> None:
    await settings.account(pit_auth(integration_id="integration-1"))
    await settings.account(pit_auth(integration_id="integration-2"))
    await settings.account(pit_auth(integration_id="integration-1"))

    assert location_calls(running) == 2


async def test_a_failure_reaches_every_waiting_asker_and_is_not_remembered(
    settings: CachedGhlLocationSettings, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=400, path_prefix="/locations/"))

    outcomes = await asyncio.gather(
        *(settings.account(auth) for _ in range(10)), return_exceptions=True
    )

    assert all(isinstance(outcome, ProviderError) for outcome in outcomes)
    assert location_calls(running) == 1
    location = await settings.account(auth)
    assert location.timezone == "America/Chicago"
    assert location_calls(running) == 2

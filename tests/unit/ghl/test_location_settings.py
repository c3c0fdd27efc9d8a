"""The location settings cache's single flight, with GHL's answer held back at will."""

from __future__ import annotations

import asyncio
from typing import cast

from adapters.ghl.location_settings import CachedGhlLocationSettings
from application.ghl import GhlApi, GhlAuth, GhlLocation, PrivateIntegrationToken
from domain.values import SecretStr
from tests.fakes import FixedClock

AUTH = GhlAuth(
    integration_id="int-1",
    location_id="loc-1",
    credentials=PrivateIntegrationToken(SecretStr("pit-test-token")),
)


class HeldLocation:
    """get_location answers once `release` is set; counts the calls that started."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def get_location(self, auth: GhlAuth) -> GhlLocation:
        self.started += 1
        await self.release.wait()
        return GhlLocation(id=auth.location_id, name="Clinic", timezone="America/Chicago")


async def settled() -> None:
    """Let every ready task run until none is left to run."""
    for _ in range(100):
        await asyncio.sleep(0)


async def test_an_asker_that_gives_up_does_not_cancel_the_call_for_the_others() -> None:
    ghl = HeldLocation()
    settings = CachedGhlLocationSettings(cast("GhlApi", ghl), clock=FixedClock())
    impatient = asyncio.create_task(settings.location(AUTH))
    patient = asyncio.create_task(settings.location(AUTH))
    await settled()
    assert ghl.started == 1  # both wait on the one call

    impatient.cancel()
    ghl.release.set()
    location = await patient

    assert impatient.cancelled()
    assert location.timezone == "America/Chicago"
    assert (await settings.location(AUTH)).timezone == "America/Chicago"
    assert ghl.started == 1

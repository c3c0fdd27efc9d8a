"""The location settings cache's single flight, with GHL's answer held back at will."""

from __future__ import annotations

import asyncio
from typing import cast

from adapters.ghl.location_settings import CachedGhlLocationSettings
from application.ports import Credentials, ProviderCall
from application.ports.crm import CrmAccount, CrmApi
from domain.values import SecretStr
from tests.fakes import FixedClock

AUTH = ProviderCall(
    integration_id="int-1",
    sub_account_id="sub-1",
    template_name="gohighlevel",
    config={"locationId": "loc-1"},
    credentials=Credentials({"apiKey": SecretStr("pit-test-token")}),
    rate_limit_per_minute=60,
)


class HeldLocation:
    """get_account answers once `release` is set; counts the calls that started."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def get_account(self, call: ProviderCall) -> CrmAccount:
        self.started += 1
        await self.release.wait()
        return CrmAccount(
            id=str(call.config["locationId"]), name="Clinic", timezone="America/Chicago"
        )


async def settled() -> None:
    """Let every ready task run until none is left to run."""
    for _ in range(100):
        await asyncio.sleep(0)


async def test_an_asker_that_gives_up_does_not_cancel_the_call_for_the_others() -> None:
    ghl = HeldLocation()
    settings = CachedGhlLocationSettings(cast("CrmApi", ghl), clock=FixedClock())
    impatient = asyncio.create_task(settings.account(AUTH))
    patient = asyncio.create_task(settings.account(AUTH))
    await settled()
    assert ghl.started == 1  # both wait on the one call

    impatient.cancel()
    ghl.release.set()
    location = await patient

    assert impatient.cancelled()
    assert location.timezone == "America/Chicago"
    assert (await settings.account(AUTH)).timezone == "America/Chicago"
    assert ghl.started == 1

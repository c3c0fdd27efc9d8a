"""Connecting a GoHighLevel location by installing the platform's Marketplace app, end to end:
the running service and the fake GHL, the browser played by an HTTP client."""

from __future__ import annotations

import pytest

from adapters.ghl.fake.consent import Consent
from adapters.ghl.fake.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_LOCATION_ID
from integrations.v1 import integration_pb2
from tests.e2e import test_webhooks_to_leads as ghl_e2e
from tests.e2e.conftest import Service
from tests.e2e.connect_support import RETURN_URL, FrontEnd, free_port, sign_in
from tests.e2e.test_webhooks_to_leads import FakeGhlServer

fake_ghl = ghl_e2e.fake_ghl  # the fake GHL of the webhook tests, used here by name


@pytest.fixture
def service_extra_env(fake_ghl: FakeGhlServer) -> dict[str, str]:
    webhook_port = free_port()
    return {
        "WEBHOOK_PORT": str(webhook_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{webhook_port}",
        "CONNECT_RETURN_URLS": RETURN_URL,
        "GHL_API_BASE_URL": fake_ghl.url,
        "GHL_OAUTH_AUTHORIZE_URL": f"{fake_ghl.url}/v2/oauth/chooselocation",
        "GHL_OAUTH_CLIENT_ID": DEMO_CLIENT_ID,
        "GHL_OAUTH_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    }


async def test_a_location_installs_the_app_and_is_connected_once(
    service: Service, front_end: FrontEnd, fake_ghl: FakeGhlServer
) -> None:
    url, name = await front_end.start("gohighlevel_oauth")

    outcome = await sign_in(url)

    assert outcome["state"] == "connected", outcome
    [integration_name] = (await front_end.session(name)).integrations
    integration = await front_end.integration(integration_name)
    assert integration.state == integration_pb2.Integration.STATE_ACTIVE
    assert integration.config["locationId"] == DEMO_LOCATION_ID
    assert str(integration.config["refreshToken"]).startswith("••••")
    assert "clientSecret" not in integration.config  # the app's client is the service's

    # Installing again on the same location re-connects that integration: no duplicate.
    url, name = await front_end.start("gohighlevel_oauth")
    assert (await sign_in(url))["state"] == "connected"
    assert list((await front_end.session(name)).integrations) == [integration_name]

    # Declined at GHL's location chooser.
    fake_ghl.fake.consent = Consent(deny=True)
    url, _ = await front_end.start("gohighlevel_oauth")
    assert (await sign_in(url))["error"] == "access_denied"
    assert DEMO_CLIENT_SECRET not in service.logs()


async def test_an_agency_install_in_v2s_shape_connects_its_location_through_the_agencys_chain(
    service: Service, front_end: FrontEnd, fake_ghl: FakeGhlServer
) -> None:
    # GHL's documented /oauth/locationToken answer: no refresh token for the location.
    fake_ghl.fake.consent = Consent(
        install="agency", location_ids=[DEMO_LOCATION_ID], location_token_refresh=False
    )
    try:
        url, name = await front_end.start("gohighlevel_oauth")
        outcome = await sign_in(url)
    finally:
        fake_ghl.fake.consent = Consent()

    assert outcome["state"] == "connected", outcome
    [integration_name] = (await front_end.session(name)).integrations
    integration = await front_end.integration(integration_name)
    # Tested (its location token minted from the stored agency chain) and active.
    assert integration.state == integration_pb2.Integration.STATE_ACTIVE
    assert integration.config["locationId"] == DEMO_LOCATION_ID
    assert integration.config["companyId"] == fake_ghl.fake.state.company_of(DEMO_LOCATION_ID)
    assert fake_ghl.fake.token_refreshes == 0
    assert DEMO_CLIENT_SECRET not in service.logs()

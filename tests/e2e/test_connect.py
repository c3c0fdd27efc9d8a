"""Connecting by signing in, end to end: the running service and the providers' fakes, the
browser's part played by an HTTP client following redirects, a front end on gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.ga4.fake import FAKE_GA4, FakeGa4
from adapters.ga4.fake import create_app as create_fake_ga4
from adapters.ga4.fake.seed import (
    DEMO_MEASUREMENT_ID,
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    DEMO_USER_EMAIL,
)
from adapters.meta.fake import FAKE_META, FakeMeta
from adapters.meta.fake import create_app as create_fake_meta
from adapters.meta.fake.login import LoginPlan
from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_PAGE_ID,
    DEMO_SECOND_PAGE_ID,
    DEMO_VERIFY_TOKEN,
)
from integrations.v1 import (
    connection_service_pb2,
    integration_pb2,
    integration_service_pb2,
)
from tests.e2e.conftest import Service
from tests.e2e.connect_support import (
    RETURN_URL,
    SUB_ACCOUNT,
    FrontEnd,
    State,
    back_to_the_front_end,
    free_port,
    sign_in,
    to_callback,
)


@dataclass
class Fakes:
    meta_url: str
    meta: FakeMeta
    ga4_url: str
    ga4: FakeGa4


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    meta_app, ga4_app = create_fake_meta(), create_fake_ga4()
    meta_server = TestServer(meta_app, host="127.0.0.1", port=0)
    ga4_server = TestServer(ga4_app, host="127.0.0.1", port=0)
    await meta_server.start_server()
    await ga4_server.start_server()
    yield Fakes(
        str(meta_server.make_url("")).rstrip("/"),
        meta_app[FAKE_META],
        str(ga4_server.make_url("")).rstrip("/"),
        ga4_app[FAKE_GA4],
    )
    await meta_app[FAKE_META].webhooks.stop()
    await meta_server.close()
    await ga4_server.close()


@pytest.fixture
def service_extra_env(fakes: Fakes) -> dict[str, str]:
    # The callbacks' address must be known before the service starts: a port of its own.
    webhook_port = free_port()
    return {
        "WEBHOOK_PORT": str(webhook_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{webhook_port}",
        "CONNECT_RETURN_URLS": RETURN_URL,
        "META_APP_ID": DEMO_APP_ID,
        "META_APP_SECRET": DEMO_APP_SECRET,
        "META_WEBHOOK_VERIFY_TOKEN": DEMO_VERIFY_TOKEN,
        "META_GRAPH_API_BASE_URL": fakes.meta_url,
        "META_OAUTH_AUTHORIZE_URL": f"{fakes.meta_url}/v26.0/dialog/oauth",
        "GOOGLE_OAUTH_CLIENT_ID": DEMO_OAUTH_CLIENT_ID,
        "GOOGLE_OAUTH_CLIENT_SECRET": DEMO_OAUTH_CLIENT_SECRET,
        "GOOGLE_OAUTH_AUTHORIZE_URL": f"{fakes.ga4_url}/o/oauth2/v2/auth",
        "GOOGLE_OAUTH_TOKEN_URL": f"{fakes.ga4_url}/token",
        "GA4_ADMIN_BASE_URL": fakes.ga4_url,
        "GA4_MP_BASE_URL": fakes.ga4_url,
        "GA4_TOKEN_URL": f"{fakes.ga4_url}/token",
    }


async def test_a_facebook_page_is_picked_and_connected_and_refusals_are_named(
    service: Service, front_end: FrontEnd, fakes: Fakes
) -> None:
    url, name = await front_end.start("facebook_ads")

    outcome = await sign_in(url)

    assert outcome == {"connection_session": name.split("/")[1], "state": "choosing"}
    session = await front_end.session(name)
    assert {c.id for c in session.choices} == {DEMO_PAGE_ID, DEMO_SECOND_PAGE_ID}
    chosen = await front_end.connections.ChooseConnectionAccounts(
        connection_service_pb2.ChooseConnectionAccountsRequest(
            name=name, account_ids=[DEMO_PAGE_ID]
        ),
        metadata=front_end.metadata,
    )
    assert chosen.connection_session.state == State.STATE_CONNECTED
    [integration_name] = chosen.connection_session.integrations
    integration = await front_end.integration(integration_name)
    assert integration.state == integration_pb2.Integration.STATE_ACTIVE
    assert integration.config["pageId"] == DEMO_PAGE_ID
    assert str(integration.config["accessToken"]).startswith("••••")
    assert "leadgen" in fakes.meta.state.pages[DEMO_PAGE_ID]["subscribed_fields"]
    logs = service.logs()
    assert "connect_callback" in logs
    assert fakes.meta.login.codes, "the sign-in issued a code"
    for secret in (*fakes.meta.login.codes, DEMO_APP_SECRET):
        assert secret not in logs

    # Declined consent, then declined permissions, come back as errors.
    fakes.meta.login.plan = LoginPlan(deny=True)
    url, _ = await front_end.start("facebook_ads")
    assert (await sign_in(url))["error"] == "access_denied"

    fakes.meta.login.plan = LoginPlan(declined=["leads_retrieval"])
    url, name = await front_end.start("facebook_ads")
    outcome = await sign_in(url)

    assert (outcome["state"], outcome["error"]) == ("failed", "missing_scopes")
    session = await front_end.session(name)
    assert session.error_detail == "leads_retrieval"
    assert list(session.integrations) == []


async def test_an_analytics_stream_connects_and_reconnects_when_its_grant_dies(
    front_end: FrontEnd, fakes: Fakes
) -> None:
    url, name = await front_end.start("google_analytics")
    assert (await sign_in(url))["state"] == "connected"
    [integration_name] = (await front_end.session(name)).integrations
    integration = await front_end.integration(integration_name)
    assert integration.state == integration_pb2.Integration.STATE_ACTIVE
    assert integration.config["measurementId"] == DEMO_MEASUREMENT_ID
    assert str(integration.config["apiSecret"]).startswith("••••")

    # The person revokes the app at Google: the integration's credentials die.
    fakes.ga4.revoke_user(DEMO_USER_EMAIL)
    tested = await front_end.integrations.TestIntegration(
        integration_service_pb2.TestIntegrationRequest(name=integration_name),
        metadata=front_end.metadata,
    )
    assert tested.integration.state == integration_pb2.Integration.STATE_ERROR

    url, name = await front_end.start("google_analytics", integration=integration_name)
    assert (await sign_in(url))["state"] == "connected"
    assert list((await front_end.session(name)).integrations) == [integration_name]
    again = await front_end.integration(integration_name)
    assert again.state == integration_pb2.Integration.STATE_ACTIVE
    assert again.create_time == integration.create_time


async def test_a_double_click_on_the_callback_connects_once(
    front_end: FrontEnd, fakes: Fakes
) -> None:
    url, name = await front_end.start("google_analytics")
    async with aiohttp.ClientSession() as http:
        callback = await to_callback(http, url)
        first, second = await asyncio.gather(
            back_to_the_front_end(http, callback), back_to_the_front_end(http, callback)
        )

    assert first["state"] == second["state"] == "connected"
    assert len((await front_end.session(name)).integrations) == 1
    listed = await front_end.integrations.ListIntegrations(
        integration_service_pb2.ListIntegrationsRequest(sub_account_id=SUB_ACCOUNT),
        metadata=front_end.metadata,
    )
    assert len(listed.integrations) == 1

    # The same callback later, as an attacker replaying it, is told the session was used.
    async with aiohttp.ClientSession() as http:
        replayed = await back_to_the_front_end(http, callback)
    assert replayed["error"] == "session_used"


async def test_a_provider_down_or_an_expired_code_fails_the_session_and_a_new_one_connects(
    front_end: FrontEnd, fakes: Fakes
) -> None:
    fakes.ga4.fail_next_token_requests(503)
    url, name = await front_end.start("google_analytics")

    outcome = await sign_in(url)

    assert outcome["error"] == "provider_unavailable"
    assert list((await front_end.session(name)).integrations) == []
    url, name = await front_end.start("google_analytics")
    assert (await sign_in(url))["state"] == "connected"

    # A code that has expired by the time it is exchanged is refused.
    fakes.ga4.oauth_faults.expired_codes = True
    url, _ = await front_end.start("google_analytics")
    assert (await sign_in(url))["error"] == "code_rejected"

"""Facebook Login's connect flow against the fake Meta (which checks every appsecret_proof): the
browser's part from the authorization URL to the callback's redirect, the exchange, the Pages
offered and the one connected; and each fault of the sign-in, with no token or code in a log
line or an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs
from yarl import URL

from adapters.clock import SystemClock
from adapters.meta.connect import USER_TOKEN_FIELD, MetaConnectFlow
from adapters.meta.fake import FAKE_META, FakeMeta, create_app
from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_PAGE_ID,
    DEMO_PAGE_NAME,
    DEMO_SECOND_PAGE_ID,
    DEMO_VERIFY_TOKEN,
)
from adapters.meta.graph import MetaGraph
from adapters.meta.provider import REQUIRED_SCOPES, MetaProvider
from adapters.meta.settings import MetaSettings
from adapters.ratelimit import TokenBucketRateLimiter
from application.connect_security import code_challenge, new_code_verifier, new_state
from application.ports import Credentials, ProviderContext
from application.ports.connect import AccountConnection, ConnectFlowError, ConnectGrant
from domain.connection_session import AccountChoice, ConnectFailure
from domain.errors import ConnectionFailedError
from domain.values import SecretStr
from tests.integration.meta.conftest import FAST_RETRY, FAST_TIMEOUTS

SUB_ACCOUNT = "sub-account-1"
CALLBACK = "http://127.0.0.1:9/oauth/meta/callback"
"""Where the fake redirects the browser; the test reads the redirect and goes no further."""


@dataclass
class SignIn:
    """A started sign-in: its state and verifier, as the core keeps them."""

    state: str = field(default_factory=new_state)
    verifier: str = field(default_factory=new_code_verifier)


@dataclass
class OnFake:
    url: str
    fake: FakeMeta
    flow: MetaConnectFlow
    graph: MetaGraph
    browser: aiohttp.ClientSession

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.browser.request(method, self.url + "/_fake" + path, json=body) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json() if resp.status != 204 else None

    async def sign_in(self, sign_in: SignIn, *, redirect_uri: str = CALLBACK) -> URL:
        """The browser's part: open the authorization URL, and read where it is sent back."""
        url = self.flow.authorization_url(
            state=sign_in.state,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge(sign_in.verifier),
        )
        async with self.browser.get(url, allow_redirects=False) as resp:
            assert resp.status == 302, await resp.text()
            return URL(resp.headers["Location"])

    async def code(self, sign_in: SignIn) -> str:
        back = await self.sign_in(sign_in)
        assert back.query["state"] == sign_in.state
        return back.query["code"]

    async def exchange(
        self, code: str, sign_in: SignIn, *, redirect_uri: str = CALLBACK
    ) -> ConnectGrant:
        return await self.flow.exchange(
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=sign_in.verifier,
            callback={"state": sign_in.state},
        )

    async def signed_in(self) -> ConnectGrant:
        sign_in = SignIn()
        return await self.exchange(await self.code(sign_in), sign_in)

    def secrets(self) -> list[str]:
        """Every code and token the fake issued, and the app secret."""
        return [*self.fake.login.codes, *self.fake.state.tokens, DEMO_APP_SECRET]


@pytest.fixture
async def on_fake() -> AsyncIterator[OnFake]:
    app = create_app(require_appsecret_proof=True, random_seed=11)
    server = TestServer(app, host="127.0.0.1", port=0)
    # A slow answer the client gave up on must not hold the test's end.
    await server.start_server(shutdown_timeout=0.5)
    url = str(server.make_url("")).rstrip("/")
    graph = MetaGraph(
        MetaSettings(
            app_id=DEMO_APP_ID,
            app_secret=SecretStr(DEMO_APP_SECRET),
            webhook_verify_token=SecretStr(DEMO_VERIFY_TOKEN),
            graph_base_url=url,
        ),
        rate_limiter=TokenBucketRateLimiter(),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
        app_rate_limit_per_minute=6000,
    )
    flow = MetaConnectFlow(graph, authorize_url=f"{url}/v26.0/dialog/oauth", timeout_seconds=10)
    browser = aiohttp.ClientSession()
    try:
        yield OnFake(url, app[FAKE_META], flow, graph, browser)
    finally:
        await browser.close()
        await graph.close()
        await server.close()
    assert {r.appsecret_proof for r in app[FAKE_META].log} <= {None, "valid"}


def context(connection: AccountConnection) -> ProviderContext:
    return ProviderContext(
        integration_id="fb-1",
        sub_account_id="sa-1",
        template_name="facebook_ads",
        config=dict(connection.config),
        credentials=Credentials(dict(connection.secrets)),
        rate_limit_per_minute=6000,
    )


def assert_nothing_secret(on_fake: OnFake, *texts: object) -> None:
    for secret in on_fake.secrets():
        for text in texts:
            assert secret not in str(text)


# --- the authorization URL ---------------------------------------------------------------------


def test_the_authorization_url_asks_the_dialog_for_the_lead_ads_scopes_with_state_and_pkce() -> (
    None
):
    graph = MetaGraph(
        MetaSettings(
            app_id=DEMO_APP_ID,
            app_secret=SecretStr(DEMO_APP_SECRET),
            webhook_verify_token=SecretStr(DEMO_VERIFY_TOKEN),
        ),
        rate_limiter=TokenBucketRateLimiter(),
    )
    flow = MetaConnectFlow(graph)

    url = URL(flow.authorization_url(state="st-1", redirect_uri=CALLBACK, code_challenge="ch-1"))

    assert str(url.with_query(None)) == "https://www.facebook.com/v26.0/dialog/oauth"
    assert dict(url.query) == {
        "client_id": DEMO_APP_ID,
        "redirect_uri": CALLBACK,
        "state": "st-1",
        "response_type": "code",
        "scope": ",".join(REQUIRED_SCOPES),
        "auth_type": "rerequest",
        "code_challenge": "ch-1",
        "code_challenge_method": "S256",
    }
    assert flow.pkce
    assert flow.template == "facebook_ads"
    assert DEMO_APP_SECRET not in str(url)


# --- signing in --------------------------------------------------------------------------------


async def test_a_person_with_one_page_signs_in_and_that_page_is_connected_and_subscribed(
    on_fake: OnFake,
) -> None:
    await on_fake.control("PUT", "/login", {"page_ids": [DEMO_PAGE_ID]})

    with capture_logs() as logs:
        grant = await on_fake.signed_in()
        connection = await on_fake.flow.connect(
            grant.secrets, DEMO_PAGE_ID, {}, sub_account_id=SUB_ACCOUNT
        )
    tested = await MetaProvider(on_fake.graph, clock=SystemClock()).test_connection(
        context(connection)
    )

    assert grant.accounts == (AccountChoice(DEMO_PAGE_ID, DEMO_PAGE_NAME),)
    assert connection.account == AccountChoice(DEMO_PAGE_ID, DEMO_PAGE_NAME)
    assert connection.config == {"pageId": DEMO_PAGE_ID}
    assert set(connection.secrets) == {"accessToken"}
    assert on_fake.fake.state.pages[DEMO_PAGE_ID]["subscribed_fields"] == ["leadgen"]
    assert tested.success, tested.message
    assert tested.details["leadgen_subscription"] == "existing"
    assert tested.details["token_expires"] == "never"
    assert_nothing_secret(on_fake, logs)


async def test_the_grant_holds_a_long_lived_user_token(on_fake: OnFake) -> None:
    grant = await on_fake.signed_in()

    user = on_fake.fake.state.tokens[grant.secrets[USER_TOKEN_FIELD].reveal()]
    assert user.kind == "USER"
    days_left = (user.expires_at - datetime.now(UTC).timestamp()) / 86400
    assert days_left > 50
    assert user.user_id is not None


async def test_a_person_with_several_pages_is_offered_each_and_connects_the_one_chosen(
    on_fake: OnFake,
) -> None:
    grant = await on_fake.signed_in()
    connection = await on_fake.flow.connect(
        grant.secrets, DEMO_SECOND_PAGE_ID, {}, sub_account_id=SUB_ACCOUNT
    )

    assert [a.id for a in grant.accounts] == [DEMO_PAGE_ID, DEMO_SECOND_PAGE_ID]
    assert connection.config == {"pageId": DEMO_SECOND_PAGE_ID}
    page_token = on_fake.fake.state.tokens[connection.secrets["accessToken"].reveal()]
    assert page_token.kind == "PAGE"
    assert page_token.page_ids == (DEMO_SECOND_PAGE_ID,)
    assert page_token.expires_at == 0
    assert on_fake.fake.state.pages[DEMO_PAGE_ID]["subscribed_fields"] == []


async def test_every_page_of_me_accounts_is_read(on_fake: OnFake) -> None:
    await on_fake.control("PUT", "/login", {"accounts_page_limit": 1})

    grant = await on_fake.signed_in()

    assert [a.id for a in grant.accounts] == [DEMO_PAGE_ID, DEMO_SECOND_PAGE_ID]
    assert [r.route for r in on_fake.fake.log].count("me_accounts") == 2


async def test_connecting_keeps_the_fields_the_app_already_had_on_the_page(
    on_fake: OnFake,
) -> None:
    on_fake.fake.state.pages[DEMO_PAGE_ID]["subscribed_fields"] = ["feed"]

    grant = await on_fake.signed_in()
    await on_fake.flow.connect(grant.secrets, DEMO_PAGE_ID, {}, sub_account_id=SUB_ACCOUNT)

    assert on_fake.fake.state.pages[DEMO_PAGE_ID]["subscribed_fields"] == ["feed", "leadgen"]


async def test_a_page_the_sign_in_does_not_reach_is_not_connected(on_fake: OnFake) -> None:
    await on_fake.control("PUT", "/login", {"page_ids": [DEMO_PAGE_ID]})
    grant = await on_fake.signed_in()

    with pytest.raises(ConnectFlowError) as raised:
        await on_fake.flow.connect(
            grant.secrets, DEMO_SECOND_PAGE_ID, {}, sub_account_id=SUB_ACCOUNT
        )

    assert raised.value.failure is ConnectFailure.ACCOUNT_MISMATCH
    assert on_fake.fake.state.pages[DEMO_SECOND_PAGE_ID]["subscribed_fields"] == ["leadgen"]


# --- faults ------------------------------------------------------------------------------------


async def test_a_refused_consent_comes_back_as_access_denied_with_the_state(
    on_fake: OnFake,
) -> None:
    await on_fake.control("PUT", "/login", {"deny": True})
    sign_in = SignIn()

    back = await on_fake.sign_in(sign_in)

    assert str(back.with_query(None)) == CALLBACK
    assert back.query["error"] == "access_denied"
    assert back.query["error_reason"] == "user_denied"
    assert back.query["state"] == sign_in.state
    assert "code" not in back.query


async def test_declined_permissions_are_named(on_fake: OnFake) -> None:
    await on_fake.control("PUT", "/login", {"declined": ["ads_management", "leads_retrieval"]})

    with pytest.raises(ConnectFlowError) as raised:
        await on_fake.signed_in()

    assert raised.value.failure is ConnectFailure.MISSING_SCOPES
    assert raised.value.detail == "leads_retrieval,ads_management"
    assert "leads_retrieval, ads_management" in str(raised.value)
    assert_nothing_secret(on_fake, raised.value)


async def test_a_sign_in_that_grants_no_page_has_no_accounts(on_fake: OnFake) -> None:
    await on_fake.control("PUT", "/login", {"page_ids": []})

    with pytest.raises(ConnectFlowError) as raised:
        await on_fake.signed_in()

    assert raised.value.failure is ConnectFailure.NO_ACCOUNTS


async def test_pages_where_the_person_may_not_advertise_are_not_offered(on_fake: OnFake) -> None:
    on_fake.fake.login.users[next(iter(on_fake.fake.login.users))]["tasks"] = {
        DEMO_PAGE_ID: ["ANALYZE", "MODERATE"]
    }

    grant = await on_fake.signed_in()

    assert [a.id for a in grant.accounts] == [DEMO_SECOND_PAGE_ID]


async def test_an_expired_code_is_rejected(on_fake: OnFake) -> None:
    await on_fake.control("PUT", "/login", {"code_ttl_seconds": 0})

    with capture_logs() as logs, pytest.raises(ConnectFlowError) as raised:
        await on_fake.signed_in()

    assert raised.value.failure is ConnectFailure.CODE_REJECTED
    assert [e["event"] for e in logs] == ["meta_call_failed"]
    assert_nothing_secret(on_fake, raised.value, raised.value.detail, logs)


async def test_a_reused_code_is_rejected_and_revokes_what_it_gave(on_fake: OnFake) -> None:
    sign_in = SignIn()
    code = await on_fake.code(sign_in)
    first = await on_fake.exchange(code, sign_in)

    with capture_logs() as logs, pytest.raises(ConnectFlowError) as raised:
        await on_fake.exchange(code, sign_in)
    with pytest.raises(ConnectFlowError) as revoked:
        await on_fake.flow.connect(first.secrets, DEMO_PAGE_ID, {}, sub_account_id=SUB_ACCOUNT)

    assert raised.value.failure is ConnectFailure.CODE_REJECTED
    assert revoked.value.failure is ConnectFailure.ACCESS_DENIED
    assert_nothing_secret(on_fake, raised.value, revoked.value, logs)


async def test_a_code_sent_back_with_another_redirect_uri_is_rejected(on_fake: OnFake) -> None:
    sign_in = SignIn()
    code = await on_fake.code(sign_in)

    with pytest.raises(ConnectFlowError) as raised:
        await on_fake.exchange(code, sign_in, redirect_uri=CALLBACK + "/elsewhere")

    assert raised.value.failure is ConnectFailure.CODE_REJECTED


@pytest.mark.parametrize("verifier", [new_code_verifier(), None], ids=["wrong", "missing"])
async def test_the_fake_holds_the_code_to_its_pkce_challenge(
    on_fake: OnFake, verifier: str | None
) -> None:
    sign_in = SignIn()
    code = await on_fake.code(sign_in)

    with pytest.raises(ConnectFlowError) as raised:
        await on_fake.flow.exchange(
            code=code, redirect_uri=CALLBACK, code_verifier=verifier, callback={}
        )

    assert raised.value.failure is ConnectFailure.CODE_REJECTED


async def test_a_failing_token_endpoint_is_a_connection_failure(on_fake: OnFake) -> None:
    await on_fake.control(
        "PUT",
        "/faults",
        {"errors": [{"code": 2, "status": 503, "routes": ["oauth_access_token"], "count": 9}]},
    )
    sign_in = SignIn()

    with capture_logs() as logs, pytest.raises(ConnectionFailedError) as raised:
        await on_fake.exchange(await on_fake.code(sign_in), sign_in)

    assert [r.route for r in on_fake.fake.log].count("oauth_access_token") == 1
    assert_nothing_secret(on_fake, raised.value, logs)


async def test_a_throttled_sign_in_is_a_connection_failure(on_fake: OnFake) -> None:
    await on_fake.control(
        "PUT", "/faults", {"throttle": {"code": 17, "routes": ["me_permissions"]}}
    )

    with pytest.raises(ConnectionFailedError):
        await on_fake.signed_in()


async def test_a_slow_token_endpoint_times_out_as_a_connection_failure(on_fake: OnFake) -> None:
    fast = MetaConnectFlow(
        on_fake.graph, authorize_url=f"{on_fake.url}/v26.0/dialog/oauth", timeout_seconds=0.2
    )
    await on_fake.control(
        "PUT", "/faults", {"slow": [{"seconds": 30, "routes": ["oauth_access_token"]}]}
    )
    sign_in = SignIn()
    code = await on_fake.code(sign_in)

    with pytest.raises(ConnectionFailedError) as raised:
        await fast.exchange(
            code=code, redirect_uri=CALLBACK, code_verifier=sign_in.verifier, callback={}
        )

    assert "did not answer" in str(raised.value)

"""Connecting a GA4 web stream by signing in with Google, against the fake GA4 on loopback: the
browser's part (authorize page → callback redirect), the code exchange with PKCE, the streams
offered, connecting one (its secret fetched or created), each fault, and the connection test of
an integration that has a sign-in's refresh token instead of a service-account key."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from structlog.testing import capture_logs

from adapters.ga4.connect import Ga4ConnectFlow
from adapters.ga4.fake.seed import (
    AGENCY_USER_EMAIL,
    CHECKOUT_MEASUREMENT_ID,
    CHECKOUT_STREAM_ID,
    DEMO_API_SECRET,
    DEMO_MEASUREMENT_ID,
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    DEMO_PROPERTY_ID,
    DEMO_STREAM_ID,
    NO_ANALYTICS_USER_EMAIL,
    SHOP_MEASUREMENT_ID,
    SHOP_PROPERTY_ID,
    SHOP_STREAM_ID,
)
from adapters.ga4.google_oauth import (
    ANALYTICS_EDIT,
    ANALYTICS_READONLY,
    GoogleOAuth,
    GoogleOAuthApp,
)
from adapters.ga4.provider import Ga4Provider, stream_account
from application.connect_security import code_challenge, new_code_verifier, new_state
from application.ports import Credentials, ProviderContext
from application.ports.connect import ConnectFlowError, ConnectGrant
from domain.connection_session import AccountChoice, ConnectFailure
from domain.errors import ConnectionFailedError, ErrorCode
from domain.values import SecretStr
from tests.fakes import FixedClock
from tests.integration.ga4.support import RunningGa4, running_ga4

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SUB_ACCOUNT = "sub-account-1"
REDIRECT_URI = "https://platform.example/oauth/ga4/callback"
DEMO_STREAM = f"properties/{DEMO_PROPERTY_ID}/dataStreams/{DEMO_STREAM_ID}"
SHOP_STREAM = f"properties/{SHOP_PROPERTY_ID}/dataStreams/{SHOP_STREAM_ID}"
CHECKOUT_STREAM = f"properties/{SHOP_PROPERTY_ID}/dataStreams/{CHECKOUT_STREAM_ID}"


@dataclass(frozen=True)
class SignIn:
    running: RunningGa4
    oauth: GoogleOAuth
    flow: Ga4ConnectFlow

    @property
    def fake(self) -> Any:
        return self.running.fake


@asynccontextmanager
async def signing_in(*, token_timeout: float = 5.0) -> AsyncIterator[SignIn]:
    async with running_ga4() as running:
        oauth = GoogleOAuth(
            GoogleOAuthApp(
                client_id=DEMO_OAUTH_CLIENT_ID,
                client_secret=SecretStr(DEMO_OAUTH_CLIENT_SECRET),
                authorize_url=f"{running.url}/o/oauth2/v2/auth",
                token_url=f"{running.url}/token",
            ),
            timeout=token_timeout,
        )
        try:
            yield SignIn(running, oauth, Ga4ConnectFlow(running.http, oauth, clock=FixedClock(NOW)))
        finally:
            await oauth.close()


@dataclass(frozen=True)
class Callback:
    params: dict[str, str]
    verifier: str


async def browse(flow: Ga4ConnectFlow) -> Callback:
    """The browser's part: open the authorization URL, and stop at the redirect to the callback,
    which must carry back the state."""
    state, verifier = new_state(), new_code_verifier()
    url = flow.authorization_url(
        state=state, redirect_uri=REDIRECT_URI, code_challenge=code_challenge(verifier)
    )
    async with aiohttp.ClientSession() as browser, browser.get(url, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(f"{REDIRECT_URI}?")
    params = dict(parse_qsl(urlsplit(location).query))
    assert params.pop("state") == state
    return Callback(params, verifier)


async def exchange(sign_in: SignIn, callback: Callback, *, verifier: str | None = None) -> Any:
    others = {k: v for k, v in callback.params.items() if k != "code"}
    return await sign_in.flow.exchange(
        code=callback.params["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=verifier or callback.verifier,
        callback=others,
    )


async def signed_in(sign_in: SignIn) -> ConnectGrant:
    grant: ConnectGrant = await exchange(sign_in, await browse(sign_in.flow))
    return grant


def ga4_refresh_context(refresh_token: str, api_secret: str = DEMO_API_SECRET) -> ProviderContext:
    return ProviderContext(
        integration_id="ga4-signed-in",
        sub_account_id="sa-1",
        template_name="google_analytics",
        config={"measurementId": DEMO_MEASUREMENT_ID, "propertyId": DEMO_PROPERTY_ID},
        credentials=Credentials(
            {"apiSecret": SecretStr(api_secret), "refreshToken": SecretStr(refresh_token)}
        ),
        rate_limit_per_minute=6000,
    )


async def test_the_authorization_url_asks_google_for_offline_access_with_pkce() -> None:
    async with signing_in() as sign_in:
        url = sign_in.flow.authorization_url(
            state="the-state", redirect_uri=REDIRECT_URI, code_challenge="the-challenge"
        )

    assert url.startswith(f"{sign_in.running.url}/o/oauth2/v2/auth?")
    params = dict(parse_qsl(urlsplit(url).query))
    assert params == {
        "client_id": DEMO_OAUTH_CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": f"{ANALYTICS_READONLY} {ANALYTICS_EDIT}",
        "state": "the-state",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge": "the-challenge",
        "code_challenge_method": "S256",
    }
    assert sign_in.flow.pkce
    assert sign_in.flow.template == "google_analytics"


async def test_one_stream_signs_in_and_connects_with_its_secret_and_the_refresh_token() -> None:
    async with signing_in() as sign_in:
        grant = await signed_in(sign_in)
        connection = await sign_in.flow.connect(
            grant.secrets, DEMO_STREAM, {}, sub_account_id=SUB_ACCOUNT
        )
        issued_refresh_tokens = set(sign_in.fake.refresh_tokens)

    # The demo user's property has a web stream and an Android one: only the web one is offered.
    assert grant.accounts == (AccountChoice(DEMO_STREAM, "Acme — acme.example.com"),)
    assert connection.account == AccountChoice(DEMO_STREAM, "Acme — acme.example.com")
    assert connection.config == {
        "measurementId": DEMO_MEASUREMENT_ID,
        "propertyId": DEMO_PROPERTY_ID,
    }
    assert set(connection.secrets) == {"apiSecret", "refreshToken"}
    assert connection.secrets["apiSecret"].reveal() == DEMO_API_SECRET
    assert {connection.secrets["refreshToken"].reveal()} == issued_refresh_tokens
    assert connection.tokens is None


async def test_several_streams_are_choices_and_a_stream_without_a_secret_gets_one() -> None:
    async with signing_in() as sign_in:
        sign_in.fake.user = AGENCY_USER_EMAIL
        grant = await signed_in(sign_in)
        checkout = await sign_in.flow.connect(
            grant.secrets, CHECKOUT_STREAM, {}, sub_account_id=SUB_ACCOUNT
        )
        shop = await sign_in.flow.connect(
            grant.secrets, SHOP_STREAM, {}, sub_account_id=SUB_ACCOUNT
        )
        stored = sign_in.fake.stream_by_measurement_id(CHECKOUT_MEASUREMENT_ID)["secrets"]

    assert sorted(grant.accounts, key=lambda a: a.id) == [
        AccountChoice(DEMO_STREAM, "Acme — acme.example.com"),
        AccountChoice(SHOP_STREAM, "Acme Shop — shop.example.com"),
        AccountChoice(CHECKOUT_STREAM, "Acme Shop — checkout.example.com"),
    ]
    [created] = stored
    assert created["displayName"] == "integrations"
    assert checkout.secrets["apiSecret"].reveal() == created["secretValue"]
    assert checkout.config == {
        "measurementId": CHECKOUT_MEASUREMENT_ID,
        "propertyId": SHOP_PROPERTY_ID,
    }
    assert shop.config["measurementId"] == SHOP_MEASUREMENT_ID
    assert shop.secrets["apiSecret"].reveal() == "ShopSecret0123456789ab"


async def test_without_the_edit_scope_a_stream_with_a_secret_connects_and_one_without_names_it() -> (
    None
):
    async with signing_in() as sign_in:
        sign_in.fake.user = AGENCY_USER_EMAIL
        sign_in.fake.oauth_faults.granted_scopes = frozenset({ANALYTICS_READONLY})
        grant = await signed_in(sign_in)
        demo = await sign_in.flow.connect(
            grant.secrets, DEMO_STREAM, {}, sub_account_id=SUB_ACCOUNT
        )
        with pytest.raises(ConnectFlowError) as refused:
            await sign_in.flow.connect(
                grant.secrets, CHECKOUT_STREAM, {}, sub_account_id=SUB_ACCOUNT
            )
        stored = sign_in.fake.stream_by_measurement_id(CHECKOUT_MEASUREMENT_ID)["secrets"]

    assert demo.secrets["apiSecret"].reveal() == DEMO_API_SECRET
    assert refused.value.failure is ConnectFailure.MISSING_SCOPES
    assert refused.value.detail == "analytics.edit"
    assert stored == []


async def test_a_sign_in_without_analytics_access_is_missing_scopes() -> None:
    async with signing_in() as sign_in:
        sign_in.fake.oauth_faults.granted_scopes = frozenset({"openid"})
        callback = await browse(sign_in.flow)
        with pytest.raises(ConnectFlowError) as refused:
            await exchange(sign_in, callback)

    assert refused.value.failure is ConnectFailure.MISSING_SCOPES
    assert refused.value.detail == "analytics.readonly"


async def test_a_user_who_reaches_no_web_stream_is_no_accounts() -> None:
    async with signing_in() as sign_in:
        sign_in.fake.user = NO_ANALYTICS_USER_EMAIL
        with pytest.raises(ConnectFlowError) as refused:
            await signed_in(sign_in)

    assert refused.value.failure is ConnectFailure.NO_ACCOUNTS


async def test_declined_consent_comes_back_as_access_denied_without_a_code() -> None:
    async with signing_in() as sign_in:
        sign_in.fake.oauth_faults.deny_consent = True
        callback = await browse(sign_in.flow)

    assert callback.params == {"error": "access_denied"}


async def test_an_expired_code_is_rejected() -> None:
    async with signing_in() as sign_in:
        sign_in.fake.oauth_faults.expired_codes = True
        callback = await browse(sign_in.flow)
        with pytest.raises(ConnectFlowError) as refused:
            await exchange(sign_in, callback)

    assert refused.value.failure is ConnectFailure.CODE_REJECTED
    assert refused.value.detail == "invalid_grant"


async def test_a_reused_code_is_rejected_and_revokes_what_it_gave() -> None:
    async with signing_in() as sign_in:
        callback = await browse(sign_in.flow)
        grant = await exchange(sign_in, callback)
        with pytest.raises(ConnectFlowError) as refused:
            await exchange(sign_in, callback)
        with pytest.raises(ConnectFlowError) as revoked:
            # The grant's access token is revoked too: connecting has to refresh, and cannot.
            await sign_in.flow.connect(
                {"refreshToken": grant.secrets["refreshToken"]},
                DEMO_STREAM,
                {},
                sub_account_id=SUB_ACCOUNT,
            )

    assert refused.value.failure is ConnectFailure.CODE_REJECTED
    assert revoked.value.failure is ConnectFailure.ACCESS_DENIED


async def test_pkce_is_checked_by_google_a_wrong_or_missing_verifier_is_rejected() -> None:
    async with signing_in() as sign_in:
        callback = await browse(sign_in.flow)
        with pytest.raises(ConnectFlowError) as wrong:
            await exchange(sign_in, callback, verifier=new_code_verifier())
        with pytest.raises(ConnectFlowError) as missing:
            await sign_in.flow.exchange(
                code=callback.params["code"],
                redirect_uri=REDIRECT_URI,
                code_verifier=None,
                callback={},
            )
        grant = await exchange(sign_in, callback)

    assert wrong.value.failure is ConnectFailure.CODE_REJECTED
    assert missing.value.failure is ConnectFailure.CODE_REJECTED
    assert [a.id for a in grant.accounts] == [DEMO_STREAM]


async def test_another_redirect_uri_than_the_authorized_one_is_rejected() -> None:
    async with signing_in() as sign_in:
        callback = await browse(sign_in.flow)
        with pytest.raises(ConnectFlowError) as refused:
            await sign_in.flow.exchange(
                code=callback.params["code"],
                redirect_uri="https://evil.example/oauth/ga4/callback",
                code_verifier=callback.verifier,
                callback={},
            )

    assert refused.value.failure is ConnectFailure.CODE_REJECTED
    assert refused.value.detail == "redirect_uri_mismatch"


@pytest.mark.parametrize("status", [500, 503])
async def test_a_failing_token_endpoint_is_connection_failed(status: int) -> None:
    async with signing_in() as sign_in:
        callback = await browse(sign_in.flow)
        sign_in.fake.fail_next_token_requests(status)
        with pytest.raises(ConnectionFailedError) as failed:
            await exchange(sign_in, callback)
        # The fake failed before reading the code: the same callback can be retried.
        grant = await exchange(sign_in, callback)

    assert str(status) in failed.value.message
    assert grant.accounts


async def test_a_slow_token_endpoint_is_connection_failed_within_the_timeout() -> None:
    async with signing_in(token_timeout=0.3) as sign_in:
        callback = await browse(sign_in.flow)
        sign_in.fake.oauth_faults.token_delay = 3.0
        with pytest.raises(ConnectionFailedError) as failed:
            await exchange(sign_in, callback)

    assert "could not be reached" in failed.value.message


async def test_connect_refreshes_an_access_token_the_grant_no_longer_has() -> None:
    async with signing_in() as sign_in:
        grant = await signed_in(sign_in)
        only_refresh = {
            "refreshToken": grant.secrets["refreshToken"],
            "grantedScopes": grant.secrets["grantedScopes"],
        }
        connection = await sign_in.flow.connect(
            only_refresh, DEMO_STREAM, {}, sub_account_id=SUB_ACCOUNT
        )

    assert connection.secrets["apiSecret"].reveal() == DEMO_API_SECRET


async def test_connect_refuses_a_stream_whose_measurement_id_is_not_the_one_given() -> None:
    async with signing_in() as sign_in:
        grant = await signed_in(sign_in)
        with pytest.raises(ConnectFlowError) as refused:
            await sign_in.flow.connect(
                grant.secrets,
                DEMO_STREAM,
                {"measurementId": "G-OTHER1"},
                sub_account_id=SUB_ACCOUNT,
            )
        with pytest.raises(ConnectFlowError) as not_a_stream:
            await sign_in.flow.connect(
                grant.secrets, "properties/1", {}, sub_account_id=SUB_ACCOUNT
            )

    assert refused.value.failure is ConnectFailure.ACCOUNT_MISMATCH
    assert not_a_stream.value.failure is ConnectFailure.NO_ACCOUNTS


async def test_the_connection_test_of_a_signed_in_integration_uses_its_refresh_token() -> None:
    async with signing_in() as sign_in:
        grant = await signed_in(sign_in)
        connection = await sign_in.flow.connect(
            grant.secrets, DEMO_STREAM, {}, sub_account_id=SUB_ACCOUNT
        )
        ctx = ga4_refresh_context(
            connection.secrets["refreshToken"].reveal(),
            connection.secrets["apiSecret"].reveal(),
        )
        provider = Ga4Provider(sign_in.running.http, clock=FixedClock(NOW), oauth=sign_in.oauth)
        connected = await provider.test_connection(ctx)
        sign_in.fake.revoke_user("owner@acme.example")
        revoked = await provider.test_connection(ctx)
        without_google_app = await Ga4Provider(
            sign_in.running.http, clock=FixedClock(NOW)
        ).test_connection(ctx)

    assert connected.success, connected.message
    assert connected.accounts == frozenset({stream_account(DEMO_MEASUREMENT_ID)})
    assert revoked.error_code is ErrorCode.INVALID_CREDENTIALS
    assert revoked.message.startswith("getting an access token from the Google sign-in")
    assert without_google_app.error_code is ErrorCode.CONNECTION_FAILED


async def test_no_code_or_token_reaches_a_log_or_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    told: list[str] = []
    with capture_logs() as logs:
        async with signing_in() as sign_in:
            grant = await signed_in(sign_in)
            await sign_in.flow.connect(grant.secrets, DEMO_STREAM, {}, sub_account_id=SUB_ACCOUNT)
            callback = await browse(sign_in.flow)
            await exchange(sign_in, callback)
            for attempt in (
                exchange(sign_in, callback),
                exchange(sign_in, await browse(sign_in.flow), verifier=new_code_verifier()),
                sign_in.flow.connect(
                    {"refreshToken": SecretStr("1//forged")},
                    DEMO_STREAM,
                    {},
                    sub_account_id=SUB_ACCOUNT,
                ),
            ):
                with pytest.raises(ConnectFlowError) as refused:
                    await attempt
                told += [str(refused.value), refused.value.detail, repr(refused.value)]
            sign_in.fake.fail_next_token_requests(503)
            with pytest.raises(ConnectionFailedError) as failed:
                await exchange(sign_in, await browse(sign_in.flow))
            told += [str(failed.value), repr(failed.value)]
            told.append(repr(grant))
            fake = sign_in.fake
            issued = [
                *fake.codes,
                *fake.tokens,
                *fake.refresh_tokens,
                callback.verifier,
                DEMO_OAUTH_CLIENT_SECRET,
                DEMO_API_SECRET,
                "1//forged",
            ]

    shown = "\n".join([caplog.text, repr(logs), *told])
    assert len(issued) > 8
    for secret in issued:
        assert secret not in shown

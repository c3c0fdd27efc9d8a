"""The fake GA4's Google sign-in, on its own: what it refuses that the connect flow's tests do not
reach (an unknown client, a wrong client secret, a scope too narrow to create a secret), and its
refresh grant and revocation over HTTP."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import aiohttp

from adapters.ga4.fake.core import IssuedCode, RefreshGrant
from adapters.ga4.fake.seed import (
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    DEMO_PROPERTY_ID,
    DEMO_STREAM_ID,
    DEMO_USER_EMAIL,
)
from tests.integration.ga4.support import running_ga4

READONLY = "https://www.googleapis.com/auth/analytics.readonly"
STREAM = f"properties/{DEMO_PROPERTY_ID}/dataStreams/{DEMO_STREAM_ID}"


async def _post(url: str, form: dict[str, str], **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, data=form, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_the_authorize_page_shows_an_error_to_an_unknown_client_instead_of_redirecting() -> (
    None
):
    query = urlencode(
        {
            "client_id": "stranger.apps.example",
            "redirect_uri": "https://evil.example/cb",
            "response_type": "code",
            "scope": READONLY,
            "state": "s",
        }
    )
    async with (
        running_ga4() as running,
        aiohttp.ClientSession() as browser,
        browser.get(f"{running.url}/o/oauth2/v2/auth?{query}", allow_redirects=False) as resp,
    ):
        status, location = resp.status, resp.headers.get("Location")

    assert status == 401
    assert location is None


async def test_a_wrong_client_secret_is_invalid_client() -> None:
    async with running_ga4() as running:
        code = running.fake.issue_code(
            IssuedCode(
                client_id=DEMO_OAUTH_CLIENT_ID,
                redirect_uri="https://platform.example/cb",
                scopes=frozenset({READONLY}),
                code_challenge=None,
                user=DEMO_USER_EMAIL,
                offline=True,
                expires_at=running.fake.new_code_expiry(),
            )
        )
        status, body = await _post(
            f"{running.url}/token",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://platform.example/cb",
                "client_id": DEMO_OAUTH_CLIENT_ID,
                "client_secret": "not-the-secret",
            },
        )
        unused = not running.fake.codes[code].used

    assert status == 401
    assert body["error"] == "invalid_client"
    assert unused


async def test_a_refresh_grant_gives_a_token_the_admin_api_takes_until_it_is_revoked() -> None:
    async with running_ga4() as running:
        refresh_token = running.fake.issue_refresh_token(
            RefreshGrant(DEMO_OAUTH_CLIENT_ID, DEMO_USER_EMAIL, frozenset({READONLY}))
        )
        basic = base64.b64encode(f"{DEMO_OAUTH_CLIENT_ID}:{DEMO_OAUTH_CLIENT_SECRET}".encode())
        client = {"Authorization": f"Basic {basic.decode()}"}
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        status, tokens = await _post(f"{running.url}/token", form, headers=client)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{running.url}/v1beta/accountSummaries", headers=bearer) as resp:
                summaries = await resp.json()
            async with http.post(
                f"{running.url}/v1beta/{STREAM}/measurementProtocolSecrets",
                json={"displayName": "integrations"},
                headers=bearer,
            ) as resp:
                create_status = resp.status
        revoke_status, _ = await _post(f"{running.url}/revoke", {"token": refresh_token})
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{running.url}/v1beta/accountSummaries", headers=bearer) as resp,
        ):
            after_revoke = resp.status
        again, refused = await _post(f"{running.url}/token", form, headers=client)

    assert status == 200
    assert "refresh_token" not in tokens
    assert tokens["scope"] == READONLY
    [account] = summaries["accountSummaries"]
    assert [p["property"] for p in account["propertySummaries"]] == [
        f"properties/{DEMO_PROPERTY_ID}"
    ]
    assert create_status == 403  # creating a secret needs analytics.edit
    assert revoke_status == 200
    assert after_revoke == 401
    assert (again, refused["error"]) == (400, "invalid_grant")

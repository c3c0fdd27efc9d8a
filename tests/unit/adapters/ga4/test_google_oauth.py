"""Google's OAuth client, offline: the authorization URL without PKCE, and a token answer that
does not list the scopes granted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from adapters.ga4.google_oauth import GoogleOAuth, GoogleOAuthApp, parse_token_answer, scope_name
from domain.values import SecretStr

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_an_authorization_url_without_a_challenge_asks_for_no_pkce_and_keeps_its_query() -> None:
    oauth = GoogleOAuth(
        GoogleOAuthApp(
            client_id="cid",
            client_secret=SecretStr("client-secret-value"),
            authorize_url="https://accounts.example/auth?hd=acme.example",
            token_url="https://accounts.example/token",
        )
    )

    url = oauth.authorization_url(
        scopes=("a", "b"), state="st", redirect_uri="https://p.example/cb", code_challenge=None
    )

    params = dict(parse_qsl(urlsplit(url).query))
    assert params["hd"] == "acme.example"
    assert params["scope"] == "a b"
    assert "code_challenge" not in params
    assert "code_challenge_method" not in params
    assert "client-secret-value" not in url


def test_a_token_answer_without_scope_or_refresh_token_says_neither() -> None:
    tokens = parse_token_answer({"access_token": "at", "expires_in": 120}, 200, NOW)

    assert tokens.scopes is None
    assert tokens.refresh_token is None
    assert tokens.expires_at == NOW + timedelta(seconds=120)
    assert scope_name("https://www.googleapis.com/auth/analytics.edit") == "analytics.edit"

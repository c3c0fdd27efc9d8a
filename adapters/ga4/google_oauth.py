"""Google's OAuth 2.0 for web server apps, from the platform's side: the app's client, the
authorize URL a person signs in at, and the token endpoint's two grants (a code for tokens, a
refresh token for an access token). Each token request is sent once: a code is single-use, so a
lost answer is not repeated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

import aiohttp

from adapters.http.transport import parse_json, transport_error
from domain.errors import ConnectionFailedError, ProviderError
from domain.values import SecretStr

ANALYTICS_READONLY = "https://www.googleapis.com/auth/analytics.readonly"
ANALYTICS_EDIT = "https://www.googleapis.com/auth/analytics.edit"


@dataclass(frozen=True, slots=True)
class GoogleOAuthApp:
    """The platform's OAuth client at Google, and where Google's two endpoints are (a fake's
    in tests)."""

    client_id: str
    client_secret: SecretStr = field(repr=False)
    authorize_url: str
    token_url: str


@dataclass(frozen=True, slots=True)
class GoogleTokens:
    """A token endpoint's answer. `refresh_token`: only from a code exchanged with offline
    access; `scopes`: what the person granted (Google lets them untick some); None when the
    answer does not say, which RFC 6749 §5.1 allows when they are the scopes asked for."""

    access_token: SecretStr = field(repr=False)
    refresh_token: SecretStr | None = field(repr=False)
    expires_at: datetime
    scopes: frozenset[str] | None


class TokenRefusedError(ProviderError):
    """Google's token endpoint refused the request with an OAuth error (`invalid_grant`: the
    code or refresh token is used, expired, revoked or another client's). Carries the error code
    only: Google's description may quote what was sent."""

    def __init__(self, error: str) -> None:
        super().__init__(f"Google's token endpoint refused the request ({error})")
        self.error = error


def scope_name(scope: str) -> str:
    """A scope's short name for people (``analytics.edit``)."""
    return scope.rsplit("/", 1)[-1]


class GoogleOAuth:
    """Create it once per process and `close()` it at shutdown; its session opens on first use.
    `timeout` bounds each token request, connecting included."""

    def __init__(self, app: GoogleOAuthApp, *, timeout: float = 10.0) -> None:
        self.app = app
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def authorization_url(
        self, *, scopes: tuple[str, ...], state: str, redirect_uri: str, code_challenge: str | None
    ) -> str:
        """Offline access with the consent screen forced, so that every sign-in, a re-connect
        included, answers a refresh token; the scopes granted before are kept
        (include_granted_scopes)."""
        params = {
            "client_id": self.app.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(scopes),
            "state": state,
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
        }
        if code_challenge is not None:
            params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        joiner = "&" if "?" in self.app.authorize_url else "?"
        return f"{self.app.authorize_url}{joiner}{urlencode(params)}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None, now: datetime
    ) -> GoogleTokens:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._request(form, now)

    async def refresh(self, refresh_token: SecretStr, *, now: datetime) -> GoogleTokens:
        """A new access token; Google does not rotate its refresh tokens."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token.reveal()}
        return await self._request(form, now)

    async def _request(self, form: dict[str, str], now: datetime) -> GoogleTokens:
        """Raises TokenRefusedError for a 4xx with an OAuth error, ConnectionFailedError when
        Google cannot be reached, answers 5xx or answers nothing usable."""
        form = {
            **form,
            "client_id": self.app.client_id,
            "client_secret": self.app.client_secret.reveal(),
        }
        try:
            async with self._get_session().post(
                self.app.token_url,
                data=form,
                headers={"Accept": "application/json"},
                allow_redirects=False,
            ) as resp:
                status, body = resp.status, parse_json(await resp.read())
        except (aiohttp.ClientError, TimeoutError) as err:
            failure = transport_error(err)
            raise ConnectionFailedError(
                f"Google's token endpoint could not be reached: {failure.reason}"
            ) from None
        if status >= 500:
            raise ConnectionFailedError(f"Google's token endpoint answered HTTP {status}")
        if status >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            raise TokenRefusedError(error if isinstance(error, str) else f"HTTP {status}")
        return parse_token_answer(body, status, now)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session


def parse_token_answer(body: object, status: int, now: datetime) -> GoogleTokens:
    if not isinstance(body, Mapping) or not isinstance(body.get("access_token"), str):
        raise ConnectionFailedError(f"Google's token endpoint gave no access token (HTTP {status})")
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    scope = body.get("scope")
    return GoogleTokens(
        access_token=SecretStr(body["access_token"]),
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        expires_at=now
        + timedelta(seconds=expires_in if isinstance(expires_in, int | float) else 3600),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else None,
    )

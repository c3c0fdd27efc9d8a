"""OAuth access tokens for GHL: refreshed before expiry, one refresh at a time per integration,
and every rotated pair stored before its access token is used."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from adapters.ghl import dto, metrics
from adapters.ghl.auth import OAuthClient, OAuthClientCredentials
from application.ports import Clock
from application.ports.oauth import OAuthTokens, TokenStore
from domain.errors import ConnectionFailedError, InvalidCredentialsError
from domain.values import SecretStr

log = structlog.get_logger(__name__)

# POSTs a form to /oauth/token; answers (HTTP status, parsed JSON body or None). Transport
# failures raise ConnectionFailedError; the call is never retried once sent, because a lost
# answer has already consumed the refresh token.
RequestTokens = Callable[[dict[str, str]], Awaitable[tuple[int, object]]]

# The official SDKs refresh within 30 s of expiry; a minute leaves room for slow calls.
DEFAULT_REFRESH_MARGIN = timedelta(seconds=60)


@dataclass(slots=True)
class _Held:
    tokens: OAuthTokens
    stored: bool  # False: GHL issued the pair but the store has not accepted it yet


def _digest(token: SecretStr) -> bytes:
    return hashlib.sha256(token.reveal().encode()).digest()


class OAuthTokenManager:
    """Access tokens per token chain (an integration's, or an agency install's shared by the
    integrations connected through it: the key logged as `token_chain`), cached in memory.

    GHL refresh tokens are single-use. The order of a refresh is: refresh at GHL, keep the new
    pair in memory marked unstored, save it through the TokenStore, then use it. If the save
    fails, the call fails and the pair stays in memory; the next call for the integration saves
    it before anything else, so the refresh token survives a store outage as long as this
    process does. Only a process crash between GHL's answer and the commit can still lose it
    (GHL offers no way to confirm a refresh), and the integration then needs re-authorising.
    Refreshes are single-flight per integration: within a process by a lock, across the copies
    sharing the store by its `refresh_lock`. Under both, the store's newest tokens are loaded
    before refreshing, so a copy uses the pair another copy has just stored instead of
    refreshing again with the refresh token that copy spent.
    """

    def __init__(
        self,
        *,
        store: TokenStore,
        clock: Clock,
        request_tokens: RequestTokens,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        app_client: OAuthClient | None = None,
    ) -> None:
        self._store = store
        self._app_client = app_client  # for integrations without a client of their own
        self._clock = clock
        self._request_tokens = request_tokens
        self._margin = refresh_margin
        self._held: dict[str, _Held] = {}
        self._rejected: dict[str, bytes] = {}  # digest of the access token GHL last refused
        self._locks: dict[str, asyncio.Lock] = {}

    async def access_token(
        self, integration_id: str, credentials: OAuthClientCredentials
    ) -> SecretStr:
        held = self._held.get(integration_id)
        if held is not None and held.stored and self._usable(integration_id, held.tokens):
            return held.tokens.access_token
        lock = self._locks.setdefault(integration_id, asyncio.Lock())
        async with lock:
            held = self._held.get(integration_id)
            if held is not None and held.stored and self._usable(integration_id, held.tokens):
                return held.tokens.access_token  # refreshed while this call waited
            async with self._store.refresh_lock(integration_id):
                return await self._newest_or_refreshed(integration_id, credentials)

    async def _newest_or_refreshed(
        self, integration_id: str, credentials: OAuthClientCredentials
    ) -> SecretStr:
        held = self._held.get(integration_id)
        if held is not None and not held.stored:
            await self._save(integration_id, held)
        if held is not None and self._usable(integration_id, held.tokens):
            return held.tokens.access_token
        stored = await self._store.load_tokens(integration_id)
        if stored is not None and self._usable(integration_id, stored):
            self._held[integration_id] = _Held(stored, stored=True)
            return stored.access_token
        refresh_token = (
            stored.refresh_token
            if stored is not None
            else held.tokens.refresh_token
            if held is not None
            else credentials.refresh_token
        )
        if refresh_token is None:
            raise InvalidCredentialsError("the integration has no GoHighLevel refresh token")
        tokens = await self._refresh(integration_id, credentials, refresh_token)
        held = self._held[integration_id] = _Held(tokens, stored=False)
        await self._save(integration_id, held)
        return tokens.access_token

    def reject(self, integration_id: str, access_token: SecretStr) -> None:
        """GHL answered 401 to `access_token`: never use it again, refresh on the next call."""
        self._rejected[integration_id] = _digest(access_token)

    def _usable(self, integration_id: str, tokens: OAuthTokens) -> bool:
        if self._rejected.get(integration_id) == _digest(tokens.access_token):
            return False
        return tokens.expires_at - self._margin > self._clock.now()

    async def _save(self, integration_id: str, held: _Held) -> None:
        await self._store.save_rotated_tokens(
            integration_id,
            refresh_token=held.tokens.refresh_token,
            access_token=held.tokens.access_token,
            expires_at=held.tokens.expires_at,
        )
        held.stored = True

    async def _refresh(
        self,
        integration_id: str,
        credentials: OAuthClientCredentials,
        refresh_token: SecretStr,
    ) -> OAuthTokens:
        client = credentials.client(self._app_client)
        if client is None:
            raise InvalidCredentialsError(
                "the integration has no GoHighLevel OAuth client and the service's app is not "
                "configured (GHL_OAUTH_CLIENT_ID)"
            )
        form = {
            "client_id": client.client_id.reveal(),
            "client_secret": client.client_secret.reveal(),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.reveal(),
            "user_type": credentials.user_type,
        }
        try:
            status, body = await self._request_tokens(form)
        except ConnectionFailedError:
            metrics.TOKEN_REFRESHES.labels("failed").inc()
            raise
        metrics.TOKEN_REFRESHES.labels(
            "ok" if status == 200 else "refused" if 400 <= status < 500 else "failed"
        ).inc()
        if 400 <= status < 500:
            log.warning("ghl_oauth_refresh_refused", token_chain=integration_id, status=status)
            raise InvalidCredentialsError(
                "GoHighLevel refused the OAuth refresh token", trace_id=dto.trace_id(body)
            )
        if status != 200:
            # Not retried: GHL may have consumed the refresh token before failing. If it did, the
            # next refresh is refused and reports INVALID_CREDENTIALS then.
            raise ConnectionFailedError(
                f"GoHighLevel's token endpoint answered HTTP {status}",
                trace_id=dto.trace_id(body),
            )
        tokens = dto.oauth_tokens(body, self._clock.now())
        log.info("ghl_oauth_refreshed", token_chain=integration_id)
        return tokens

"""Location tokens minted from an agency's token (an agency install in GHL's v2 shape: the
``/oauth/locationToken`` answer carries no refresh token, and the token lasts about a day).

Every location connected through the install shares one agency chain, stored once per
(sub-account, agency); its single-use refresh token is spent single-flight and stored before
use, by the OAuthTokenManager that integrations' own chains go through."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from adapters.ghl import dto
from adapters.ghl.auth import AgencyLocationCredentials, OAuthClient, OAuthClientCredentials
from adapters.ghl.oauth import DEFAULT_REFRESH_MARGIN, OAuthTokenManager, RequestTokens
from application.ports import Clock
from application.ports.oauth import OAuthTokens
from domain.errors import ConnectionFailedError, InvalidCredentialsError
from domain.values import SecretStr

log = structlog.get_logger(__name__)

# POSTs a form to /oauth/locationToken with the agency's bearer; answers (HTTP status, parsed
# JSON body or None). Transport failures raise ConnectionFailedError.
RequestLocationToken = Callable[[dict[str, str], SecretStr], Awaitable[tuple[int, object]]]

_AGENCY = OAuthClientCredentials(None, None, None, user_type="Company")


class StoredGrant(Protocol):
    @property
    def tokens(self) -> OAuthTokens: ...

    @property
    def origin(self) -> str: ...


class AgencyGrantStore(Protocol):
    """Where agency chains live, per (sub-account, agency); each write commits before it
    returns."""

    async def load(self, sub_account_id: str, company_id: str) -> StoredGrant | None: ...

    async def install(
        self, sub_account_id: str, company_id: str, tokens: OAuthTokens, *, origin: str
    ) -> None:
        """Store an install's chain in place of any earlier one."""
        ...

    async def save_rotated(self, sub_account_id: str, company_id: str, tokens: OAuthTokens) -> None:
        """Replace the chain's tokens (nothing if the grant is gone)."""
        ...

    async def delete(self, sub_account_id: str, company_id: str) -> None: ...

    def refresh_lock(
        self, sub_account_id: str, company_id: str
    ) -> AbstractAsyncContextManager[None]:
        """Held around "load, refresh if still needed, save" by every copy sharing the store."""
        ...


def install_origin(refresh_token: SecretStr) -> str:
    """Which install a chain grew from: a digest of the install's first refresh token."""
    return hashlib.sha256(refresh_token.reveal().encode()).hexdigest()


async def store_install(
    grants: AgencyGrantStore, sub_account_id: str, company_id: str, tokens: OAuthTokens
) -> None:
    """Store the chain of an install's code exchange, unless this install's chain is already
    stored (connecting a second location keeps a chain that may have rotated since)."""
    origin = install_origin(tokens.refresh_token)
    async with grants.refresh_lock(sub_account_id, company_id):
        stored = await grants.load(sub_account_id, company_id)
        if stored is None or stored.origin != origin:
            await grants.install(sub_account_id, company_id, tokens, origin=origin)


class _Chains:
    """The agency store seen as OAuthTokenManager's TokenStore: a chain's key is the JSON of
    (sub-account, agency)."""

    def __init__(self, grants: AgencyGrantStore) -> None:
        self._grants = grants

    async def load_tokens(self, key: str) -> OAuthTokens | None:
        stored = await self._grants.load(*_split(key))
        return None if stored is None else stored.tokens

    async def save_rotated_tokens(
        self,
        key: str,
        *,
        refresh_token: SecretStr,
        access_token: SecretStr,
        expires_at: datetime,
    ) -> None:
        await self._grants.save_rotated(
            *_split(key), OAuthTokens(access_token, refresh_token, expires_at)
        )

    def refresh_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        return self._grants.refresh_lock(*_split(key))


def _chain(credentials: AgencyLocationCredentials) -> str:
    return json.dumps([credentials.sub_account_id, credentials.company_id])


def _split(key: str) -> tuple[str, str]:
    sub_account_id, company_id = json.loads(key)
    return str(sub_account_id), str(company_id)


@dataclass(slots=True)
class _Minted:
    access_token: SecretStr = field(repr=False)
    expires_at: datetime


class AgencyLocationTokens:
    """Location access tokens, cached in memory until shortly before they expire, minted
    single-flight per location from the agency's access token; an agency token GHL refuses
    (401) is refreshed and the mint repeated once."""

    def __init__(
        self,
        *,
        grants: AgencyGrantStore,
        clock: Clock,
        request_tokens: RequestTokens,
        request_location_token: RequestLocationToken,
        app_client: OAuthClient | None,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        self._agency = OAuthTokenManager(
            store=_Chains(grants),
            clock=clock,
            request_tokens=request_tokens,
            refresh_margin=refresh_margin,
            app_client=app_client,
        )
        self._clock = clock
        self._margin = refresh_margin
        self._request_location_token = request_location_token
        self._minted: dict[tuple[str, str, str], _Minted] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    async def access_token(
        self, credentials: AgencyLocationCredentials, location_id: str
    ) -> SecretStr:
        key = (credentials.sub_account_id, credentials.company_id, location_id)
        minted = self._minted.get(key)
        if minted is not None and self._usable(minted):
            return minted.access_token
        async with self._locks.setdefault(key, asyncio.Lock()):
            minted = self._minted.get(key)
            if minted is not None and self._usable(minted):
                return minted.access_token  # minted while this call waited
            minted = self._minted[key] = await self._mint(credentials, location_id)
            return minted.access_token

    def reject(
        self, credentials: AgencyLocationCredentials, location_id: str, token: SecretStr
    ) -> None:
        """GHL answered 401 to the location token: the next call mints another."""
        key = (credentials.sub_account_id, credentials.company_id, location_id)
        minted = self._minted.get(key)
        if minted is not None and minted.access_token == token:
            del self._minted[key]

    def _usable(self, minted: _Minted) -> bool:
        return minted.expires_at - self._margin > self._clock.now()

    async def _mint(self, credentials: AgencyLocationCredentials, location_id: str) -> _Minted:
        chain = _chain(credentials)
        form = {"companyId": credentials.company_id, "locationId": location_id}
        agency = await self._agency.access_token(chain, _AGENCY)
        status, body = await self._request_location_token(form, agency)
        if status == 401:  # the agency's token was revoked before it expired: refresh, once
            self._agency.reject(chain, agency)
            agency = await self._agency.access_token(chain, _AGENCY)
            status, body = await self._request_location_token(form, agency)
        if 400 <= status < 500:
            log.warning("ghl_agency_location_token_refused", status=status)
            raise InvalidCredentialsError(
                "GoHighLevel gave no token for the location from the agency's install "
                f"(HTTP {status})",
                trace_id=dto.trace_id(body),
            )
        if status != 200:
            raise ConnectionFailedError(
                f"GoHighLevel's location token endpoint answered HTTP {status}",
                trace_id=dto.trace_id(body),
            )
        access_token, expires_at = dto.minted_location_token(body, self._clock.now())
        log.info("ghl_agency_location_token_minted")
        return _Minted(access_token, expires_at)

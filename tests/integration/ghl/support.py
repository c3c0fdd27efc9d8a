"""Helpers of the GHL adapter tests: fixture types, auth builders, an in-memory TokenStore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiohttp import web

from adapters.ghl.client import GhlTimeouts, HttpGhlClient, RetryPolicy
from adapters.ghl.fake import FakeGhl
from adapters.ghl.fake.seed import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_LOCATION_ID,
    DEMO_PRIVATE_TOKEN,
    DEMO_REFRESH_TOKEN,
)
from application.ports import Credentials, ProviderCall
from application.ports.oauth import OAuthTokens, TokenStore
from domain.errors import StorageUnavailableError
from domain.values import SecretStr
from tests.support.reference import GHL_REFERENCE

SPECS_DIR = GHL_REFERENCE / "openapi"

# Fast retries for tests; the shapes are the production ones.
FAST_RETRY = RetryPolicy(
    max_attempts=4, base_delay=0.02, max_delay=0.1, total_seconds=5.0, rate_limit_wait=2.0
)

FAST_TIMEOUTS = GhlTimeouts(connect=1.0, read=2.0)


@dataclass
class RunningFake:
    url: str
    fake: FakeGhl
    app: web.Application


class StartFake(Protocol):
    async def __call__(self, **kwargs: Any) -> RunningFake: ...


class MakeClient(Protocol):
    def __call__(
        self,
        running: RunningFake,
        *,
        token_store: TokenStore | None = None,
        retry: RetryPolicy = FAST_RETRY,
        timeouts: GhlTimeouts = FAST_TIMEOUTS,
    ) -> HttpGhlClient: ...


def ghl_call(
    *,
    integration_id: str = "integration-1",
    location_id: str = DEMO_LOCATION_ID,
    rate_limit_per_minute: int = 60_000,
    **credentials: str,
) -> ProviderCall:
    """A call for a `gohighlevel` integration on `location_id` holding `credentials`."""
    return ProviderCall(
        integration_id=integration_id,
        sub_account_id="sub-account-1",
        template_name="gohighlevel",
        config={"locationId": location_id},
        credentials=Credentials({k: SecretStr(v) for k, v in credentials.items()}),
        rate_limit_per_minute=rate_limit_per_minute,
    )


def pit_auth(
    token: str = DEMO_PRIVATE_TOKEN,
    *,
    integration_id: str = "integration-1",
    location_id: str = DEMO_LOCATION_ID,
    rate_limit_per_minute: int = 60_000,
) -> ProviderCall:
    """A call with a Private Integration token."""
    return ghl_call(
        integration_id=integration_id,
        location_id=location_id,
        rate_limit_per_minute=rate_limit_per_minute,
        apiKey=token,
    )


def oauth_call(integration_id: str, refresh_token: str = DEMO_REFRESH_TOKEN) -> ProviderCall:
    """A call with the Marketplace app's OAuth client, seeded with `refresh_token`."""
    return ghl_call(
        integration_id=integration_id,
        clientId=DEMO_CLIENT_ID,
        clientSecret=DEMO_CLIENT_SECRET,
        refreshToken=refresh_token,
    )


class InMemoryTokenStore:
    """TokenStore in memory. `fail_saves` makes the next saves raise, as a database outage or a
    crash before the commit would."""

    def __init__(self, tokens: dict[str, OAuthTokens] | None = None) -> None:
        self.tokens: dict[str, OAuthTokens] = dict(tokens or {})
        self.saves: list[OAuthTokens] = []
        self.fail_saves = 0
        self._refresh_locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def refresh_lock(self, integration_id: str) -> AsyncIterator[None]:
        """Shared by every client given this store, as the database's lock is by copies."""
        async with self._refresh_locks.setdefault(integration_id, asyncio.Lock()):
            yield

    async def load_tokens(self, integration_id: str) -> OAuthTokens | None:
        return self.tokens.get(integration_id)

    async def save_rotated_tokens(
        self,
        integration_id: str,
        *,
        refresh_token: SecretStr,
        access_token: SecretStr,
        expires_at: datetime,
    ) -> None:
        if self.fail_saves > 0:
            self.fail_saves -= 1
            raise StorageUnavailableError("the token store is unavailable")
        tokens = OAuthTokens(access_token, refresh_token, expires_at)
        self.tokens[integration_id] = tokens
        self.saves.append(tokens)


@dataclass(frozen=True, slots=True)
class StoredGrant:
    tokens: OAuthTokens
    origin: str


class InMemoryAgencyGrants:
    """AgencyGrantStore in memory, keyed by (sub-account, agency) like the database's; counts
    the rotated chains it stored."""

    def __init__(self) -> None:
        self.grants: dict[tuple[str, str], StoredGrant] = {}
        self.installs = 0
        self.rotations: list[OAuthTokens] = []
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def load(self, sub_account_id: str, company_id: str) -> StoredGrant | None:
        return self.grants.get((sub_account_id, company_id))

    async def install(
        self, sub_account_id: str, company_id: str, tokens: OAuthTokens, *, origin: str
    ) -> None:
        self.installs += 1
        self.grants[(sub_account_id, company_id)] = StoredGrant(tokens, origin)

    async def save_rotated(self, sub_account_id: str, company_id: str, tokens: OAuthTokens) -> None:
        stored = self.grants.get((sub_account_id, company_id))
        if stored is not None:
            self.rotations.append(tokens)
            self.grants[(sub_account_id, company_id)] = StoredGrant(tokens, stored.origin)

    async def delete(self, sub_account_id: str, company_id: str) -> None:
        self.grants.pop((sub_account_id, company_id), None)

    @asynccontextmanager
    async def refresh_lock(self, sub_account_id: str, company_id: str) -> AsyncIterator[None]:
        async with self._locks.setdefault((sub_account_id, company_id), asyncio.Lock()):
            yield


class ShiftedClock:
    """The real time, moved forward by `shift` (a day later: every token of the day expired)."""

    def __init__(self) -> None:
        self.shift = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

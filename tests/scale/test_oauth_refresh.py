"""OAuth refresh single-flight across copies: copies sharing one database refresh an expired (or
revoked) GHL access token once between them, so GHL's single-use refresh token is never spent
twice. Each copy is the real composition root (its own engine, token store, token manager)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from dependency_injector import providers

from adapters.ghl.client import HttpGhlClient
from adapters.ghl.fake import FAKE_GHL, FakeGhl, create_app
from adapters.ghl.fake.seed import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_LOCATION_ID,
    DEMO_REFRESH_TOKEN,
)
from application.ports import ProviderCall
from application.use_cases.create_integration import CreateIntegrationCommand
from bench.common import Keys
from domain.values import Principal, Role
from entrypoints.commands import migrate, resolve
from entrypoints.config import Settings
from entrypoints.container import Container
from tests.integration.ghl.support import oauth_call
from tests.support.databases import Kind, empty_database

ADMIN = Principal("admin-scale", Role.ADMIN)
CALLS_PER_COPY = 20


class ShiftedClock:
    """The system clock, moved forward by `offset`: lets a copy see its tokens expire."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def fake() -> AsyncIterator[tuple[str, FakeGhl]]:
    app = create_app(random_seed=11)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app[FAKE_GHL]
    await server.close()


@asynccontextmanager
async def running_copy(settings: Settings, clock: ShiftedClock) -> AsyncIterator[Container]:
    container = Container(settings=settings)
    container.clock.override(providers.Object(clock))
    await container.init_resources()  # type: ignore[misc]
    try:
        yield container
    finally:
        await container.shutdown_resources()  # type: ignore[misc]


def oauth_auth(integration_id: str) -> ProviderCall:
    return oauth_call(integration_id)


def expire_access_tokens(ghl: FakeGhl) -> None:
    for grant in ghl.state.access.values():
        if grant.kind == "oauth":
            grant.expires_at = datetime.now(UTC) - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("kind", "copies"),
    [pytest.param("postgres", 2, marks=pytest.mark.postgres), ("sqlite", 1)],
    ids=["two-copies-on-postgres", "one-copy-on-sqlite"],
)
@pytest.mark.parametrize("expiry", ["expired", "revoked"])
async def test_copies_sharing_a_database_refresh_an_expired_oauth_token_once_between_them(
    fake: tuple[str, FakeGhl], tmp_path: Path, kind: Kind, copies: int, expiry: str
) -> None:
    ghl_url, ghl = fake
    keys = Keys()
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(empty_database(kind, tmp_path))
        settings = Settings.from_env(
            {
                "INTEGRATIONS_ENV": "production",
                "GRPC_INSECURE": "true",
                "META_APP_ID": "1234567890",
                "META_APP_SECRET": "a-meta-app-secret",
                "META_WEBHOOK_VERIFY_TOKEN": "a-meta-verify-token",
                "PUBLIC_BASE_URL": "https://integrations.example",
                "INTEGRATIONS_DATA_DIR": str(tmp_path / "var"),
                "DATABASE_URL": url,
                "INTEGRATIONS_MASTER_KEYS": keys.master_keys,
                "JWT_SECRET": keys.jwt_secret,
                "PAGE_TOKEN_SECRET": keys.page_token_secret,
                "GHL_API_BASE_URL": ghl_url,
            }
        )
        await migrate(settings)
        clocks = [ShiftedClock() for _ in range(copies)]
        containers = [
            await stack.enter_async_context(running_copy(settings, clock)) for clock in clocks
        ]
        created = await (await resolve(containers[0].grpc_use_cases)).create_integration.execute(
            CreateIntegrationCommand(
                actor=ADMIN,
                sub_account_id="sa-oauth",
                template="gohighlevel_oauth",
                name="Clinic CRM",
                config={
                    "clientId": DEMO_CLIENT_ID,
                    "clientSecret": DEMO_CLIENT_SECRET,
                    "refreshToken": DEMO_REFRESH_TOKEN,
                    "locationId": DEMO_LOCATION_ID,
                },
            )
        )
        assert created.test is not None
        assert created.test.success
        assert ghl.token_refreshes == 1  # the connection test spent the configured token
        clients: list[HttpGhlClient] = [await resolve(c.ghl) for c in containers]
        auth = oauth_auth(created.integration.id)
        await clients[0].get_account(auth)  # copy 0 holds the access token in memory too

        # Every answer takes a while: a copy that did not wait for another's refresh would
        # read the spent refresh token from the database meanwhile, and have it refused.
        ghl.faults.latency_ms = 100
        expire_access_tokens(ghl)  # GHL refuses the old access token from now on ...
        if expiry == "expired":
            for clock in clocks:  # ... and every copy sees it past its expiry
                clock.offset = timedelta(days=2)
        locations = await asyncio.gather(
            *(client.get_account(auth) for client in clients for _ in range(CALLS_PER_COPY))
        )

    assert {location.id for location in locations} == {DEMO_LOCATION_ID}
    refreshes = [r.status for r in ghl.log if r.path == "/oauth/token"]
    assert refreshes == [200, 200]  # the connection test's, then one for every copy: none refused
    assert ghl.token_refreshes == 2

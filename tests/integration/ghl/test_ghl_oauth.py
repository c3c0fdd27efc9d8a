"""OAuth against the fake's token endpoint (single-use, rotating refresh tokens): refresh before
expiry, single-flight per integration, and the rotated pair stored before it is used."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from adapters.ghl.fake.seed import (
    DEMO_CLIENT_SECRET,
    DEMO_LOCATION_ID,
    DEMO_REFRESH_TOKEN,
)
from application.ports import ProviderCall
from domain.errors import InvalidCredentialsError, StorageUnavailableError
from domain.values import SecretStr
from tests.integration.ghl.support import (
    InMemoryTokenStore,
    MakeClient,
    RunningFake,
    oauth_call,
)


def oauth_auth(refresh_token: str = DEMO_REFRESH_TOKEN) -> ProviderCall:
    return oauth_call("oauth-integration", refresh_token)


def api_calls(running: RunningFake) -> list[str]:
    return [r.path for r in running.fake.log if r.path != "/oauth/token"]


async def test_fifty_concurrent_calls_refresh_the_token_once(
    running: RunningFake, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    client = make_client(running, token_store=store)

    locations = await asyncio.gather(*(client.get_account(oauth_auth()) for _ in range(50)))

    assert {loc.id for loc in locations} == {DEMO_LOCATION_ID}
    assert running.fake.token_refreshes == 1
    assert [r.path for r in running.fake.log].count("/oauth/token") == 1
    assert len(store.saves) == 1
    assert running.fake.state.refresh[DEMO_REFRESH_TOKEN].used


async def test_the_rotated_pair_is_stored_before_its_access_token_is_used(
    running: RunningFake, make_client: MakeClient
) -> None:
    calls_when_saved: list[list[str]] = []

    class RecordingStore(InMemoryTokenStore):
        async def save_rotated_tokens(
            self,
            integration_id: str,
            *,
            refresh_token: SecretStr,
            access_token: SecretStr,
            expires_at: datetime,
        ) -> None:
            calls_when_saved.append(api_calls(running))
            await super().save_rotated_tokens(
                integration_id,
                refresh_token=refresh_token,
                access_token=access_token,
                expires_at=expires_at,
            )

    client = make_client(running, token_store=RecordingStore())

    await client.get_account(oauth_auth())

    assert calls_when_saved == [[]]
    assert api_calls(running) == [f"/locations/{DEMO_LOCATION_ID}"]


async def test_a_token_close_to_expiry_is_refreshed_before_the_call(
    running: RunningFake, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    client = make_client(running, token_store=store)
    await client.get_account(oauth_auth())
    first = store.tokens["oauth-integration"]
    # The stored access token is still accepted by GHL but expires within the margin.
    store.tokens["oauth-integration"] = replace(
        first, expires_at=datetime.now(UTC) + timedelta(seconds=30)
    )
    fresh_client = make_client(running, token_store=store)  # nothing cached in memory

    await fresh_client.get_account(oauth_auth())

    assert running.fake.token_refreshes == 2
    second = store.tokens["oauth-integration"]
    assert second.refresh_token.reveal() != first.refresh_token.reveal()
    assert running.fake.state.refresh[first.refresh_token.reveal()].used


async def test_a_stored_token_is_preferred_over_the_seed_refresh_token(
    running: RunningFake, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    await make_client(running, token_store=store).get_account(oauth_auth())

    # Another copy of the service: the integration's seed refresh token is spent, the store's is not.
    await make_client(running, token_store=store).get_account(oauth_auth())

    assert running.fake.token_refreshes == 1


async def test_a_refused_refresh_is_invalid_credentials_without_the_secret(
    running: RunningFake, make_client: MakeClient
) -> None:
    client = make_client(running, token_store=InMemoryTokenStore())

    with capture_logs() as logs, pytest.raises(InvalidCredentialsError) as raised:
        await client.get_account(oauth_auth("rt-revoked-refresh-token-42"))

    assert logs  # the refusal is logged ...
    for text in (str(raised.value), repr(raised.value), str(logs)):  # ... without the secrets
        assert "rt-revoked-refresh-token-42" not in text
        assert DEMO_CLIENT_SECRET not in text
    assert raised.value.trace_id
    assert api_calls(running) == []


async def test_a_401_on_the_access_token_refreshes_once_and_repeats_the_call(
    running: RunningFake, make_client: MakeClient
) -> None:
    store = InMemoryTokenStore()
    client = make_client(running, token_store=store)
    await client.get_account(oauth_auth())
    revoked = store.tokens["oauth-integration"].access_token.reveal()
    del running.fake.state.access[revoked]  # GHL revoked it before it expired

    location = await client.get_account(oauth_auth())

    assert location.id == DEMO_LOCATION_ID
    assert running.fake.token_refreshes == 2
    assert [r.status for r in running.fake.log if r.path.startswith("/locations")] == [
        200,
        401,
        200,
    ]


async def test_a_refresh_whose_save_fails_keeps_the_new_refresh_token_for_the_next_call(
    running: RunningFake, make_client: MakeClient
) -> None:
    """The window between GHL's answer and the store's commit. GHL has already consumed the old
    refresh token, so the design keeps the new pair in memory, unused, and fails the call with
    the store's error; the next call saves that pair first and only then uses it. Nothing is
    refreshed twice and the store ends up with the refresh token GHL will accept. (A crash of
    the process itself in that window is the one loss no client can prevent.)"""
    store = InMemoryTokenStore()
    store.fail_saves = 1
    client = make_client(running, token_store=store)

    with pytest.raises(StorageUnavailableError):
        await client.get_account(oauth_auth())
    assert running.fake.token_refreshes == 1
    assert api_calls(running) == []  # the new access token was not used
    assert store.tokens == {}

    location = await client.get_account(oauth_auth())

    assert location.id == DEMO_LOCATION_ID
    assert running.fake.token_refreshes == 1
    saved = store.tokens["oauth-integration"].refresh_token.reveal()
    assert running.fake.state.refresh[saved].used is False  # GHL accepts it next time
    assert running.fake.state.refresh[DEMO_REFRESH_TOKEN].used is True


async def test_oauth_credentials_without_a_token_store_are_invalid_credentials(
    running: RunningFake, make_client: MakeClient
) -> None:
    client = make_client(running)

    with pytest.raises(InvalidCredentialsError, match="token store"):
        await client.get_account(oauth_auth())
    assert running.fake.log == []

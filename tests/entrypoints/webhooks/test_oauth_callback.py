"""``GET /oauth/{provider}/callback``: the browser's way back from a sign-in, answered with a
redirect to the session's return URL; its query (state, code) is never logged or echoed."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from entrypoints.webhooks.app import (
    create_webhook_app,
    start_webhook_server,
    stop_webhook_server,
)
from tests.support.connect_world import RETURN_URL, World, connect_world, outcome_of


async def serve(aiohttp_client: AiohttpClient, world: World):  # type: ignore[no-untyped-def]
    return await aiohttp_client(
        create_webhook_app([], connect=world.complete, connect_providers=("acme",))
    )


async def test_a_sign_in_comes_back_connected_with_nothing_to_cache_or_refer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On the server as `serve` runs it (no access log), at every level."""
    world = await connect_world()
    app = create_webhook_app([], connect=world.complete, connect_providers=("acme",))
    runner, port = await start_webhook_server(app, host="127.0.0.1", port=0)
    session_id, state, _ = await world.begin()
    caplog.set_level(logging.DEBUG)
    try:
        with capture_logs() as logs:
            async with aiohttp.ClientSession() as http:
                response = await http.get(
                    f"http://127.0.0.1:{port}/oauth/acme/callback",
                    params={"state": state, "code": "good-code"},
                    allow_redirects=False,
                )
    finally:
        await stop_webhook_server(runner)

    assert response.status == 303
    assert outcome_of(response.headers["Location"]) == {
        "connection_session": session_id,
        "state": "connected",
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    logged = repr(logs) + caplog.text
    assert "connect_callback" in logged
    for secret in (state, "good-code", "user-token-secret", "token-of-acct-1"):
        assert secret not in logged
        assert secret not in response.headers["Location"]


async def test_an_unknown_state_goes_to_the_first_allowed_page(
    aiohttp_client: AiohttpClient,
) -> None:
    world = await connect_world()
    client = await serve(aiohttp_client, world)

    response = await client.get(
        "/oauth/acme/callback", params={"state": "forged", "code": "x"}, allow_redirects=False
    )

    assert response.status == 303
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == RETURN_URL
    assert parse_qs(location.query) == {"state": ["failed"], "error": ["invalid_state"]}


async def test_with_no_page_to_go_to_an_unknown_state_gets_a_plain_400(
    aiohttp_client: AiohttpClient,
) -> None:
    world = await connect_world(return_urls=())
    client = await serve(aiohttp_client, world)

    response = await client.get("/oauth/acme/callback", params={"state": "forged"})

    assert response.status == 400
    text = await response.text()
    assert "forged" not in text
    assert "Start connecting again" in text


async def test_only_providers_with_a_sign_in_have_a_callback(
    aiohttp_client: AiohttpClient,
) -> None:
    world = await connect_world()
    client = await serve(aiohttp_client, world)

    response = await client.get("/oauth/plain/callback", params={"state": "x"})

    assert response.status == 404

"""``GET /webhooks/{sender}``: a sender's check of the endpoint, answered with its challenge
verbatim, or 403; the token it carries is never logged."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from entrypoints.webhooks.app import create_webhook_app
from tests.entrypoints.webhooks.conftest import Client, Inbox, make_receiver
from tests.integration.webhooks.support import Signer

TOKEN = "the-platforms-verify-token"


class Handshake:
    def answer(self, query: Mapping[str, str]) -> str | None:
        token = query.get("hub.verify_token", "")
        if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(token, TOKEN):
            return None
        return query.get("hub.challenge")


async def client_for(aiohttp_client: AiohttpClient, inbox: Inbox, signer: Signer) -> Client:
    return await aiohttp_client(
        create_webhook_app([make_receiver(inbox, signer)], handshakes={"checker": Handshake()})
    )


async def test_a_matching_check_gets_its_challenge_back_verbatim(
    aiohttp_client: AiohttpClient, inbox: Inbox, signer: Signer
) -> None:
    client = await client_for(aiohttp_client, inbox, signer)

    response = await client.get(
        "/webhooks/checker",
        params={"hub.mode": "subscribe", "hub.verify_token": TOKEN, "hub.challenge": "1158201444"},
    )

    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "1158201444"


async def test_a_wrong_token_is_forbidden_and_never_logged(
    aiohttp_client: AiohttpClient, inbox: Inbox, signer: Signer
) -> None:
    client = await client_for(aiohttp_client, inbox, signer)

    with capture_logs() as logs:
        response = await client.get(
            "/webhooks/checker",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": "guessed-token",
                "hub.challenge": "1",
            },
        )

    assert response.status == 403
    assert await response.text() != "1"
    assert "guessed-token" not in repr(logs)


async def test_only_senders_with_a_handshake_answer_a_get(
    aiohttp_client: AiohttpClient, inbox: Inbox, signer: Signer
) -> None:
    client = await client_for(aiohttp_client, inbox, signer)

    response = await client.get("/webhooks/ghl", params={"hub.challenge": "1"})

    assert response.status == 405

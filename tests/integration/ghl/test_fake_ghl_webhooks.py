"""The fake's webhooks: sent when its data changes, signed with Ed25519 over the raw body as
GHL signs ``x-ghl-signature``, and re-delivered only after a 429."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from application.ports.crm import ContactFields, OpportunityStatus
from tests.integration.ghl.support import MakeClient, RunningFake, StartFake, pit_auth


@dataclass
class Receiver:
    url: str
    deliveries: list[tuple[bytes, str]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer, then 200


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = web.Application()
    box = Receiver(url="")

    async def hook(request: web.Request) -> web.Response:
        box.deliveries.append((await request.read(), request.headers["x-ghl-signature"]))
        return web.Response(status=box.answers.pop(0) if box.answers else 200)

    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    box.url = str(server.make_url("/hook"))
    yield box
    await server.close()


async def public_key(running: RunningFake) -> Ed25519PublicKey:
    async with (
        aiohttp.ClientSession() as http,
        http.get(running.url + "/_fake/webhooks/public-key") as resp,
    ):
        key = load_pem_public_key((await resp.text()).encode())
    assert isinstance(key, Ed25519PublicKey)
    return key


async def test_a_new_contact_sends_a_contact_create_webhook_signed_over_the_raw_body(
    start_fake: StartFake, make_client: MakeClient, receiver: Receiver
) -> None:
    running = await start_fake(webhook_url=receiver.url)
    created = await make_client(running).upsert_contact(
        pit_auth(), ContactFields(email="new@example.com", first_name="Neo")
    )
    await running.fake.webhooks.drain()

    [(body, signature)] = receiver.deliveries
    (await public_key(running)).verify(base64.b64decode(signature), body)
    event = json.loads(body)
    assert event["type"] == "ContactCreate"
    assert event["locationId"] == created.contact.location_id
    assert event["id"] == created.contact.id
    assert event["email"] == "new@example.com"
    assert event["webhookId"]
    assert event["timestamp"].endswith("Z")
    assert body == json.dumps(event, separators=(",", ":")).encode()  # compact, as GHL's


async def test_a_signature_does_not_verify_a_changed_body(
    start_fake: StartFake, make_client: MakeClient, receiver: Receiver
) -> None:
    running = await start_fake(webhook_url=receiver.url)
    await make_client(running).upsert_contact(pit_auth(), ContactFields(email="x@example.com"))
    await running.fake.webhooks.drain()

    [(body, signature)] = receiver.deliveries
    with pytest.raises(InvalidSignature):
        (await public_key(running)).verify(base64.b64decode(signature), body.replace(b"x@", b"y@"))


async def test_a_status_change_sends_both_events_ghl_sends(
    start_fake: StartFake, make_client: MakeClient, receiver: Receiver
) -> None:
    running = await start_fake(webhook_url=receiver.url)
    await make_client(running).update_opportunity_status(
        pit_auth(), "fakeOpportunity00001", OpportunityStatus.LOST
    )
    await running.fake.webhooks.drain()

    events = [json.loads(body) for body, _ in receiver.deliveries]
    assert [e["type"] for e in events] == ["OpportunityStatusUpdate", "OpportunityUpdate"]
    assert {e["status"] for e in events} == {"lost"}


async def test_a_429_from_the_receiver_is_retried_and_other_failures_are_not(
    start_fake: StartFake, make_client: MakeClient, receiver: Receiver
) -> None:
    running = await start_fake(webhook_url=receiver.url, webhook_retry_delay=0.01)
    client = make_client(running)

    receiver.answers = [429, 429, 200]
    await client.upsert_contact(pit_auth(), ContactFields(email="one@example.com"))
    await running.fake.webhooks.drain()
    receiver.answers = [500]
    await client.upsert_contact(pit_auth(), ContactFields(email="two@example.com"))
    await running.fake.webhooks.drain()

    attempts = [(a.attempt, a.status) for a in running.fake.webhooks.attempts]
    assert attempts == [(1, 429), (2, 429), (3, 200), (1, 500)]
    ids = [json.loads(body)["webhookId"] for body, _ in receiver.deliveries]
    assert ids[0] == ids[1] == ids[2] != ids[3]  # the same delivery, repeated

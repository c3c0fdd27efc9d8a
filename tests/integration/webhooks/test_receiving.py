"""Deliveries signed and posted to the real aiohttp app, stored in a real inbox: every payload
GHL documents (its doc bugs included), bad and replayed signatures, duplicates, an outage."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence import engine as engine_module
from adapters.persistence.engine import create_engine
from adapters.persistence.models import PLATFORM_DELIVERIES
from domain.webhook_delivery import EventKind
from entrypoints.webhooks.app import create_webhook_app
from tests.fakes import FakeCipher, FixedClock
from tests.integration.webhooks.conftest import Client, Integrations, make_receiver
from tests.integration.webhooks.support import (
    REFERENCE,
    Signer,
    TcpProxy,
    reference_payload,
    stored_deliveries,
)
from tests.support.databases import opened_driver_pool

PLATFORM = "platform"

# What each documented example becomes when GHL posts it to the marketplace endpoint: its kind,
# or a delivery of the platform when it names no location (agency-level events: no integration
# can own them), kept apart from the integrations' inbox.
MARKETPLACE: dict[str, EventKind | str] = {
    "webhook-AppInstall-agency.json": PLATFORM,
    "webhook-AppInstall-location-whitelabel.json": EventKind.APP_INSTALLED,
    "webhook-AppInstall-location.json": EventKind.APP_INSTALLED,
    "webhook-AppUninstall-agency.json": PLATFORM,
    "webhook-AppUninstall-location.json": EventKind.APP_UNINSTALLED,
    "webhook-AppointmentCreate.json": EventKind.APPOINTMENT_CREATED,
    # Doc bug: the Update and Delete examples say "type": "AppointmentCreate", and are byte for
    # byte the Create example; only a routed URL tells them apart (see the routed cases below).
    "webhook-AppointmentDelete.json": EventKind.APPOINTMENT_CREATED,
    "webhook-AppointmentUpdate.json": EventKind.APPOINTMENT_CREATED,
    "webhook-ContactCreate.json": EventKind.CONTACT_CREATED,
    "webhook-ContactDelete.json": EventKind.CONTACT_DELETED,
    "webhook-ContactDndUpdate.json": EventKind.CONTACT_UPDATED,
    "webhook-ContactTagUpdate.json": EventKind.CONTACT_UPDATED,
    "webhook-ContactUpdate.json": EventKind.CONTACT_UPDATED,
    "webhook-ConversationUnreadUpdate.json": EventKind.UNHANDLED,
    # Doc bug: "type": "OutboundMessage" with "direction": "inbound"; the direction wins.
    "webhook-InboundMessage-call.json": EventKind.MESSAGE_INBOUND,
    "webhook-InboundMessage-email.json": EventKind.MESSAGE_INBOUND,
    "webhook-InboundMessage-voicemail.json": EventKind.MESSAGE_INBOUND,
    "webhook-InboundMessage.json": EventKind.MESSAGE_INBOUND,
    "webhook-LocationCreate.json": PLATFORM,
    "webhook-NoteCreate.json": EventKind.UNHANDLED,
    "webhook-OpportunityAssignedToUpdate.json": EventKind.UNHANDLED,
    "webhook-OpportunityCreate.json": EventKind.UNHANDLED,
    "webhook-OpportunityDelete.json": EventKind.UNHANDLED,
    "webhook-OpportunityMonetaryValueUpdate.json": EventKind.UNHANDLED,
    "webhook-OpportunityStageUpdate.json": EventKind.UNHANDLED,
    "webhook-OpportunityStatusUpdate.json": EventKind.OPPORTUNITY_STATUS_CHANGED,
    # GHL sends it beside OpportunityStatusUpdate; it carries the status, so it is one too.
    "webhook-OpportunityUpdate.json": EventKind.OPPORTUNITY_STATUS_CHANGED,
    "webhook-OutboundMessage-call.json": EventKind.MESSAGE_OUTBOUND,
    "webhook-OutboundMessage-email.json": EventKind.MESSAGE_OUTBOUND,
    "webhook-OutboundMessage-voicemail-workflow.json": EventKind.MESSAGE_OUTBOUND,
    # Doc bug: an OutboundMessage with "direction": "inbound"; the direction wins.
    "webhook-OutboundMessage.json": EventKind.MESSAGE_INBOUND,
    "webhook-ProviderOutboundMessage-Email.json": EventKind.UNHANDLED,
    "webhook-ProviderOutboundMessage-SMS.json": EventKind.UNHANDLED,
    "webhook-TaskCreate.json": EventKind.UNHANDLED,
    # The guide's test body nests its fields under "data", with no locationId in them.
    "webhook-test-payload-WebhookIntegrationGuide.json": PLATFORM,
}
NOT_PAYLOADS = {"webhook-delivery-policy.json"}

ROUTED: dict[tuple[str, str], EventKind] = {
    ("webhook-AppointmentUpdate.json", "AppointmentUpdate"): EventKind.APPOINTMENT_UPDATED,
    ("webhook-AppointmentDelete.json", "AppointmentDelete"): EventKind.APPOINTMENT_DELETED,
    ("webhook-AppointmentDelete.json", "appointment.deleted"): EventKind.APPOINTMENT_DELETED,
    ("webhook-ContactCreate.json", "contact.created"): EventKind.CONTACT_CREATED,
    ("webhook-OpportunityStatusUpdate.json", "opportunity.status_change"): (
        EventKind.OPPORTUNITY_STATUS_CHANGED
    ),
    ("webhook-OutboundMessage-call.json", "outbound.message"): EventKind.MESSAGE_OUTBOUND,
}


def test_every_documented_example_has_an_expected_outcome() -> None:
    found = {path.name for path in REFERENCE.glob("webhook-*.json")}

    assert found - NOT_PAYLOADS == set(MARKETPLACE)


async def post_reference(
    client: Client,
    signer: Signer,
    integrations: Integrations,
    name: str,
    route: str | None,
) -> tuple[int, dict[str, object]]:
    body = reference_payload(name)
    location = json.loads(body).get("locationId")
    if location is not None:
        await integrations.add(location)
    sent_at = json.loads(body).get("timestamp")
    if isinstance(sent_at, str):  # received as it was sent, not as a replay a year later
        integrations.clock.current = datetime.fromisoformat(sent_at)
    url = "/webhooks/ghl" if route is None else f"/webhooks/ghl/{route}"
    response = await client.post(url, data=body, headers=signer.ghl(body))
    return response.status, await response.json()


@pytest.mark.parametrize("name", sorted(MARKETPLACE))
async def test_each_documented_example_is_stored_with_its_kind(
    client: Client, signer: Signer, integrations: Integrations, engine: AsyncEngine, name: str
) -> None:
    expected = MARKETPLACE[name]

    status, answer = await post_reference(client, signer, integrations, name, None)

    rows = await stored_deliveries(engine)
    if expected == PLATFORM:
        assert status == 200, answer
        assert rows == []
        async with engine.connect() as connection:
            [kept] = (await connection.execute(select(PLATFORM_DELIVERIES))).all()
        assert kept.event_type == json.loads(reference_payload(name))["type"]
        assert (kept.status, kept.signature_scheme) == ("ignored", "published-ed25519")
        assert kept.delivery_id == answer["deliveryId"]
        again, _ = await post_reference(client, signer, integrations, name, None)
        assert again == 200  # a retry is acknowledged, and kept once
        async with engine.connect() as connection:
            assert len((await connection.execute(select(PLATFORM_DELIVERIES))).all()) == 1
        return
    assert status == 200, answer
    [row] = rows
    assert row.kind == expected
    assert row.event_type == json.loads(reference_payload(name))["type"]
    assert row.status == "pending"
    assert row.signature_scheme == "published-ed25519"
    assert row.payload == json.loads(reference_payload(name))
    assert row.delivery_id == answer["deliveryId"]


@pytest.mark.parametrize(("name", "route"), sorted(ROUTED))
async def test_a_routed_url_names_the_event_whatever_the_body_says(
    client: Client,
    signer: Signer,
    integrations: Integrations,
    engine: AsyncEngine,
    name: str,
    route: str,
) -> None:
    status, answer = await post_reference(client, signer, integrations, name, route)

    assert status == 200, answer
    [row] = await stored_deliveries(engine)
    assert (row.event_type, row.kind) == (route, ROUTED[name, route])


async def test_ghls_legacy_rsa_signature_is_accepted(
    client: Client, signer: Signer, integrations: Integrations, engine: AsyncEngine
) -> None:
    await integrations.add("loc-1")
    body = b'{"type":"ContactCreate","locationId":"loc-1","id":"c-1"}'

    response = await client.post("/webhooks/ghl", data=body, headers=signer.ghl_rsa(body))

    assert response.status == 200
    [row] = await stored_deliveries(engine)
    assert row.signature_scheme == "published-rsa-sha256"


async def test_the_seeds_hmac_is_accepted_on_its_routes_only(
    client: Client, integrations: Integrations, engine: AsyncEngine
) -> None:
    await integrations.add("loc-1", secret="seed-webhook-secret-1234")
    body = b'{"locationId":"loc-1","id":"c-1"}'
    headers = Signer.hmac("seed-webhook-secret-1234", body)

    routed = await client.post("/webhooks/ghl/contact.created", data=body, headers=headers)
    marketplace = await client.post("/webhooks/ghl", data=body, headers=headers)

    assert (routed.status, marketplace.status) == (200, 401)
    [row] = await stored_deliveries(engine)
    assert (row.kind, row.signature_scheme) == ("contact.created", "hmac-sha256")


async def test_a_template_that_uses_standard_webhooks_is_verified_by_them(
    client: Client, integrations: Integrations, engine: AsyncEngine, clock: FixedClock
) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    await integrations.add("loc-9", template="crm_x", secret=secret)
    body = b'{"type":"contact.created","locationId":"loc-9"}'
    headers = Signer.standard(secret, "msg_1", int(clock.now().timestamp()), body)

    response = await client.post("/webhooks/ghl", data=body, headers=headers)

    assert response.status == 200
    [row] = await stored_deliveries(engine)
    assert (row.delivery_id, row.signature_scheme) == ("msg_1", "standard-webhooks")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ghl-signature": "N/A"},
        {"x-ghl-signature": "bm90IGEgc2lnbmF0dXJl"},
        {"x-wh-signature": "bm90IGEgc2lnbmF0dXJl"},
        {"x-webhook-signature": "00" * 32},
    ],
    ids=["missing", "N/A", "garbage ed25519", "garbage rsa", "hmac where ghl is required"],
)
async def test_a_missing_or_bad_signature_is_401_and_stores_nothing(
    client: Client,
    integrations: Integrations,
    engine: AsyncEngine,
    headers: dict[str, str],
) -> None:
    await integrations.add("loc-1")
    body = b'{"type":"ContactCreate","locationId":"loc-1"}'

    response = await client.post("/webhooks/ghl", data=body, headers=headers)

    assert response.status == 401
    error = (await response.json())["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    assert error["details"][0]["reason"] == "WEBHOOK_SIGNATURE_INVALID"
    assert await stored_deliveries(engine) == []


async def test_a_body_signed_by_another_key_is_401(
    client: Client, integrations: Integrations, engine: AsyncEngine
) -> None:
    await integrations.add("loc-1")
    body = b'{"type":"ContactCreate","locationId":"loc-1"}'

    response = await client.post("/webhooks/ghl", data=body, headers=Signer().ghl(body))

    assert response.status == 401
    assert await stored_deliveries(engine) == []


async def test_a_replayed_delivery_outside_the_window_is_401(
    client: Client,
    signer: Signer,
    integrations: Integrations,
    engine: AsyncEngine,
    clock: FixedClock,
) -> None:
    await integrations.add("loc-1")
    sent = (clock.now() - timedelta(minutes=6)).isoformat().replace("+00:00", "Z")
    body = json.dumps(
        {"type": "ContactCreate", "locationId": "loc-1", "webhookId": "wh-1", "timestamp": sent}
    ).encode()

    response = await client.post("/webhooks/ghl", data=body, headers=signer.ghl(body))

    assert response.status == 401
    assert await stored_deliveries(engine) == []


async def test_the_same_delivery_posted_five_times_at_once_is_stored_once(
    client: Client, signer: Signer, integrations: Integrations, engine: AsyncEngine
) -> None:
    await integrations.add("loc-1")
    body = b'{"type":"ContactCreate","locationId":"loc-1","webhookId":"wh-5"}'

    responses = await asyncio.gather(
        *(client.post("/webhooks/ghl", data=body, headers=signer.ghl(body)) for _ in range(5))
    )

    assert [r.status for r in responses] == [200] * 5
    answers = sorted([(await r.json())["status"] for r in responses])
    assert answers == ["accepted"] + ["duplicate"] * 4
    [row] = await stored_deliveries(engine)
    assert row.delivery_id == "wh-5"


async def test_an_inactive_integration_answers_409_and_records_the_delivery(
    client: Client, signer: Signer, integrations: Integrations, engine: AsyncEngine
) -> None:
    await integrations.add("loc-1", active=False)
    body = b'{"type":"ContactCreate","locationId":"loc-1"}'

    response = await client.post("/webhooks/ghl", data=body, headers=signer.ghl(body))

    assert response.status == 409
    assert (await response.json())["error"]["details"][0]["reason"] == "INTEGRATION_NOT_ACTIVE"
    [row] = await stored_deliveries(engine)
    assert row.status == "rejected"


async def test_a_database_outage_answers_429_then_the_redelivery_is_stored(
    aiohttp_client: AiohttpClient,
    database_url: str,
    signer: Signer,
    integrations: Integrations,
    cipher: FakeCipher,
    clock: FixedClock,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await integrations.add("loc-1")
    first = b'{"type":"ContactCreate","locationId":"loc-1","webhookId":"wh-1"}'
    second = b'{"type":"ContactUpdate","locationId":"loc-1","webhookId":"wh-2"}'
    async with _outage(database_url, monkeypatch) as (outage_engine, outage_pool, cut, restore):
        client = await aiohttp_client(
            create_webhook_app(
                [make_receiver(outage_engine, outage_pool, signer, cipher, clock)],
                retry_after_seconds=7,
            )
        )
        assert (
            await client.post("/webhooks/ghl", data=first, headers=signer.ghl(first))
        ).status == 200

        cut()
        refused = await client.post("/webhooks/ghl", data=second, headers=signer.ghl(second))
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "7"
        error = (await refused.json())["error"]
        assert error["details"][0]["reason"] == "STORAGE_UNAVAILABLE"
        assert [r.delivery_id for r in await stored_deliveries(engine)] == ["wh-1"]

        restore()
        redelivered = await client.post("/webhooks/ghl", data=second, headers=signer.ghl(second))
        assert redelivered.status == 200

    assert [r.delivery_id for r in await stored_deliveries(engine)] == ["wh-1", "wh-2"]


@asynccontextmanager
async def _outage(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[AsyncEngine, Any, Callable[[], object], Callable[[], object]]]:
    """An engine on the test database, and the inbox writer's pool on it (None on SQLite), that
    `cut()` makes unreachable until `restore()`. PostgreSQL: through a TCP proxy that drops
    its connections. SQLite: another connection holds the write lock (with a short busy
    timeout, so that the wait is quick)."""
    url = make_url(database_url)
    if url.drivername.startswith("postgresql"):
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        port = await proxy.start()
        proxied = url.set(port=port).render_as_string(hide_password=False)
        engine = create_engine(proxied)
        try:
            async with opened_driver_pool(proxied, size=1) as pool:
                yield engine, pool, proxy.cut, proxy.restore
        finally:
            await engine.dispose()
            await proxy.stop()
        return
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 100)
    engine = create_engine(database_url)
    locker = sqlite3.connect(url.database or "", isolation_level=None)
    try:
        yield (
            engine,
            None,
            lambda: locker.execute("BEGIN IMMEDIATE"),
            lambda: locker.execute("ROLLBACK"),
        )
    finally:
        locker.close()
        await engine.dispose()

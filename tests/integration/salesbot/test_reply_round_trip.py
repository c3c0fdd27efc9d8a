"""The sales-bot round trip: a contact's SMS → the fake bot → the reply sent through the fake
GHL's conversations API, once; GHL's echo of the reply is not answered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.ghl.client import GhlTimeouts, HttpGhlClient, RetryPolicy
from adapters.ghl.fake import FAKE_GHL, FakeGhl, create_app
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from adapters.ghl.payloads import GhlPayloads
from adapters.ghl.webhooks import location_account
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.ratelimit import TokenBucketRateLimiter
from adapters.salesbot import HttpSalesBot
from application.ports import HandlerOutcome, InboundEvent, SecretBinding, UnitOfWorkFactory
from application.use_cases.handle_message import HandleMessageEvent
from application.use_cases.send_replies import SendPendingReplies
from domain.conversation import MessageStatus
from domain.integration import Integration
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from tests.fakes import FakeCipher, FixedClock, SequentialIds
from tests.integration.salesbot.fake_bot import FakeBot
from tests.support.builders import a_template
from tests.support.databases import migrated_database
from tests.support.reference import GHL_REFERENCE
from tests.support.waiting import PATIENCE_SECONDS

SPECS_DIR = GHL_REFERENCE / "openapi"
CONTACT_ID = "fakeContact000000001"  # the fake GHL's demo contact


@dataclass
class World:
    uow: UnitOfWorkFactory
    fake: FakeGhl
    bot: FakeBot
    handler: HandleMessageEvent
    sender: SendPendingReplies
    integration: Integration
    webhooks: asyncio.Queue[dict[str, Any]]
    clock: FixedClock

    async def deliver(self, kind: EventKind, payload: dict[str, Any]) -> HandlerOutcome:
        event = InboundEvent(
            delivery_id=str(payload.get("webhookId", "d-1")),
            integration_id=self.integration.id,
            sub_account_id=self.integration.sub_account_id,
            kind=kind,
            event_type=str(payload["type"]),
            payload=payload,
            received_at=self.clock.now(),
        )
        async with self.uow() as uow:
            outcome = await self.handler.handle(uow, event)
            await uow.commit()
        return outcome


@pytest.fixture
async def world(tmp_path: Path, bot_url: str, bot: FakeBot) -> AsyncIterator[World]:
    webhooks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        await webhooks.put(json.loads(await request.read()))
        return web.Response()

    receiver_app = web.Application()
    receiver_app.router.add_post("/webhooks/ghl", receive)
    receiver = TestServer(receiver_app, host="127.0.0.1", port=0)
    await receiver.start_server()
    ghl_app = create_app(
        webhook_url=str(receiver.make_url("/webhooks/ghl")),
        validate_requests_against=SPECS_DIR if SPECS_DIR.is_dir() else None,
        random_seed=7,
    )
    ghl_server = TestServer(ghl_app, host="127.0.0.1", port=0)
    await ghl_server.start_server()
    ghl = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        base_url=str(ghl_server.make_url("")).rstrip("/"),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, total_seconds=2.0),
        timeouts=GhlTimeouts(connect=1.0, read=2.0),
    )
    sales_bot = HttpSalesBot(bot_url, timeout_seconds=2.0)
    clock, ids, cipher = FixedClock(), SequentialIds(), FakeCipher()
    async with migrated_database("sqlite", tmp_path) as url:
        engine = create_engine(url)
        uow = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
        template = a_template()
        integration = Integration.create(
            id="0190a0b0-0000-7000-8000-000000000001",
            sub_account_id="sa-1",
            template_id=template.id,
            template_name=template.name,
            name="Clinic CRM",
            config={"locationId": DEMO_LOCATION_ID},
            now=clock.now(),
        )
        integration.secrets["apiKey"] = await cipher.encrypt(
            SecretBinding("sa-1", integration.id, "apiKey"), SecretStr(DEMO_PRIVATE_TOKEN)
        )
        integration.activate(now=clock.now())
        async with uow() as setup:
            await setup.templates.add(template)
            await setup.integrations.add(integration)
            await setup.integrations.set_accounts(
                integration.id, frozenset({location_account(DEMO_LOCATION_ID)})
            )
            await setup.commit()
        yield World(
            uow=uow,
            fake=ghl_app[FAKE_GHL],
            bot=bot,
            handler=HandleMessageEvent(reader=GhlPayloads(), bot=sales_bot, ids=ids, clock=clock),
            sender=SendPendingReplies(uow=uow, crm=ghl, cipher=cipher, clock=clock),
            integration=integration,
            webhooks=webhooks,
            clock=clock,
        )
        await engine.dispose()
    violations = ghl_app[FAKE_GHL].contract_violations()
    await sales_bot.close()
    await ghl.close()
    await ghl_server.close()
    await receiver.close()
    assert violations == [], f"requests that break GHL's contract: {violations}"


def inbound_sms(message_id: str = "inbound-1") -> dict[str, Any]:
    return {
        "type": "InboundMessage",
        "locationId": DEMO_LOCATION_ID,
        "attachments": [],
        "body": "Hi! Can I book a cleaning next week?",
        "contactId": CONTACT_ID,
        "contentType": "text/plain",
        "conversationId": "fakeConversation0001",
        "dateAdded": "2026-01-01T11:59:00.000Z",
        "direction": "inbound",
        "messageType": "SMS",
        "messageId": message_id,
        "status": "delivered",
        "webhookId": f"wh-{message_id}",
    }


async def test_an_inbound_sms_is_answered_through_ghl_once_and_its_echo_is_ignored(
    world: World,
) -> None:
    outcome = await world.deliver(EventKind.MESSAGE_INBOUND, inbound_sms())
    result = await world.sender.execute()

    assert outcome is HandlerOutcome.APPLIED
    assert result.sent == 1
    [asked] = world.bot.requests
    assert (asked["message"], asked["channel"], asked["contact"]["external_id"]) == (
        "Hi! Can I book a cleaning next week?",
        "SMS",
        CONTACT_ID,
    )
    [sent] = world.fake.state.messages.values()
    assert (sent["contactId"], sent["type"], sent["body"], sent["direction"]) == (
        CONTACT_ID,
        "SMS",
        world.bot.reply,
        "outbound",
    )

    echo = await asyncio.wait_for(world.webhooks.get(), timeout=PATIENCE_SECONDS)
    assert (echo["type"], echo["messageId"]) == ("OutboundMessage", sent["id"])
    assert await world.deliver(EventKind.MESSAGE_OUTBOUND, echo) is HandlerOutcome.IGNORED
    # Even delivered as inbound, the echo is recognised by the id GHL gave the reply.
    claims_inbound = echo | {"direction": "inbound", "type": "InboundMessage"}
    assert await world.deliver(EventKind.MESSAGE_INBOUND, claims_inbound) is HandlerOutcome.IGNORED

    again = await world.deliver(EventKind.MESSAGE_INBOUND, inbound_sms())
    second_run = await world.sender.execute()

    assert again is HandlerOutcome.IGNORED
    assert second_run.sent == 0
    assert len(world.bot.requests) == 1
    assert len(world.fake.state.messages) == 1
    async with world.uow() as uow:
        received = await uow.messages.get_by_dedupe_key(world.integration.id, "ghl:inbound-1")
        assert received is not None
        reply = await uow.messages.get_by_dedupe_key(world.integration.id, f"reply:{received.id}")
    assert reply is not None
    assert (reply.status, reply.external_message_id) == (MessageStatus.SENT, sent["id"])


async def test_a_bot_that_stays_silent_sends_nothing_to_ghl(world: World) -> None:
    world.bot.reply = None

    outcome = await world.deliver(EventKind.MESSAGE_INBOUND, inbound_sms())
    result = await world.sender.execute()

    assert outcome is HandlerOutcome.APPLIED
    assert result.sent == 0
    assert world.fake.state.messages == {}


async def test_a_reply_ghl_refuses_fails_and_is_not_sent_again(world: World) -> None:
    payload = inbound_sms() | {"contactId": "noSuchContact0000001"}

    await world.deliver(EventKind.MESSAGE_INBOUND, payload)
    first = await world.sender.execute()
    second = await world.sender.execute()

    assert (first.failed, second.sent, second.failed) == (1, 0, 0)
    assert world.fake.state.messages == {}

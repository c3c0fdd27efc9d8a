"""HandleMessageEvent and SendPendingReplies: a contact's message answered once, never our own."""

from __future__ import annotations

from typing import Any

import pytest

from application.ports import HandlerOutcome
from application.ports.crm import MessageType
from domain.conversation import MessageDirection, MessageStatus
from domain.errors import ConnectionFailedError
from domain.events import MessageReceived, ReplyQueued, ReplySent
from domain.webhook_delivery import EventKind
from tests.unit.webhook_handlers.support import App, make_app, reference_payload

INBOUND, OUTBOUND = EventKind.MESSAGE_INBOUND, EventKind.MESSAGE_OUTBOUND


def sms(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "InboundMessage",
        "locationId": "loc-1",
        "contactId": "contact-1",
        "conversationId": "conv-1",
        "messageId": "msg-1",
        "messageType": "SMS",
        "direction": "inbound",
        "body": "Hi, do you have a slot on Friday?",
        "dateAdded": "2026-01-01T11:59:00.000Z",
    }
    payload.update(fields)
    return {k: v for k, v in payload.items() if v is not None}


async def test_an_inbound_sms_is_recorded_answered_by_the_bot_and_sent_back_by_sms(
    app: App,
) -> None:
    outcome = await app.deliver(INBOUND, reference_payload("InboundMessage"))
    result = await app.send_replies.execute()

    assert outcome is HandlerOutcome.APPLIED
    [context] = app.bot.contexts
    assert (context.message, context.channel, context.conversation_id) == (
        "This is a test message",
        "SMS",
        "fcanlLgpbQgQhderivVs",
    )
    assert context.contact.external_id == "cI08i1Bls3iTB9bKgFJh"
    assert result.sent == 1
    [(call, message)] = app.ghl.sent
    assert (call.config["locationId"], call.integration_id) == ("loc-1", "int-1")
    assert (message.type, message.contact_id, message.message) == (
        MessageType.SMS,
        "cI08i1Bls3iTB9bKgFJh",
        app.bot.answer,
    )
    received, reply = app.messages_stored
    assert (received.direction, received.status) == (
        MessageDirection.INBOUND,
        MessageStatus.RECEIVED,
    )
    assert (reply.status, reply.external_message_id, reply.in_reply_to) == (
        MessageStatus.SENT,
        "sent-1",
        received.id,
    )
    assert sorted(type(e).__name__ for e in app.events()) == sorted(
        t.__name__ for t in (MessageReceived, ReplyQueued, ReplySent)
    )


async def test_the_bot_is_told_what_the_service_knows_of_the_contact(app: App) -> None:
    await app.deliver(
        EventKind.CONTACT_CREATED,
        {"id": "contact-1", "firstName": "Ada", "timezone": "Europe/London"},
    )

    await app.deliver(INBOUND, sms())

    contact = app.bot.contexts[0].contact
    assert (contact.first_name, contact.timezone, contact.assigned_user_id, contact.status) == (
        "Ada",
        "Europe/London",
        "u-ana",
        "open",
    )
    assert contact.lead_id == app.leads[0].id


async def test_the_same_message_delivered_twice_is_answered_once(app: App) -> None:
    first = await app.deliver(INBOUND, sms(), delivery_id="d-1")
    second = await app.deliver(INBOUND, sms(), delivery_id="d-2")
    await app.send_replies.execute()
    await app.send_replies.execute()

    assert (first, second) == (HandlerOutcome.APPLIED, HandlerOutcome.IGNORED)
    assert len(app.bot.contexts) == 1
    assert len(app.ghl.sent) == 1
    assert len(app.messages_stored) == 2


async def test_a_message_without_an_id_is_still_answered_once(app: App) -> None:
    await app.deliver(INBOUND, sms(messageId=None), delivery_id="d-1")
    await app.deliver(INBOUND, sms(messageId=None), delivery_id="d-2")

    assert len(app.bot.contexts) == 1


async def test_the_echo_of_a_sent_reply_is_never_answered(app: App) -> None:
    await app.deliver(INBOUND, sms())
    await app.send_replies.execute()

    # Even an echo that claims to be inbound is recognised by the id GHL gave our reply.
    echo = await app.deliver(INBOUND, sms(messageId="sent-1", body=app.bot.answer))

    assert echo is HandlerOutcome.IGNORED
    assert len(app.bot.contexts) == 1


@pytest.mark.parametrize(
    "name", ["OutboundMessage", "OutboundMessage-email", "OutboundMessage-call"]
)
async def test_ghls_outbound_messages_are_not_answered(app: App, name: str) -> None:
    # GHL's OutboundMessage SMS example says "direction": "inbound", with "source": "app".
    outcome = await app.deliver(OUTBOUND, reference_payload(name))

    assert outcome is HandlerOutcome.IGNORED
    assert app.bot.contexts == []
    assert app.messages_stored == []


async def test_ghls_outbound_example_is_not_answered_even_when_routed_as_inbound(
    app: App,
) -> None:
    # The receiver follows "direction", which this example gets wrong; "source" tells.
    outcome = await app.deliver(INBOUND, reference_payload("OutboundMessage"))

    assert outcome is HandlerOutcome.IGNORED
    assert app.bot.contexts == []


async def test_an_outbound_message_answered_only_when_the_direction_says_inbound(
    app: App,
) -> None:
    outbound = await app.deliver(OUTBOUND, sms(direction="outbound", messageId="m-out"))
    inbound = await app.deliver(OUTBOUND, sms(direction="inbound", messageId="m-in"))

    assert (outbound, inbound) == (HandlerOutcome.IGNORED, HandlerOutcome.APPLIED)
    assert [c.message for c in app.bot.contexts] == ["Hi, do you have a slot on Friday?"]


async def test_an_inbound_event_whose_direction_says_outbound_is_not_answered(app: App) -> None:
    outcome = await app.deliver(INBOUND, sms(direction="outbound"))

    assert outcome is HandlerOutcome.IGNORED
    assert app.bot.contexts == []


async def test_an_inbound_call_is_recorded_and_not_answered(app: App) -> None:
    # GHL's "InboundMessage call" example is typed OutboundMessage; its direction is inbound.
    outcome = await app.deliver(OUTBOUND, reference_payload("InboundMessage-call"))

    assert outcome is HandlerOutcome.APPLIED
    [record] = app.messages_stored
    assert record.channel == "CALL"
    assert app.bot.contexts == []


async def test_an_email_is_answered_by_email_under_its_subject(app: App) -> None:
    await app.deliver(INBOUND, reference_payload("InboundMessage-email"))
    await app.send_replies.execute()

    [(_, message)] = app.ghl.sent
    assert (message.type, message.subject, message.contact_id) == (
        MessageType.EMAIL,
        "Re: Order Confirmed",
        "3bN9f8LYJFG8F232XMUbfq",
    )


async def test_with_no_bot_the_message_is_recorded_and_not_answered() -> None:
    app = await make_app(with_bot=False)

    outcome = await app.deliver(INBOUND, sms())
    result = await app.send_replies.execute()

    assert outcome is HandlerOutcome.APPLIED
    assert [m.direction for m in app.messages_stored] == [MessageDirection.INBOUND]
    assert (result.sent, app.ghl.sent) == (0, [])


async def test_a_silent_bot_sends_nothing(app: App) -> None:
    app.bot.answer = None

    await app.deliver(INBOUND, sms())

    assert len(app.messages_stored) == 1
    assert app.events(ReplyQueued) == []


async def test_a_bot_that_cannot_be_reached_leaves_nothing_behind_and_the_retry_answers(
    app: App,
) -> None:
    app.bot.error = ConnectionFailedError("the sales bot cannot be reached")

    with pytest.raises(ConnectionFailedError):
        await app.deliver(INBOUND, sms(), delivery_id="d-1")
    assert app.messages_stored == []

    app.bot.error = None
    retried = await app.deliver(INBOUND, sms(), delivery_id="d-1")
    await app.send_replies.execute()

    assert retried is HandlerOutcome.APPLIED
    assert len(app.ghl.sent) == 1


async def test_a_deleted_contacts_message_is_not_answered(app: App) -> None:
    await app.deliver(EventKind.CONTACT_DELETED, {"id": "contact-1"})

    await app.deliver(INBOUND, sms())

    assert app.bot.contexts == []

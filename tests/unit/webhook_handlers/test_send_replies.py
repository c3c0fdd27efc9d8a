"""SendPendingReplies: every reply sent at most once, whatever fails."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import pytest

from application.ports.crm import CrmApi
from application.use_cases.send_replies import SendPendingReplies
from domain.conversation import ConversationMessage, MessageStatus
from domain.errors import ConnectionFailedError, InvalidCredentialsError, RateLimitExceededError
from domain.events import ReplyFailed
from domain.webhook_delivery import EventKind
from tests.fakes import InMemoryMessageRepository
from tests.unit.webhook_handlers.support import App

SMS = {
    "type": "InboundMessage",
    "contactId": "contact-1",
    "messageId": "msg-1",
    "messageType": "SMS",
    "direction": "inbound",
    "body": "Hello?",
}


async def queued_reply(app: App) -> ConversationMessage:
    await app.deliver(EventKind.MESSAGE_INBOUND, SMS)
    [reply] = [m for m in app.messages_stored if m.in_reply_to is not None]
    return reply


def stored(app: App, reply: ConversationMessage) -> ConversationMessage:
    return app.uow.store.messages[reply.id]


async def test_a_reply_whose_sender_stopped_mid_send_is_never_sent_and_ends_failed(
    app: App,
) -> None:
    reply = await queued_reply(app)
    async with app.uow() as uow:  # a sender claims it, then dies before sending
        [claimed] = await uow.messages.due_replies(now=app.clock.now(), limit=10)
        claimed.start_sending(now=app.clock.now())
        await uow.messages.update(claimed)
        await uow.commit()

    early = await app.send_replies.execute()
    app.clock.advance(minutes=6)
    late = await app.send_replies.execute()

    assert (early.sent, late.sent, late.failed) == (0, 0, 1)
    assert app.ghl.sent == []
    assert stored(app, reply).status is MessageStatus.FAILED
    assert "unknown" in (stored(app, reply).error or "")


async def test_a_rate_limited_reply_waits_and_is_then_sent_once(app: App) -> None:
    reply = await queued_reply(app)
    app.ghl.send_error = RateLimitExceededError("no slot", retry_after_seconds=30)

    first = await app.send_replies.execute()
    app.ghl.send_error = None
    too_soon = await app.send_replies.execute()
    app.clock.advance(seconds=30)
    later = await app.send_replies.execute()

    assert (first.deferred, too_soon.sent, later.sent) == (1, 0, 1)
    assert len(app.ghl.sent) == 1
    assert (stored(app, reply).status, stored(app, reply).attempts) == (MessageStatus.SENT, 2)


async def test_a_send_that_may_have_reached_ghl_is_not_tried_again(app: App) -> None:
    reply = await queued_reply(app)
    app.ghl.send_error = ConnectionFailedError("GHL timed out")

    first = await app.send_replies.execute()
    app.ghl.send_error = None
    second = await app.send_replies.execute()

    assert (first.failed, second.sent) == (1, 0)
    assert stored(app, reply).error == "GHL timed out"
    assert len(app.events(ReplyFailed)) == 1


async def test_a_refused_reply_fails_for_good(app: App) -> None:
    reply = await queued_reply(app)
    app.ghl.send_error = InvalidCredentialsError("token revoked")

    result = await app.send_replies.execute()

    assert result.failed == 1
    assert stored(app, reply).status is MessageStatus.FAILED


async def test_a_reply_that_waited_too_long_expires_unsent(app: App) -> None:
    reply = await queued_reply(app)
    app.clock.advance(hours=1, seconds=1)

    result = await app.send_replies.execute()

    assert (result.sent, result.failed) == (0, 1)
    assert app.ghl.sent == []
    assert stored(app, reply).error == "expired before it could be sent"


async def test_a_reply_of_a_disconnected_integration_is_not_sent(app: App) -> None:
    reply = await queued_reply(app)
    async with app.uow() as uow:
        integration = await uow.integrations.get(app.integration.id)
        assert integration is not None
        integration.disconnect(reason="uninstalled", now=app.clock.now())
        await uow.integrations.update(integration)
        await uow.commit()

    result = await app.send_replies.execute()

    assert result.failed == 1
    assert app.ghl.sent == []
    assert "disconnected" in (stored(app, reply).error or "")


async def test_every_due_reply_is_sent_in_one_run_and_none_twice(app: App) -> None:
    for n in range(3):
        await app.deliver(EventKind.MESSAGE_INBOUND, SMS | {"messageId": f"m-{n}", "body": f"#{n}"})
        app.clock.advance(seconds=1)

    result = await app.send_replies.execute()

    assert result.sent == 3
    assert [m.contact_id for _, m in app.ghl.sent] == ["contact-1"] * 3
    assert await app.send_replies.execute() == type(result)()


async def test_nothing_to_send_is_a_quiet_run(app: App) -> None:
    result = await app.send_replies.execute()

    assert (result.sent, result.failed, result.deferred) == (0, 0, 0)
    assert app.ghl.sent == []


async def test_a_reply_another_sender_claims_meanwhile_is_left_to_it(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    await queued_reply(app)
    other = SendPendingReplies(
        uow=app.uow, crm=cast("CrmApi", app.ghl), cipher=app.cipher, clock=app.clock
    )
    original = InMemoryMessageRepository.due_replies
    raced = False

    async def due_then_race(
        self: InMemoryMessageRepository, *, now: datetime, limit: int
    ) -> list[ConversationMessage]:
        nonlocal raced
        found = await original(self, now=now, limit=limit)
        if not raced:
            raced = True
            await other.execute()  # claims, sends and commits before this sender writes
        return found

    monkeypatch.setattr(InMemoryMessageRepository, "due_replies", due_then_race)

    result = await app.send_replies.execute()

    assert result.sent == 0
    assert len(app.ghl.sent) == 1

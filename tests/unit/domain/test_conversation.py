"""ConversationMessage: inbound messages, and replies sent at most once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.conversation import ConversationMessage, MessageDirection, MessageStatus
from domain.errors import InvalidTransitionError
from domain.events import MessageReceived, ReplyFailed, ReplyQueued, ReplySent

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def inbound(subject: str | None = None) -> ConversationMessage:
    return ConversationMessage.receive(
        id="m-1",
        sub_account_id="sa-1",
        integration_id="int-1",
        contact_external_id="c-1",
        dedupe_key="ghl:msg-1",
        channel="Email",
        body="Do you have a slot on Friday?",
        subject=subject,
        conversation_id="conv-1",
        external_message_id="msg-1",
        now=NOW,
    )


def pending_reply() -> ConversationMessage:
    reply = inbound().queue_reply(id="r-1", body="Yes, 10am?", channel="SMS", now=NOW)
    reply.pull_events()
    return reply


def test_a_received_message_records_its_channel_and_text() -> None:
    message = inbound()

    [event] = message.pull_events()
    assert isinstance(event, MessageReceived)
    assert event.payload() == {
        "integration_id": "int-1",
        "contact_external_id": "c-1",
        "conversation_id": "conv-1",
        "external_message_id": "msg-1",
        "channel": "Email",
        "body": "Do you have a slot on Friday?",
    }
    assert (message.direction, message.status) == (MessageDirection.INBOUND, MessageStatus.RECEIVED)


def test_a_reply_is_pending_keyed_by_the_message_it_answers() -> None:
    message = inbound(subject="Booking")

    reply = message.queue_reply(id="r-1", body="Yes", channel="Email", now=NOW)

    assert (reply.direction, reply.status, reply.in_reply_to) == (
        MessageDirection.OUTBOUND,
        MessageStatus.PENDING,
        "m-1",
    )
    assert reply.dedupe_key == "reply:m-1"
    assert reply.subject == "Re: Booking"
    assert [type(e) for e in reply.pull_events()] == [ReplyQueued]


def test_a_subject_already_in_reply_form_is_kept() -> None:
    reply = inbound(subject="RE: Booking").queue_reply(id="r", body="x", channel="Email", now=NOW)
    assert reply.subject == "RE: Booking"


def test_only_an_inbound_message_is_replied_to() -> None:
    with pytest.raises(InvalidTransitionError):
        pending_reply().queue_reply(id="r-2", body="again", channel="SMS", now=NOW)


def test_a_reply_goes_pending_sending_sent_and_records_the_providers_id() -> None:
    reply = pending_reply()

    reply.start_sending(now=NOW)
    reply.mark_sent(external_message_id="ghl-9", conversation_id=None, now=NOW)

    assert (reply.status, reply.attempts, reply.external_message_id) == (
        MessageStatus.SENT,
        1,
        "ghl-9",
    )
    assert reply.conversation_id == "conv-1"
    [event] = reply.pull_events()
    assert isinstance(event, ReplySent)
    assert event.external_message_id == "ghl-9"


def test_a_sent_or_failed_reply_is_never_sent_again() -> None:
    sent, failed = pending_reply(), pending_reply()
    sent.start_sending(now=NOW)
    sent.mark_sent(external_message_id="ghl-9", conversation_id="conv-1", now=NOW)
    failed.mark_failed(error="expired", now=NOW)

    for reply in (sent, failed):
        with pytest.raises(InvalidTransitionError):
            reply.start_sending(now=NOW)
    assert isinstance(failed.pull_events()[-1], ReplyFailed)


def test_a_reply_being_sent_cannot_be_claimed_twice() -> None:
    reply = pending_reply()
    reply.start_sending(now=NOW)

    with pytest.raises(InvalidTransitionError):
        reply.start_sending(now=NOW)


def test_a_deferred_reply_is_due_again_only_after_its_wait() -> None:
    reply = pending_reply()
    reply.start_sending(now=NOW)

    reply.defer(until=NOW + timedelta(seconds=30), reason="rate limited", now=NOW)

    assert reply.status is MessageStatus.PENDING
    assert not reply.is_due(NOW + timedelta(seconds=29))
    assert reply.is_due(NOW + timedelta(seconds=30))
    assert reply.error == "rate limited"

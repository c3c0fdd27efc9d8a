"""ConversationMessage: a message received from a contact, or a reply the service sends."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.aggregate import Aggregate
from domain.errors import InvalidTransitionError
from domain.events import MessageReceived, ReplyFailed, ReplyQueued, ReplySent


class MessageDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(StrEnum):
    RECEIVED = "received"
    """An inbound message, recorded."""
    PENDING = "pending"
    """A reply waiting to be sent."""
    SENDING = "sending"
    """A reply handed to the provider; whether it arrived is not known yet."""
    SENT = "sent"
    FAILED = "failed"


# A reply moves pending → sending → sent or failed; sending → pending only when the provider
# surely did not get it (no request slot was free), so that no reply is ever sent twice.
REPLY_TRANSITIONS: Mapping[MessageStatus, frozenset[MessageStatus]] = {
    MessageStatus.PENDING: frozenset({MessageStatus.SENDING, MessageStatus.FAILED}),
    MessageStatus.SENDING: frozenset(
        {MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.PENDING}
    ),
    MessageStatus.SENT: frozenset(),
    MessageStatus.FAILED: frozenset(),
    MessageStatus.RECEIVED: frozenset(),
}


class ConversationMessage(Aggregate):
    """One message of a contact's conversation. `dedupe_key` is unique per integration: the
    provider's message id (or a digest of the message) for inbound ones, ``reply:<inbound id>``
    for replies, so that a message is recorded once and answered at most once."""

    def __init__(
        self,
        *,
        id: str,
        sub_account_id: str,
        integration_id: str,
        contact_external_id: str,
        lead_id: str | None,
        conversation_id: str | None,
        direction: MessageDirection,
        channel: str,
        body: str,
        subject: str | None,
        external_message_id: str | None,
        dedupe_key: str,
        in_reply_to: str | None,
        status: MessageStatus,
        error: str | None,
        attempts: int,
        not_before: datetime | None,
        created_at: datetime,
        updated_at: datetime,
        version: int,
    ) -> None:
        super().__init__()
        self.id = id
        self.sub_account_id = sub_account_id
        self.integration_id = integration_id
        self.contact_external_id = contact_external_id
        self.lead_id = lead_id
        self.conversation_id = conversation_id
        self.direction = direction
        self.channel = channel
        self.body = body
        self.subject = subject
        self.external_message_id = external_message_id
        self.dedupe_key = dedupe_key
        self.in_reply_to = in_reply_to
        self.status = status
        self.error = error
        self.attempts = attempts
        self.not_before = not_before
        self.created_at = created_at
        self.updated_at = updated_at
        self.version = version

    @classmethod
    def receive(
        cls,
        *,
        id: str,
        sub_account_id: str,
        integration_id: str,
        contact_external_id: str,
        dedupe_key: str,
        channel: str,
        body: str,
        now: datetime,
        lead_id: str | None = None,
        conversation_id: str | None = None,
        external_message_id: str | None = None,
        subject: str | None = None,
    ) -> ConversationMessage:
        message = cls(
            id=id,
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            contact_external_id=contact_external_id,
            lead_id=lead_id,
            conversation_id=conversation_id,
            direction=MessageDirection.INBOUND,
            channel=channel,
            body=body,
            subject=subject,
            external_message_id=external_message_id,
            dedupe_key=dedupe_key,
            in_reply_to=None,
            status=MessageStatus.RECEIVED,
            error=None,
            attempts=0,
            not_before=None,
            created_at=now,
            updated_at=now,
            version=1,
        )
        message._record(
            MessageReceived(
                **message._event_base(now, next_version=1),
                conversation_id=conversation_id,
                external_message_id=external_message_id,
                channel=channel,
                body=body,
            )
        )
        return message

    def queue_reply(
        self, *, id: str, body: str, channel: str, now: datetime
    ) -> ConversationMessage:
        """The reply to this inbound message, pending until it is sent on `channel`."""
        if self.direction is not MessageDirection.INBOUND:
            raise InvalidTransitionError("only an inbound message is replied to")
        subject = self.subject
        if subject and not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        reply = ConversationMessage(
            id=id,
            sub_account_id=self.sub_account_id,
            integration_id=self.integration_id,
            contact_external_id=self.contact_external_id,
            lead_id=self.lead_id,
            conversation_id=self.conversation_id,
            direction=MessageDirection.OUTBOUND,
            channel=channel,
            body=body,
            subject=subject,
            external_message_id=None,
            dedupe_key=f"reply:{self.id}",
            in_reply_to=self.id,
            status=MessageStatus.PENDING,
            error=None,
            attempts=0,
            not_before=None,
            created_at=now,
            updated_at=now,
            version=1,
        )
        reply._record(
            ReplyQueued(
                **reply._event_base(now, next_version=1), in_reply_to=self.id, channel=channel
            )
        )
        return reply

    def is_due(self, now: datetime) -> bool:
        return self.status is MessageStatus.PENDING and (
            self.not_before is None or self.not_before <= now
        )

    def start_sending(self, *, now: datetime) -> None:
        """Claimed for one send attempt."""
        self._move_to(MessageStatus.SENDING, now)
        self.attempts += 1

    def mark_sent(
        self, *, external_message_id: str, conversation_id: str | None, now: datetime
    ) -> None:
        self._move_to(MessageStatus.SENT, now)
        self.external_message_id = external_message_id
        self.conversation_id = conversation_id or self.conversation_id
        self.error = None
        self._record(
            ReplySent(
                **self._event_base(now),
                conversation_id=self.conversation_id,
                external_message_id=external_message_id,
                channel=self.channel,
                body=self.body,
            )
        )

    def mark_failed(self, *, error: str, now: datetime) -> None:
        """Given up for good: refused, expired, or its outcome unknown."""
        self._move_to(MessageStatus.FAILED, now)
        self.error = error
        self._record(ReplyFailed(**self._event_base(now), error=error))

    def defer(self, *, until: datetime, reason: str, now: datetime) -> None:
        """Back to pending: the provider surely did not receive it (no request slot was free)."""
        self._move_to(MessageStatus.PENDING, now)
        self.not_before = until
        self.error = reason

    def _move_to(self, target: MessageStatus, now: datetime) -> None:
        if target not in REPLY_TRANSITIONS[self.status]:
            raise InvalidTransitionError(
                f"a {self.status} message cannot become {target}",
                metadata={"from": str(self.status), "to": str(target)},
            )
        self.status = target
        self.updated_at = now

    def _event_base(self, now: datetime, *, next_version: int | None = None) -> dict[str, Any]:
        return {
            "aggregate_id": self.id,
            "aggregate_version": next_version if next_version is not None else self.version + 1,
            "occurred_at": now,
            "sub_account_id": self.sub_account_id,
            "integration_id": self.integration_id,
            "contact_external_id": self.contact_external_id,
        }

"""SendPendingReplies: the queued sales-bot replies sent back through the CRM's conversations API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from application.ports import Cipher, Clock, UnitOfWorkFactory
from application.ports.crm import CrmApi, MessageType, OutgoingMessage
from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from domain.conversation import ConversationMessage
from domain.errors import (
    ConcurrencyError,
    DomainError,
    IntegrationNotActiveError,
    NotFoundError,
    RateLimitExceededError,
    StorageUnavailableError,
)

Outcome = Literal["sent", "failed", "deferred"]
Change = Callable[[ConversationMessage, datetime], None]

# How long a reply waits when the database could not give its credentials (nothing was sent).
_STORAGE_RETRY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class SendPendingRepliesResult:
    sent: int = 0
    failed: int = 0
    deferred: int = 0


class SendPendingReplies:
    """Rules (replies are sent at most once: a duplicate sales message is worse than a missing
    one, and the CRM's send has no idempotency key):
    - a reply is marked sending in its own committed transaction before the CRM is called, and one
      found sending is never sent again: after `stuck_after` it is marked failed, its outcome
      unknown (the sender stopped between the send and the record);
    - a reply the CRM surely did not receive goes back to pending: no rate-limit slot was free
      (due after the CRM's wait), or the database could not give its credentials;
    - every other failure fails the reply for good: the CRM refused it (credentials, contact
      unknown, 4xx), the CRM could not be reached or answered 5xx (it may have sent the message),
      the integration is gone, switched off or disconnected;
    - a reply older than `max_age` is not sent any more (expired).
    Each call handles up to `batch_size` replies; the caller runs it in a loop.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        crm: CrmApi,
        cipher: Cipher,
        clock: Clock,
        batch_size: int = 20,
        max_age: timedelta = timedelta(hours=1),
        stuck_after: timedelta = timedelta(minutes=5),
    ) -> None:
        self._uow = uow
        self._crm = crm
        self._cipher = cipher
        self._clock = clock
        self._batch_size = batch_size
        self._max_age = max_age
        self._stuck_after = stuck_after

    async def execute(self) -> SendPendingRepliesResult:
        claimed, failed = await self._claim()
        sent = deferred = 0
        for reply in claimed:
            outcome = await self._send(reply)
            sent += outcome == "sent"
            failed += outcome == "failed"
            deferred += outcome == "deferred"
        return SendPendingRepliesResult(sent=sent, failed=failed, deferred=deferred)

    async def _claim(self) -> tuple[list[ConversationMessage], int]:
        try:
            return await self._claim_batch()
        except ConcurrencyError:
            # Another sender claimed some of them first (SQLite has no row locks): its turn.
            return [], 0

    async def _claim_batch(self) -> tuple[list[ConversationMessage], int]:
        now = self._clock.now()
        failed = 0
        async with self._uow() as uow:
            stuck = await uow.messages.stuck_replies(
                sending_since=now - self._stuck_after, limit=self._batch_size
            )
            for reply in stuck:
                reply.mark_failed(
                    error="the sender stopped while sending: whether the CRM got it is unknown",
                    now=now,
                )
                await uow.messages.update(reply)
            claimed: list[ConversationMessage] = []
            for reply in await uow.messages.due_replies(now=now, limit=self._batch_size):
                if now - reply.created_at > self._max_age:
                    reply.mark_failed(error="expired before it could be sent", now=now)
                    failed += 1
                else:
                    reply.start_sending(now=now)
                    claimed.append(reply)
                await uow.messages.update(reply)
            await uow.commit()
        return claimed, failed + len(stuck)

    async def _send(self, reply: ConversationMessage) -> Outcome:
        try:
            channel = MessageType(reply.channel)
        except ValueError:
            return await self._record(reply, "failed", _fail(f"no channel {reply.channel!r}"))
        try:
            call = await self._provider_call(reply.integration_id)
        except StorageUnavailableError as err:
            return await self._record(reply, "deferred", _defer(err.message, _STORAGE_RETRY))
        except DomainError as err:
            return await self._record(reply, "failed", _fail(err.message))
        message = OutgoingMessage(
            type=channel,
            contact_id=reply.contact_external_id,
            message=reply.body,
            subject=reply.subject if channel is MessageType.EMAIL else None,
        )
        try:
            sent = await self._crm.send_message(call, message)
        except RateLimitExceededError as err:
            wait = timedelta(seconds=err.retry_after_seconds)
            return await self._record(reply, "deferred", _defer(err.message, wait))
        except DomainError as err:
            return await self._record(reply, "failed", _fail(err.message))

        def mark_sent(current: ConversationMessage, now: datetime) -> None:
            current.mark_sent(
                external_message_id=sent.message_id, conversation_id=sent.conversation_id, now=now
            )

        return await self._record(reply, "sent", mark_sent)

    async def _provider_call(self, integration_id: str) -> ProviderCall:
        async with self._uow() as uow:
            integration = await uow.integrations.get(integration_id)
            if integration is None:
                raise NotFoundError("integration", integration_id)
            if not integration.is_operational:
                raise IntegrationNotActiveError(
                    f"integration {integration_id!r} is {integration.status}"
                    + ("" if integration.is_active else " and switched off")
                )
            return await provider_call(uow, self._cipher, integration, priority=Priority.LIVE)

    async def _record(
        self, reply: ConversationMessage, outcome: Outcome, change: Change
    ) -> Outcome:
        async with self._uow() as uow:
            current = await uow.messages.get(reply.id)
            if current is None:
                return outcome
            change(current, self._clock.now())
            await uow.messages.update(current)
            await uow.commit()
        return outcome


def _fail(error: str) -> Change:
    def change(reply: ConversationMessage, now: datetime) -> None:
        reply.mark_failed(error=error, now=now)

    return change


def _defer(reason: str, wait: timedelta) -> Change:
    def change(reply: ConversationMessage, now: datetime) -> None:
        reply.defer(until=now + wait, reason=reason, now=now)

    return change

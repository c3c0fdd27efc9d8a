"""HandleMessageEvent: a contact's message → recorded, answered by the sales bot, reply queued."""

from __future__ import annotations

from application.ports import (
    BotContact,
    Clock,
    HandlerOutcome,
    IdGenerator,
    InboundEvent,
    ReplyContext,
    SalesBot,
    UnitOfWork,
)
from application.ports.crm import CrmMessageEvent, CrmReader
from domain.conversation import ConversationMessage
from domain.lead import Lead
from domain.webhook_delivery import EventKind


class HandleMessageEvent:
    """Rules:
    - only a contact's own messages are answered: not a message whose ``direction`` is
      outbound, nor one with a ``source`` (only the CRM's outbound messages carry one: its
      OutboundMessage example says ``inbound`` for a message sent from the app, with
      ``source: app``), nor an outbound event unless its direction says inbound, nor a message
      the service itself sent (the ids of its replies are kept, so their echoes are
      recognised);
    - a message is recorded once (by the CRM's message id, else a digest of the message) and
      answered at most once: a repeated delivery finds the record and does nothing;
    - with no sales bot, on a channel that cannot be answered (calls, voicemail), without text,
      or from a deleted contact, the message is recorded and not answered;
    - the bot's reply is queued in the same transaction that records the message, and
      SendPendingReplies sends it on the message's channel. A bot that cannot be reached
      raises: nothing is recorded and the delivery is retried.
    """

    def __init__(
        self, *, bot: SalesBot | None, ids: IdGenerator, clock: Clock, reader: CrmReader
    ) -> None:
        self._reader = reader
        self._bot = bot
        self._ids = ids
        self._clock = clock

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        message = self._reader.message(event.payload)
        if message is None or not _from_contact(event.kind, message):
            return HandlerOutcome.IGNORED
        integration_id = event.integration_id
        if message.message_id and await uow.messages.is_own_message(
            integration_id, message.message_id
        ):
            return HandlerOutcome.IGNORED
        key = self._reader.message_key(message, delivery_id=event.delivery_id)
        if await uow.messages.get_by_dedupe_key(integration_id, key) is not None:
            return HandlerOutcome.IGNORED
        lead = await uow.leads.get_by_external_id(integration_id, message.contact_id)
        now = self._clock.now()
        inbound = ConversationMessage.receive(
            id=self._ids.new_id(),
            sub_account_id=event.sub_account_id,
            integration_id=integration_id,
            contact_external_id=message.contact_id,
            dedupe_key=key,
            channel=message.message_type or "unknown",
            body=message.body,
            subject=message.subject,
            lead_id=lead.id if lead else None,
            conversation_id=message.conversation_id,
            external_message_id=message.message_id,
            now=now,
        )
        await uow.messages.add(inbound)
        send_type = message.send_type
        if (
            self._bot is None
            or send_type is None
            or not message.body.strip()
            or (lead is not None and lead.deleted)
        ):
            return HandlerOutcome.APPLIED
        text = await self._bot.reply(
            ReplyContext(
                sub_account_id=event.sub_account_id,
                integration_id=integration_id,
                contact=_bot_contact(message.contact_id, lead),
                message=message.body,
                channel=str(send_type),
                conversation_id=message.conversation_id,
            )
        )
        if text and text.strip():
            reply = inbound.queue_reply(
                id=self._ids.new_id(), body=text, channel=str(send_type), now=now
            )
            await uow.messages.add(reply)
        return HandlerOutcome.APPLIED


def _from_contact(kind: EventKind, message: CrmMessageEvent) -> bool:
    direction = (message.direction or "").lower()
    if direction == "outbound" or message.source is not None:
        return False
    if kind is EventKind.MESSAGE_OUTBOUND:
        return direction == "inbound"
    return kind is EventKind.MESSAGE_INBOUND


def _bot_contact(contact_id: str, lead: Lead | None) -> BotContact:
    if lead is None:
        return BotContact(external_id=contact_id)
    return BotContact(
        external_id=contact_id,
        lead_id=lead.id,
        first_name=lead.details.first_name,
        last_name=lead.details.last_name,
        email=lead.details.email,
        phone=lead.details.phone,
        company=lead.details.company,
        timezone=lead.timezone,
        status=str(lead.status),
        assigned_user_id=lead.assigned_user_id,
        strategy_id=lead.strategy_id,
    )

"""The sales bot that writes replies to conversations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class BotContact:
    """The contact a message came from, as the service knows it (a lead, when captured)."""

    external_id: str
    lead_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    timezone: str | None = None
    status: str | None = None
    assigned_user_id: str | None = None
    strategy_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyContext:
    """One inbound message for the sales bot to answer."""

    sub_account_id: str
    integration_id: str
    contact: BotContact
    message: str
    channel: str
    conversation_id: str | None


class SalesBot(Protocol):
    """Writes the replies to contacts' messages (the platform's bot, outside this service)."""

    async def reply(self, context: ReplyContext) -> str | None:
        """The reply to send, or None to stay silent. Raises ConnectionFailedError when the bot
        cannot be reached and ProviderError when it refuses the request: the caller retries."""
        ...

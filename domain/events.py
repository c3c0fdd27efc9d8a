"""Domain events: immutable facts, named in the past tense, written to the outbox on commit."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened to one aggregate at one version."""

    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    sub_account_id: str | None = None

    @property
    def event_type(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        """The event's own fields, JSON-ready (datetimes as ISO strings)."""
        values = ((name, getattr(self, name)) for name in _own_fields(type(self)))
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values}


def _own_fields(event_type: type[DomainEvent]) -> tuple[str, ...]:
    """An event type's fields but those every event has, in order. (Their values are immutable,
    so the payload need not copy them as dataclasses.asdict would.)"""
    names = _OWN_FIELDS.get(event_type)
    if names is None:
        common = {f.name for f in fields(DomainEvent)}
        names = _OWN_FIELDS[event_type] = tuple(
            f.name for f in fields(event_type) if f.name not in common
        )
    return names


_OWN_FIELDS: dict[type[DomainEvent], tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateCreated(DomainEvent):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateUpdated(DomainEvent):
    changed_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationCreated(DomainEvent):
    template_name: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationActivated(DomainEvent):
    previous_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationFailed(DomainEvent):
    previous_status: str
    error_code: str
    error_message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationDisconnected(DomainEvent):
    previous_status: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationReset(DomainEvent):
    """Moved back to pending, to be tested again (reactivated, or credentials replaced)."""

    previous_status: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationConfigChanged(DomainEvent):
    changed_fields: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationDeleted(DomainEvent):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationSynced(DomainEvent):
    """A sync run finished: what it pulled from the provider and pushed to it."""

    pulled: int
    pushed: int
    conflicts: int
    failures: int


# --- leads (synced contacts) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadCaptured(DomainEvent):
    integration_id: str
    external_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    company: str | None
    timezone: str | None
    status: str
    assigned_user_id: str | None
    strategy_id: str | None
    attribution: dict[str, str] = field(default_factory=dict)
    """Where the lead came from at its provider (form, ad, campaign ids); ids, no personal data."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadUpdated(DomainEvent):
    integration_id: str
    external_id: str
    changed_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadDeleted(DomainEvent):
    integration_id: str
    external_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadMerged(DomainEvent):
    """A lead created here turned out, at the provider, to be the contact another lead mirrors
    (the provider merged them): that lead, `surviving_lead_id`, is the one that lives on."""

    integration_id: str
    external_id: str
    """The provider's id of the contact both leads now stand for."""
    surviving_lead_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadStatusChanged(DomainEvent):
    integration_id: str
    external_id: str
    previous_status: str
    status: str


# --- bookings (synced appointments) ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingCreated(DomainEvent):
    integration_id: str
    external_id: str
    calendar_id: str
    contact_external_id: str
    lead_id: str | None
    title: str | None
    start: datetime
    end: datetime
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingUpdated(DomainEvent):
    integration_id: str
    external_id: str
    changed_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingCancelled(DomainEvent):
    integration_id: str
    external_id: str
    reason: str
    """``cancelled`` (its status changed) or ``deleted`` (the appointment is gone)."""


# --- conversations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(DomainEvent):
    integration_id: str
    contact_external_id: str
    conversation_id: str | None
    external_message_id: str | None
    channel: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyQueued(DomainEvent):
    integration_id: str
    contact_external_id: str
    in_reply_to: str
    channel: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplySent(DomainEvent):
    integration_id: str
    contact_external_id: str
    conversation_id: str | None
    external_message_id: str
    channel: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyFailed(DomainEvent):
    integration_id: str
    contact_external_id: str
    error: str


# --- webhook inbox ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDeadLettered(DomainEvent):
    """A delivery was given up on after its last attempt; it waits for a replay."""

    integration_id: str
    delivery_id: str
    sender_event: str
    """The sender's name for the event (``event_type`` is the domain event's own name)."""
    kind: str
    attempts: int
    last_error: str

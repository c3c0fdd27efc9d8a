"""The webhook inbox's vocabulary: one internal event kind behind every sender's event names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from application.ports import UnitOfWork
from domain.errors import InvalidArgumentError, InvalidTransitionError


class EventKind(StrEnum):
    """What a delivery means to this service, whichever route and naming it arrived with."""

    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_DELETED = "contact.deleted"
    APPOINTMENT_CREATED = "appointment.created"
    APPOINTMENT_UPDATED = "appointment.updated"
    APPOINTMENT_DELETED = "appointment.deleted"
    OPPORTUNITY_STATUS_CHANGED = "opportunity.status_changed"
    MESSAGE_INBOUND = "message.inbound"
    MESSAGE_OUTBOUND = "message.outbound"
    APP_INSTALLED = "app.installed"
    APP_UNINSTALLED = "app.uninstalled"
    UNHANDLED = "unhandled"
    """Stored and acknowledged, then marked ignored."""


class HandlerOutcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundEvent:
    """A stored delivery, as a handler sees it."""

    delivery_id: str
    integration_id: str
    sub_account_id: str
    kind: EventKind
    event_type: str
    """The sender's own name for it (``ContactCreate``, ``contact.created``, ``INSTALL``)."""
    payload: dict[str, Any] = field(repr=False)
    received_at: datetime


class EventHandler(Protocol):
    """Applies one kind of event. Runs inside the worker's unit of work, which marks the delivery
    done in the same transaction; must be idempotent (a delivery may be processed again after a
    crash before commit). Raises to have the delivery retried, then dead-lettered."""

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome: ...


def can_never_succeed(error: BaseException) -> bool:
    """Whether a delivery whose handler failed with `error` would fail the same way however
    often it were tried: the input is wrong, not the moment (a value the domain or the database
    refuses, a change the domain does not allow). Such a delivery goes to the dead letters at
    once, to be replayed once a person has fixed the cause."""
    return isinstance(error, InvalidArgumentError | InvalidTransitionError)

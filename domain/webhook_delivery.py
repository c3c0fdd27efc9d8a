"""Webhook deliveries: what a delivery means to the service (its kind), where it stands in the
inbox (its status), and the aggregate that records a dead letter."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from domain.aggregate import Aggregate
from domain.events import WebhookDeadLettered


class EventKind(StrEnum):
    """What a delivery means to this service, whichever route and naming it arrived with."""

    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_DELETED = "contact.deleted"
    APPOINTMENT_CREATED = "appointment.created"
    APPOINTMENT_UPDATED = "appointment.updated"
    APPOINTMENT_DELETED = "appointment.deleted"
    OPPORTUNITY_STATUS_CHANGED = "opportunity.status_changed"
    LEAD_SUBMITTED = "lead.submitted"
    """A lead form was submitted: the delivery names the lead, whose answers are fetched from
    the provider (LeadFetcher)."""
    MESSAGE_INBOUND = "message.inbound"
    MESSAGE_OUTBOUND = "message.outbound"
    APP_INSTALLED = "app.installed"
    APP_UNINSTALLED = "app.uninstalled"
    UNHANDLED = "unhandled"
    """Stored and acknowledged, then marked ignored."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Stored, never attempted (or replayed)."""
    PROCESSING = "processing"
    """Claimed by a worker until its lease ends."""
    DONE = "done"
    IGNORED = "ignored"
    """No handler applies (or the handler found nothing to do)."""
    FAILED = "failed"
    """An attempt failed; retried at `next_attempt_at`."""
    DEAD = "dead"
    """Given up on after the last attempt; replayable."""
    REJECTED = "rejected"
    """Verified but refused (the integration was not active); replayable."""


REPLAYABLE = frozenset({DeliveryStatus.DEAD, DeliveryStatus.REJECTED})
PURGEABLE = frozenset({DeliveryStatus.DONE, DeliveryStatus.IGNORED, DeliveryStatus.REJECTED})
"""Settled deliveries, whose payloads are purged after the retention."""


class WebhookDelivery(Aggregate):
    """A delivery as far as the outbox needs an aggregate: the inbox settles rows with single
    statements, and hands the events this records to the unit of work."""

    def __init__(self, *, id: str, sub_account_id: str, version: int) -> None:
        super().__init__()
        self.id = id
        self.sub_account_id = sub_account_id
        self.version = version

    @classmethod
    def dead_lettered(
        cls,
        *,
        id: str,
        sub_account_id: str,
        integration_id: str,
        delivery_id: str,
        event_type: str,
        kind: EventKind,
        attempts: int,
        error: str,
        now: datetime,
    ) -> WebhookDelivery:
        """The delivery given up on after `attempts` attempts, recording WebhookDeadLettered."""
        delivery = cls(id=id, sub_account_id=sub_account_id, version=attempts)
        delivery._record(
            WebhookDeadLettered(
                aggregate_id=id,
                aggregate_version=attempts,
                occurred_at=now,
                sub_account_id=sub_account_id,
                integration_id=integration_id,
                delivery_id=delivery_id,
                sender_event=event_type,
                kind=kind.value,
                attempts=attempts,
                last_error=error,
            )
        )
        return delivery

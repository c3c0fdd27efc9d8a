"""Applying a stored delivery: the handler port the worker drives, one per event kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from application.ports.deliveries import InboundEvent
from application.ports.storage import UnitOfWork


class HandlerOutcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"


class EventHandler(Protocol):
    """Applies one kind of event. Runs inside the worker's unit of work, which marks the delivery
    done in the same transaction; must be idempotent (a delivery may be processed again after a
    crash before commit). Raises to have the delivery retried, then dead-lettered."""

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome: ...

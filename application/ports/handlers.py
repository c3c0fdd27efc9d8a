"""Applying a stored delivery: the handler port the worker drives, one per event kind."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

from application.ports.deliveries import InboundEvent
from application.ports.storage import UnitOfWork, UnitOfWorkFactory


class HandlerOutcome(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"


class EventHandler(Protocol):
    """Applies one kind of event. Runs inside the worker's unit of work, which marks the delivery
    done in the same transaction; must be idempotent (a delivery may be processed again after a
    crash before commit). Raises to have the delivery retried, then dead-lettered. Makes no
    provider call: what it needs from the provider, `PreparingHandler.prepare` fetches first."""

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome: ...


@runtime_checkable
class PreparingHandler(EventHandler, Protocol):
    """A handler that needs something from the provider (a lead's answers, the account's
    settings) to apply an event: the worker calls `prepare` before it opens its transaction, so
    that no provider call is made while one is open."""

    async def prepare(self, uows: UnitOfWorkFactory, event: InboundEvent) -> InboundEvent:
        """The event to `handle`, with what it needs in `InboundEvent.fetched`. May read in a
        unit of work of its own (closed before any provider call). Raises as `handle`."""
        ...

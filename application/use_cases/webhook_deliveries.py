"""ListWebhookDeliveries and ReplayWebhookDelivery: the inbox as operators see it."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.access import require_admin, visible_integration
from application.ports import (
    Clock,
    DeliveryFilter,
    Page,
    PageRequest,
    UnitOfWorkFactory,
    WebhookDeliveryView,
)
from domain.errors import NotFoundError, PermissionDeniedError
from domain.values import Principal
from domain.webhook_delivery import DeliveryStatus, EventKind


@dataclass(frozen=True, slots=True, kw_only=True)
class ListWebhookDeliveriesQuery:
    actor: Principal
    page: PageRequest
    integration_id: str | None = None
    """None lists every integration the actor may see."""
    sub_account_id: str | None = None
    """Admins may name any sub-account or none (all); others get their own whatever they ask."""
    statuses: frozenset[DeliveryStatus] = field(default_factory=frozenset)
    event_type: str | None = None
    kind: EventKind | None = None


class ListWebhookDeliveries:
    """Rules: deliveries in arrival order, filtered by integration, status, event type and kind;
    non-admins are confined to their own sub-account (asking for another one is refused, and
    another sub-account's integration is not found)."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, query: ListWebhookDeliveriesQuery) -> Page[WebhookDeliveryView]:
        sub_account_id = query.sub_account_id or None
        if not query.actor.is_admin:
            if sub_account_id not in (None, query.actor.sub_account_id):
                raise PermissionDeniedError("you may list only your own sub-account's deliveries")
            sub_account_id = query.actor.sub_account_id
            if sub_account_id is None:
                raise PermissionDeniedError("the token names no sub-account")
        async with self._uow() as uow:
            if query.integration_id is not None:
                visible_integration(
                    query.actor,
                    await uow.integrations.get(query.integration_id),
                    query.integration_id,
                )
            return await uow.inbox.list_page(
                DeliveryFilter(
                    sub_account_id=sub_account_id,
                    integration_id=query.integration_id,
                    statuses=query.statuses,
                    event_type=query.event_type or None,
                    kind=query.kind,
                ),
                query.page,
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayWebhookDeliveryCommand:
    actor: Principal
    integration_id: str
    delivery_id: str
    """Our id of the delivery (its resource id), not the sender's."""


class ReplayWebhookDelivery:
    """Rules: admins only; the delivery belongs to the named integration (else not found); only
    a dead or rejected delivery whose payload is kept can be replayed: it becomes pending with
    its attempts reset, and the worker processes it again."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, cmd: ReplayWebhookDeliveryCommand) -> WebhookDeliveryView:
        require_admin(cmd.actor, "replaying a webhook delivery")
        async with self._uow() as uow:
            current = await uow.inbox.get(cmd.delivery_id)
            if current is None or current.integration_id != cmd.integration_id:
                raise NotFoundError("webhook delivery", cmd.delivery_id)
            replayed = await uow.inbox.replay(cmd.delivery_id, now=self._clock.now())
            await uow.commit()
        return replayed

"""WebhookService: the webhook inbox over gRPC (list deliveries, replay a dead letter)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf import timestamp_pb2

from application.ports import WebhookDeliveryView
from application.use_cases.webhook_deliveries import (
    ListWebhookDeliveries,
    ListWebhookDeliveriesQuery,
    ReplayWebhookDelivery,
    ReplayWebhookDeliveryCommand,
)
from domain.webhook_delivery import DeliveryStatus, EventKind
from entrypoints.grpc import mappers
from entrypoints.grpc.interceptors import current_principal
from entrypoints.grpc.pagination import PageTokens, Scope
from integrations.v1 import webhook_delivery_pb2, webhook_service_pb2
from integrations.v1 import webhook_service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_DELIVERIES = "/webhookDeliveries/"

State = webhook_delivery_pb2.WebhookDelivery.State
STATES: Mapping[DeliveryStatus, State.ValueType] = {
    DeliveryStatus.PENDING: State.STATE_PENDING,
    DeliveryStatus.PROCESSING: State.STATE_PROCESSING,
    DeliveryStatus.DONE: State.STATE_DONE,
    DeliveryStatus.IGNORED: State.STATE_IGNORED,
    DeliveryStatus.FAILED: State.STATE_FAILED,
    DeliveryStatus.DEAD: State.STATE_DEAD,
    DeliveryStatus.REJECTED: State.STATE_REJECTED,
}
_STATUSES: Mapping[int, DeliveryStatus] = {int(v): k for k, v in STATES.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookUseCases:
    """Every use case WebhookService calls, built by the composition root."""

    list_deliveries: ListWebhookDeliveries
    replay_delivery: ReplayWebhookDelivery


class WebhookServiceServicer(pb_grpc.WebhookServiceServicer):
    """Thin, like IntegrationServiceServicer: the interceptors authenticate and map errors."""

    def __init__(self, use_cases: WebhookUseCases, page_tokens: PageTokens) -> None:
        self._uc = use_cases
        self._pages = page_tokens

    async def ListWebhookDeliveries(
        self, request: webhook_service_pb2.ListWebhookDeliveriesRequest, context: Context
    ) -> webhook_service_pb2.ListWebhookDeliveriesResponse:
        integration_id = mappers.integration_parent_of(request.parent)
        statuses = frozenset(_status_of(s) for s in request.states)
        kind = _kind_of(request.kind)
        scope: Scope = {
            "method": "ListWebhookDeliveries",
            "parent": request.parent,
            "states": sorted(s.value for s in statuses),
            "event_type": request.event_type,
            "kind": request.kind,
            "sub_account_id": request.sub_account_id,
        }
        page = await self._uc.list_deliveries.execute(
            ListWebhookDeliveriesQuery(
                actor=current_principal(),
                page=self._pages.request(
                    size=request.page_size, token=request.page_token, scope=scope
                ),
                integration_id=integration_id,
                sub_account_id=request.sub_account_id or None,
                statuses=statuses,
                event_type=request.event_type or None,
                kind=kind,
            )
        )
        return webhook_service_pb2.ListWebhookDeliveriesResponse(
            webhook_deliveries=[delivery_to_proto(d) for d in page.items],
            next_page_token=self._pages.next_token(page.next_after_id, scope),
        )

    async def ReplayWebhookDelivery(
        self, request: webhook_service_pb2.ReplayWebhookDeliveryRequest, context: Context
    ) -> webhook_service_pb2.ReplayWebhookDeliveryResponse:
        integration_id, delivery_id = delivery_ids_of(request.name)
        view = await self._uc.replay_delivery.execute(
            ReplayWebhookDeliveryCommand(
                actor=current_principal(), integration_id=integration_id, delivery_id=delivery_id
            )
        )
        return webhook_service_pb2.ReplayWebhookDeliveryResponse(
            webhook_delivery=delivery_to_proto(view)
        )


def delivery_name(view: WebhookDeliveryView) -> str:
    return mappers.integration_name(view.integration_id) + _DELIVERIES + view.id


def delivery_ids_of(name: str, *, field: str = "name") -> tuple[str, str]:
    """(integration id, delivery id) of `integrations/{i}/webhookDeliveries/{d}`."""
    return mappers.child_ids_of(name, "webhookDeliveries", field=field)


def _status_of(state: int) -> DeliveryStatus:
    status = _STATUSES.get(state)
    if status is None:
        raise mappers.invalid("states", f"holds an unknown state {state}")
    return status


def _kind_of(kind: str) -> EventKind | None:
    if not kind:
        return None
    try:
        return EventKind(kind)
    except ValueError:
        raise mappers.invalid("kind", f"is not a known kind: {', '.join(EventKind)}") from None


def _timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def delivery_to_proto(view: WebhookDeliveryView) -> webhook_delivery_pb2.WebhookDelivery:
    return webhook_delivery_pb2.WebhookDelivery(
        name=delivery_name(view),
        delivery_id=view.delivery_id,
        sub_account_id=view.sub_account_id,
        event_type=view.event_type,
        kind=view.kind.value,
        state=STATES[view.status],
        attempts=view.attempts,
        last_error=view.last_error or "",
        signature_scheme=view.signature_scheme.value,
        receive_time=_timestamp(view.received_at),
        next_attempt_time=_timestamp(view.next_attempt_at),
        process_time=_timestamp(view.processed_at),
        update_time=_timestamp(view.updated_at),
        payload_purged=view.payload_purged,
    )

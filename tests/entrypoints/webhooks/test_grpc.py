"""WebhookService over a real channel: who sees which deliveries, filters and pages, and a dead
letter replayed and then processed."""

from __future__ import annotations

import random
from datetime import timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from application.delivery_policy import BackoffPolicy
from application.ports import HandlerOutcome, InboundEvent, UnitOfWork
from domain.webhook_delivery import DeliveryStatus, EventKind
from entrypoints.worker.inbox_worker import InboxWorker
from integrations.v1 import webhook_delivery_pb2
from integrations.v1 import webhook_service_pb2 as pb
from tests.entrypoints.grpc.conftest import (
    OTHER_TENANT,
    TENANT,
    admin_md,
    rejected,
    user_md,
)
from tests.entrypoints.webhooks.conftest import Inbox, WebhookGrpc

State = webhook_delivery_pb2.WebhookDelivery.State


async def two_tenants(inbox: Inbox) -> tuple[str, str, list[str], list[str]]:
    mine = await inbox.integration("loc-1", sub_account_id=TENANT)
    theirs = await inbox.integration("loc-2", sub_account_id=OTHER_TENANT)
    my_ids = [
        await inbox.delivery(mine),
        await inbox.delivery(mine, kind=EventKind.UNHANDLED, event_type="NoteCreate"),
        await inbox.delivery(mine, status=DeliveryStatus.REJECTED),
    ]
    their_ids = [await inbox.delivery(theirs)]
    return mine.id, theirs.id, my_ids, their_ids


def ids_of(response: pb.ListWebhookDeliveriesResponse) -> list[str]:
    return [d.name.rsplit("/", 1)[1] for d in response.webhook_deliveries]


async def test_an_admin_lists_every_tenants_deliveries(
    webhook_grpc: WebhookGrpc, inbox: Inbox
) -> None:
    _, _, mine, theirs = await two_tenants(inbox)

    response = await webhook_grpc.stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(parent="integrations/-"), metadata=admin_md()
    )

    assert ids_of(response) == mine + theirs
    first = response.webhook_deliveries[0]
    assert first.name.startswith("integrations/")
    assert "/webhookDeliveries/" in first.name
    assert (first.event_type, first.kind, first.state) == (
        "ContactCreate",
        "contact.created",
        State.STATE_PENDING,
    )
    assert first.signature_scheme == "published-ed25519"
    assert first.delivery_id.startswith("wh-")
    assert first.receive_time.ToDatetime().year == 2026
    assert not first.HasField("process_time")
    assert response.next_page_token == ""


async def test_a_user_sees_only_their_own_sub_accounts_deliveries(
    webhook_grpc: WebhookGrpc, inbox: Inbox
) -> None:
    mine_id, theirs_id, mine, _ = await two_tenants(inbox)

    everything = await webhook_grpc.stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(parent="integrations/-"), metadata=user_md()
    )
    of_mine = await webhook_grpc.stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(parent=f"integrations/{mine_id}"), metadata=user_md()
    )

    assert ids_of(everything) == mine
    assert ids_of(of_mine) == mine
    other = await rejected(
        webhook_grpc.stub.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(parent=f"integrations/{theirs_id}"), metadata=user_md()
        )
    )
    assert other.code is grpc.StatusCode.NOT_FOUND
    asked = await rejected(
        webhook_grpc.stub.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(parent="integrations/-", sub_account_id=OTHER_TENANT),
            metadata=user_md(),
        )
    )
    assert asked.code is grpc.StatusCode.PERMISSION_DENIED


async def test_deliveries_are_filtered_by_state_event_type_and_kind(
    webhook_grpc: WebhookGrpc, inbox: Inbox
) -> None:
    _, _, mine, _ = await two_tenants(inbox)

    async def listed(**filters: object) -> list[str]:
        return ids_of(
            await webhook_grpc.stub.ListWebhookDeliveries(
                pb.ListWebhookDeliveriesRequest(parent="integrations/-", **filters),  # type: ignore[arg-type]
                metadata=user_md(),
            )
        )

    assert await listed(states=[State.STATE_REJECTED]) == [mine[2]]
    assert await listed(states=[State.STATE_PENDING, State.STATE_REJECTED]) == mine
    assert await listed(event_type="NoteCreate") == [mine[1]]
    assert await listed(kind="unhandled") == [mine[1]]
    assert await listed(kind="contact.created", states=[State.STATE_PENDING]) == [mine[0]]
    assert await listed(states=[State.STATE_DEAD]) == []


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"parent": ""}, "parent"),
        ({"parent": "integrations"}, "parent"),
        ({"parent": "integrations/-", "kind": "contact.exploded"}, "kind"),
        ({"parent": "integrations/-", "states": [0]}, "states"),
        ({"parent": "integrations/-", "page_size": -1}, "page_size"),
        ({"parent": "integrations/-", "page_token": "forged"}, "page_token"),
    ],
)
async def test_malformed_list_requests_are_invalid(
    webhook_grpc: WebhookGrpc, request_fields: dict[str, object], field: str
) -> None:
    failure = await rejected(
        webhook_grpc.stub.ListWebhookDeliveries(
            pb.ListWebhookDeliveriesRequest(**request_fields),  # type: ignore[arg-type]
            metadata=admin_md(),
        )
    )

    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    assert failure.bad_request is not None
    assert [v.field for v in failure.bad_request.field_violations] == [field]


async def test_deliveries_come_in_pages_whose_tokens_keep_their_filters(
    webhook_grpc: WebhookGrpc, inbox: Inbox
) -> None:
    _, _, mine, theirs = await two_tenants(inbox)
    request = pb.ListWebhookDeliveriesRequest(parent="integrations/-", page_size=3)

    first = await webhook_grpc.stub.ListWebhookDeliveries(request, metadata=admin_md())
    request.page_token = first.next_page_token
    second = await webhook_grpc.stub.ListWebhookDeliveries(request, metadata=admin_md())

    assert ids_of(first) + ids_of(second) == mine + theirs
    assert second.next_page_token == ""
    request.kind = "contact.created"
    request.page_token = first.next_page_token
    refused = await rejected(webhook_grpc.stub.ListWebhookDeliveries(request, metadata=admin_md()))
    assert refused.code is grpc.StatusCode.INVALID_ARGUMENT


class Flaky:
    """Fails until `healed`."""

    def __init__(self) -> None:
        self.healed = False

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        if not self.healed:
            raise LookupError("the contact is not there yet")
        return HandlerOutcome.APPLIED


async def test_a_dead_letter_replayed_by_an_admin_is_processed_again(
    webhook_grpc: WebhookGrpc, inbox: Inbox
) -> None:
    integration = await inbox.integration("loc-1", sub_account_id=TENANT)
    row_id = await inbox.delivery(integration)
    handler = Flaky()
    worker = InboxWorker(
        uow=inbox.uow,
        handlers=lambda _template: {EventKind.CONTACT_CREATED: handler},
        clock=inbox.clock,
        backoff=BackoffPolicy(base=timedelta(seconds=1), max_attempts=2),
        rng=random.Random(3),
    )
    for _ in range(2):
        inbox.clock.advance(minutes=1)
        await worker.run_once()
    name = f"integrations/{integration.id}/webhookDeliveries/{row_id}"
    dead = await webhook_grpc.stub.ListWebhookDeliveries(
        pb.ListWebhookDeliveriesRequest(parent="integrations/-", states=[State.STATE_DEAD]),
        metadata=admin_md(),
    )
    assert [d.name for d in dead.webhook_deliveries] == [name]
    assert dead.webhook_deliveries[0].last_error == "LookupError: the contact is not there yet"
    assert dead.webhook_deliveries[0].attempts == 2

    replayed = await webhook_grpc.stub.ReplayWebhookDelivery(
        pb.ReplayWebhookDeliveryRequest(name=name), metadata=admin_md()
    )
    handler.healed = True
    await worker.run_once()

    assert (replayed.webhook_delivery.state, replayed.webhook_delivery.attempts) == (
        State.STATE_PENDING,
        0,
    )
    [stored] = inbox.uow.store.deliveries.values()
    assert (stored.status, stored.attempts) == (DeliveryStatus.DONE, 1)


async def test_only_admins_replay_and_only_replayable_deliveries(
    webhook_grpc: WebhookGrpc, inbox: Inbox
) -> None:
    integration = await inbox.integration("loc-1", sub_account_id=TENANT)
    other = await inbox.integration("loc-2", sub_account_id=OTHER_TENANT)
    dead = await inbox.delivery(integration, status=DeliveryStatus.REJECTED)
    pending = await inbox.delivery(integration)

    def name(integration_id: str, row_id: str) -> str:
        return f"integrations/{integration_id}/webhookDeliveries/{row_id}"

    async def replay(delivery_name: str, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
        failure = await rejected(
            webhook_grpc.stub.ReplayWebhookDelivery(
                pb.ReplayWebhookDeliveryRequest(name=delivery_name), metadata=metadata
            )
        )
        return failure.code

    assert await replay(name(integration.id, dead), user_md()) is grpc.StatusCode.PERMISSION_DENIED
    assert await replay(name(integration.id, pending), admin_md()) is (
        grpc.StatusCode.FAILED_PRECONDITION
    )
    assert await replay(name(other.id, dead), admin_md()) is grpc.StatusCode.NOT_FOUND
    assert await replay(name(integration.id, "wd-missing"), admin_md()) is grpc.StatusCode.NOT_FOUND
    assert await replay(f"integrations/{integration.id}", admin_md()) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_the_service_reports_serving_on_the_health_service(
    webhook_grpc: WebhookGrpc,
) -> None:
    health = health_pb2_grpc.HealthStub(webhook_grpc.channel)

    status = await health.Check(
        health_pb2.HealthCheckRequest(service="integrations.v1.WebhookService")
    )

    assert status.status == health_pb2.HealthCheckResponse.SERVING

"""GET /metrics on the webhook port, parsed with prometheus_client's own text parser: values
move as webhooks arrive and are processed and as GHL is called; no label carries a secret or a
contact's data."""

from __future__ import annotations

from typing import Any

from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from entrypoints.commands import resolve
from integrations.v1 import integration_service_pb2
from tests.integration.observability.conftest import (
    JWT_SECRET,
    WEBHOOK_SECRET,
    Scrape,
    Service,
    user_md,
)

CONTACT_ID = "ctc-9f8e7d6c5b4a"
EMAIL = "grace.hopper@example.com"
PHONE = "+13125550188"


def contact_created(contact_id: str = CONTACT_ID, location_id: str = DEMO_LOCATION_ID) -> Any:
    return {
        "type": "ContactCreate",
        "webhookId": f"wh-{contact_id}",
        "locationId": location_id,
        "id": contact_id,
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": EMAIL,
        "phone": PHONE,
        "dateAdded": "2026-03-01T10:00:00.000Z",
    }


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


async def test_metrics_move_as_webhooks_arrive_are_processed_and_ghl_is_called(
    service: Service,
) -> None:
    integration = await service.create_ghl_integration()
    before = await service.scrape()

    assert await service.post_webhook("contact.created", contact_created()) == 200
    assert await service.post_webhook("contact.created", contact_created()) == 200  # again
    assert await service.post_webhook("contact.created", contact_created(), secret="wrong") == 401
    unknown = contact_created("ctc-elsewhere", location_id="loc-nobody-has")
    assert await service.post_webhook("contact.created", unknown) == 404
    waiting = await service.scrape()

    kind = "contact.created"
    assert moved(before, waiting, "integrations_webhooks_received_total", event_type=kind) == 4
    assert moved(before, waiting, "integrations_webhooks_verified_total", event_type=kind) == 2
    assert moved(before, waiting, "integrations_webhooks_duplicate_total", event_type=kind) == 1
    for reason in ("signature", "unknown_location"):
        assert (
            moved(
                before,
                waiting,
                "integrations_webhooks_rejected_total",
                event_type=kind,
                reason=reason,
            )
            == 1
        )
    assert moved(before, waiting, "integrations_webhook_ingest_duration_seconds_count") == 4
    assert waiting.value("integrations_inbox_stats_up") == 1
    assert waiting.value("integrations_inbox_deliveries", status="pending") == 1
    assert waiting.value("integrations_inbox_due_deliveries") == 1
    assert waiting.value("integrations_inbox_oldest_due_age_seconds") >= 0

    worker = await resolve(service.container.inbox_worker)
    assert await worker.run_once() == 1
    processed = await service.scrape()

    assert (
        moved(
            waiting,
            processed,
            "integrations_inbox_deliveries_processed_total",
            event_type=kind,
            outcome="applied",
        )
        == 1
    )
    assert (
        moved(
            waiting,
            processed,
            "integrations_inbox_processing_duration_seconds_count",
            event_type=kind,
        )
        == 1
    )
    assert (
        moved(
            waiting, processed, "integrations_inbox_delivery_latency_seconds_count", event_type=kind
        )
        == 1
    )
    assert processed.value("integrations_inbox_deliveries", status="pending") == 0
    assert processed.value("integrations_inbox_due_deliveries") == 0

    await service.integrations.GetIntegrationHealth(
        integration_service_pb2.GetIntegrationHealthRequest(name=integration.name),
        metadata=user_md(),
    )
    await service.set_faults({"scripted": [{"kind": "status", "status": 429, "count": 1}]})
    await service.integrations.GetIntegrationHealth(
        integration_service_pb2.GetIntegrationHealthRequest(name=integration.name),
        metadata=user_md(),
    )
    called = await service.scrape()

    location = {"method": "GET", "endpoint": "/locations/{id}"}
    assert (
        moved(processed, called, "integrations_ghl_requests_total", status="200", **location) >= 1
    )
    assert (
        moved(processed, called, "integrations_ghl_requests_total", status="429", **location) == 1
    )
    assert (
        moved(processed, called, "integrations_ghl_throttled_total", endpoint="/locations/{id}")
        == 1
    )
    assert (
        moved(
            processed,
            called,
            "integrations_ghl_retries_total",
            endpoint="/locations/{id}",
            reason="throttled",
        )
        == 1
    )
    assert (
        moved(processed, called, "integrations_ghl_request_duration_seconds_count", **location) >= 2
    )

    # Nothing a tenant or a contact owns, and no secret, is ever a label value.
    private = {
        DEMO_PRIVATE_TOKEN,
        WEBHOOK_SECRET,
        JWT_SECRET,
        DEMO_LOCATION_ID,
        "loc-nobody-has",
        CONTACT_ID,
        "ctc-elsewhere",
        EMAIL,
        PHONE,
        "Grace",
        "Hopper",
    }
    labels = called.label_values()
    assert labels, "the scrape has labelled series"
    assert not labels & private
    assert not any(secret in called.text for secret in (DEMO_PRIVATE_TOKEN, WEBHOOK_SECRET))

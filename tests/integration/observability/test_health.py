"""GetIntegrationHealth end to end: the real container and gRPC server, a fake GHL that works,
then fails, then works again."""

from __future__ import annotations

import json

import grpc
import pytest

from adapters.crypto.signatures import hmac_signature
from adapters.ghl.fake.seed import DEMO_LOCATION_ID
from domain.values import SecretStr
from integrations.v1 import integration_health_pb2, integration_pb2, integration_service_pb2
from tests.integration.observability.conftest import (
    WEBHOOK_SECRET,
    Service,
    other_user_md,
    user_md,
)

Health = integration_health_pb2.IntegrationHealth


async def health_of(service: Service, name: str) -> integration_health_pb2.IntegrationHealth:
    response = await service.integrations.GetIntegrationHealth(
        integration_service_pb2.GetIntegrationHealthRequest(name=name), metadata=user_md()
    )
    return response.integration_health


async def test_health_reflects_a_working_then_failing_then_recovered_ghl(service: Service) -> None:
    integration = await service.create_ghl_integration()
    assert integration.state == integration_pb2.Integration.STATE_ACTIVE

    healthy = await health_of(service, integration.name)

    assert healthy.state == Health.STATE_OK
    assert healthy.name == integration.name
    assert healthy.template == "integrationTemplates/gohighlevel"
    assert healthy.integration_state == integration_pb2.Integration.STATE_ACTIVE
    assert healthy.connection.state == Health.STATE_OK
    assert healthy.connection.reason.startswith("Connected to GoHighLevel location")
    assert healthy.connection.HasField("latency")
    # The live call's X-RateLimit-* headers, as the fake sends GHL's documented limits.
    limits = healthy.rate_limits
    assert limits.state == Health.STATE_OK
    assert (limits.burst_limit, limits.daily_limit) == (100, 200_000)
    assert 0 < limits.burst_remaining < 100
    assert limits.burst_interval.ToMilliseconds() == 10_000
    assert limits.bucket_limit_per_minute == 100
    assert not limits.bucket_shared
    assert healthy.webhooks.state == Health.STATE_OK
    assert healthy.webhooks.reason == "no webhook received yet"

    await service.set_faults({"error_rate": 1.0, "error_status": 503})
    failing = await health_of(service, integration.name)

    assert failing.state == Health.STATE_FAILING
    assert failing.connection.state == Health.STATE_FAILING
    assert failing.connection.error_code == "CONNECTION_FAILED"
    assert failing.connection.reason == "GoHighLevel answered HTTP 503"
    # Health reports; it does not move the integration's state (TestIntegration does).
    assert failing.integration_state == integration_pb2.Integration.STATE_ACTIVE

    await service.set_faults({})
    recovered = await health_of(service, integration.name)
    assert recovered.state == Health.STATE_OK


async def test_a_ghl_that_refuses_the_token_fails_the_connection_check(service: Service) -> None:
    integration = await service.create_ghl_integration()
    await service.set_faults({"scripted": [{"kind": "status", "status": 401, "count": 1}]})

    health = await health_of(service, integration.name)

    assert health.connection.state == Health.STATE_FAILING
    assert health.connection.error_code == "INVALID_CREDENTIALS"
    assert health.state == Health.STATE_FAILING


async def test_another_tenant_asking_for_the_health_of_an_integration_gets_not_found(
    service: Service,
) -> None:
    integration = await service.create_ghl_integration()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.integrations.GetIntegrationHealth(
            integration_service_pb2.GetIntegrationHealthRequest(name=integration.name),
            metadata=other_user_md(),
        )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_webhooks_failing_verification_then_verified_show_in_the_webhook_check(
    service: Service,
) -> None:
    integration = await service.create_ghl_integration()
    payload = {"type": "ContactCreate", "locationId": DEMO_LOCATION_ID, "id": "ctc-1"}

    assert await service.post_webhook("contact.created", payload, secret="stale-secret") == 401
    forged = (await health_of(service, integration.name)).webhooks

    assert forged.state == Health.STATE_FAILING
    assert "fail signature verification" in forged.reason
    assert forged.rejected_count == 1
    assert forged.HasField("last_receive_time")
    assert not forged.HasField("last_verify_time")
    # The same refusal, by integration, for alerts.
    unverified = "integrations_webhooks_unverified_last_hour"
    integration_id = integration.name.removeprefix("integrations/")
    scrape = await service.scrape()
    assert scrape.value(unverified, integration_id=integration_id, reason="signature") == 1
    assert scrape.value(unverified, integration_id=integration_id, reason="unsigned") == 0

    assert await service.post_webhook("contact.created", payload) == 200
    verified = (await health_of(service, integration.name)).webhooks

    assert verified.state == Health.STATE_DEGRADED
    assert verified.reason == "1 deliveries failed signature verification in the last 1 d"
    assert verified.HasField("last_verify_time")
    assert verified.backlog_count == 1
    assert verified.last_receive_time == verified.last_verify_time


async def test_deliveries_without_the_integrations_signature_are_counted_apart_from_failures(
    service: Service,
) -> None:
    integration = await service.create_ghl_integration()
    payload = {"type": "ContactCreate", "locationId": DEMO_LOCATION_ID, "id": "ctc-1"}
    body = json.dumps(payload).encode()
    before = await service.scrape()
    anyones = (
        ("/webhooks/ghl/contact.created", {}),  # unsigned
        # The seed's HMAC on GHL's marketplace route, where the integration accepts only GHL's.
        ("/webhooks/ghl", {"x-webhook-signature": hmac_signature(SecretStr(WEBHOOK_SECRET), body)}),
        # Standard Webhooks headers: a scheme this integration does not use.
        ("/webhooks/ghl/contact.created", {"webhook-id": "m-1", "webhook-signature": "v1,AAAA"}),
    )
    for path, headers in anyones:
        async with service.http.post(
            f"{service.webhook_url}{path}",
            data=body,
            headers={"content-type": "application/json", **headers},
        ) as response:
            assert response.status == 401

    health = await health_of(service, integration.name)
    after = await service.scrape()

    assert health.state == Health.STATE_OK
    assert health.webhooks.state == Health.STATE_OK
    assert health.webhooks.reason == "no webhook received yet"
    assert health.webhooks.rejected_count == 0
    assert health.webhooks.unauthenticated_count == 3
    assert not health.webhooks.HasField("last_receive_time")
    rejected = "integrations_webhooks_rejected_total"
    for reason, added in (("unsigned", 3), ("signature", 0)):
        labels = {"event_type": "contact.created", "reason": reason}
        assert after.value(rejected, **labels) - before.value(rejected, **labels) == added

    # A delivery that carries the integration's own scheme and fails it still counts.
    assert await service.post_webhook("contact.created", payload, secret="stale-secret") == 401
    forged = (await health_of(service, integration.name)).webhooks

    assert forged.state == Health.STATE_FAILING
    assert forged.rejected_count == 1
    assert forged.unauthenticated_count == 3

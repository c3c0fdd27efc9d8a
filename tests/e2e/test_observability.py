"""The running service's operations surface: /healthz, /readyz and /metrics on the webhook port,
GetIntegrationHealth, and the event stream, as `integrations serve` wires them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from adapters.ghl.fake import create_app
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from integrations.v1 import (
    event_service_pb2,
    event_service_pb2_grpc,
    integration_health_pb2,
    integration_pb2,
    integration_service_pb2,
    integration_service_pb2_grpc,
)
from tests.e2e.conftest import Service
from tests.support.waiting import PATIENCE_SECONDS


@pytest.fixture
async def fake_ghl_url() -> AsyncIterator[str]:
    server = TestServer(create_app(), host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def service_extra_env(fake_ghl_url: str) -> dict[str, str]:
    return {"GHL_API_BASE_URL": fake_ghl_url}


async def test_the_running_service_reports_its_health_metrics_and_events(
    service: Service,
) -> None:
    assert service.webhook_port is not None
    base = f"http://127.0.0.1:{service.webhook_port}"
    async with aiohttp.ClientSession() as http:
        for path, status in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200)):
            async with http.get(base + path) as response:
                assert response.status == status, path
        async with http.get(base + "/metrics") as response:
            names = {f.name for f in text_string_to_metric_families(await response.text())}
    assert {"integrations_inbox_deliveries", "integrations_sync_stats_up"} <= names

    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        integrations: integration_service_pb2_grpc.IntegrationServiceAsyncStub = (
            integration_service_pb2_grpc.IntegrationServiceStub(channel)
        )
        integration = integration_pb2.Integration(
            sub_account_id="sa-ops",
            template="integrationTemplates/gohighlevel",
            display_name="Ops CRM",
        )
        integration.config.update({"apiKey": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID})
        created = await integrations.CreateIntegration(
            integration_service_pb2.CreateIntegrationRequest(integration=integration),
            metadata=service.metadata(),
        )
        health = await integrations.GetIntegrationHealth(
            integration_service_pb2.GetIntegrationHealthRequest(name=created.integration.name),
            metadata=service.metadata("user", "sa-ops"),
        )
        assert (
            health.integration_health.connection.state
            == integration_health_pb2.IntegrationHealth.STATE_OK
        )

        events: event_service_pb2_grpc.EventServiceAsyncStub = (
            event_service_pb2_grpc.EventServiceStub(channel)
        )
        stream = events.StreamEvents(
            event_service_pb2.StreamEventsRequest(), metadata=service.metadata("user", "sa-ops")
        )
        first = await asyncio.wait_for(stream.read(), timeout=PATIENCE_SECONDS)
        stream.cancel()
    assert isinstance(first, event_service_pb2.StreamEventsResponse)
    assert first.event.event_type == "IntegrationCreated"
    assert first.event.aggregate_id == created.integration.name.removeprefix("integrations/")

    # The gRPC calls above are measured on the same /metrics (the gRPC middlewares' names).
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as response:
        families = list(text_string_to_metric_families(await response.text()))
    handled = {
        (s.labels["grpc_method"], s.labels["grpc_code"]): s.value
        for family in families
        if family.name == "grpc_server_handled"
        for s in family.samples
    }
    assert handled[("CreateIntegration", "OK")] == 1
    assert handled[("GetIntegrationHealth", "OK")] == 1

"""The running service with a GHL integration and a GA4 integration on one sub-account: a
contact created at GHL (its signed ContactCreate), a booking made for it and its lead won reach
the fake GA4 as generate_lead, qualify_lead and close_convert_lead, once each, with no personal
data, and a kill -9 between them loses none."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import field_mask_pb2, timestamp_pb2

from adapters.ga4.fake import FAKE_GA4, FakeGa4
from adapters.ga4.fake import create_app as create_fake_ga4
from adapters.ga4.fake.seed import (
    DEMO_API_SECRET,
    DEMO_MEASUREMENT_ID,
    DEMO_PROPERTY_ID,
    service_account_key,
)
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from integrations.v1 import integration_pb2, integration_service_pb2, lead_pb2, lead_service_pb2
from tests.e2e import test_webhooks_to_leads as ghl_e2e
from tests.e2e.conftest import Service, start_service, stop_service
from tests.e2e.test_webhooks_to_leads import (
    SUB_ACCOUNT,
    Client,
    FakeGhlServer,
    create_contact,
    eventually,
)

# The fake GHL and the gRPC client of the GHL webhook tests, used here by name.
fake_ghl = ghl_e2e.fake_ghl
client = ghl_e2e.client

CALENDAR = "fakeCalendar00000001"


@pytest.fixture
async def fake_ga4() -> AsyncIterator[tuple[str, FakeGa4]]:
    app = create_fake_ga4()
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app[FAKE_GA4]
    await server.close()


@pytest.fixture
def service_extra_env(
    fake_ghl: FakeGhlServer, fake_ga4: tuple[str, FakeGa4], tmp_path: Path
) -> dict[str, str]:
    key_file = tmp_path / "fake-ghl-ed25519.pem"
    key_file.write_text(fake_ghl.fake.webhooks.public_key_pem())
    ga4_url = fake_ga4[0]
    return {
        "GHL_API_BASE_URL": fake_ghl.url,
        "GHL_WEBHOOK_ED25519_KEY_FILE": str(key_file),
        "GA4_MP_BASE_URL": ga4_url,
        "GA4_ADMIN_BASE_URL": ga4_url,
        "GA4_TOKEN_URL": f"{ga4_url}/token",
    }


def measured(ga4: FakeGa4) -> list[str]:
    return [
        event["name"]
        for request in ga4.collected
        if request.accepted
        for event in request.body["events"]
    ]


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


async def test_a_ghl_leads_funnel_reaches_ga4_once_each_through_a_kill_9(
    service: Service,
    fake_ghl: FakeGhlServer,
    fake_ga4: tuple[str, FakeGa4],
    client: Client,
) -> None:
    ga4_url, ga4 = fake_ga4
    fake_ghl.send_webhooks_to(service)
    crm = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/gohighlevel",
        display_name="Clinic CRM",
    )
    crm.config.update(
        {"apiKey": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID, "calendarId": CALENDAR}
    )
    analytics = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/google_analytics",
        display_name="Website property",
    )
    analytics.config.update(
        {
            "measurementId": DEMO_MEASUREMENT_ID,
            "apiSecret": DEMO_API_SECRET,
            "propertyId": DEMO_PROPERTY_ID,
            "serviceAccountKey": service_account_key(f"{ga4_url}/token"),
        }
    )
    created: dict[str, Any] = {}
    for key, config in (("crm", crm), ("ga4", analytics)):
        reply = await client.integrations.CreateIntegration(
            integration_service_pb2.CreateIntegrationRequest(integration=config),
            metadata=client.admin,
        )
        assert reply.connection_test.success, reply.connection_test.message
        created[key] = reply.integration

    await create_contact(
        fake_ghl, firstName="Grace", email="grace@example.com", phone="+12065550123"
    )
    [lead] = await eventually(lambda: client.leads_of(created["crm"].name), bool)
    assert await eventually(lambda: _probe(ga4), lambda names: names == ["generate_lead"])

    # The service dies between the lead's steps; a new process takes over.
    service.process.kill()
    service.process.wait(timeout=10)
    restarted = await asyncio.to_thread(_start_again, service)
    try:
        async with _client_of(restarted) as again:
            start = datetime.now(UTC) + timedelta(days=2)
            await again.leads.CreateBooking(
                lead_service_pb2.CreateBookingRequest(
                    parent=created["crm"].name,
                    lead=lead.name,
                    booking=lead_pb2.Booking(
                        start_time=stamp(start), end_time=stamp(start + timedelta(minutes=30))
                    ),
                    ignore_free_slot_validation=True,
                ),
                metadata=again.admin,
            )
            await again.leads.UpdateLead(
                lead_service_pb2.UpdateLeadRequest(
                    lead=lead_pb2.Lead(name=lead.name, state=lead_pb2.Lead.STATE_WON),
                    update_mask=field_mask_pb2.FieldMask(paths=["state"]),
                ),
                metadata=again.admin,
            )
            names = await eventually(lambda: _probe(ga4), lambda found: len(found) >= 3)
    finally:
        await asyncio.to_thread(_stop, restarted)

    assert names == ["generate_lead", "qualify_lead", "close_convert_lead"]
    sent = json.dumps([request.body for request in ga4.collected])
    for personal in ("grace@example.com", "+12065550123", "2065550123", "Grace", lead.external_id):
        assert personal not in sent


async def _probe(ga4: FakeGa4) -> list[str]:
    return measured(ga4)


def _start_again(service: Service) -> Service:
    return start_service(service.env, service.log_path.with_suffix(".after-kill.log"))


def _stop(service: Service) -> None:
    stop_service(service)


@contextlib.asynccontextmanager
async def _client_of(service: Service) -> AsyncIterator[Client]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield Client(channel, service)

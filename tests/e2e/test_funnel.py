"""The running service sending a sub-account's lead funnel to its GA4 property (the fake GA4):
a lead submitted at a Facebook Page (the fake Meta) is measured as generate_lead, and its win as
close_convert_lead, once each, with no personal data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import field_mask_pb2, struct_pb2

from adapters.ga4.fake import FAKE_GA4, FakeGa4
from adapters.ga4.fake import create_app as create_fake_ga4
from adapters.ga4.fake.seed import (
    DEMO_API_SECRET,
    DEMO_MEASUREMENT_ID,
    DEMO_PROPERTY_ID,
    service_account_key,
)
from adapters.meta.fake import FAKE_META, FakeMeta, Submission
from adapters.meta.fake import create_app as create_fake_meta
from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_VERIFY_TOKEN,
)
from integrations.v1 import (
    integration_health_pb2,
    integration_service_pb2_grpc,
    lead_pb2,
    lead_service_pb2,
    lead_service_pb2_grpc,
)
from integrations.v1 import integration_pb2 as resources
from integrations.v1 import integration_service_pb2 as pb
from tests.e2e.conftest import Service
from tests.e2e.test_meta import eventually


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[str, FakeMeta, str, FakeGa4]]:
    meta_app = create_fake_meta(usage_step_percent=0.01)
    ga4_app = create_fake_ga4()
    meta_server = TestServer(meta_app, host="127.0.0.1", port=0)
    ga4_server = TestServer(ga4_app, host="127.0.0.1", port=0)
    await meta_server.start_server()
    await ga4_server.start_server()
    yield (
        str(meta_server.make_url("")).rstrip("/"),
        meta_app[FAKE_META],
        str(ga4_server.make_url("")).rstrip("/"),
        ga4_app[FAKE_GA4],
    )
    await meta_app[FAKE_META].webhooks.stop()
    await meta_server.close()
    await ga4_server.close()


@pytest.fixture
def service_extra_env(fakes: tuple[str, FakeMeta, str, FakeGa4]) -> dict[str, str]:
    meta_url, _, ga4_url, _ = fakes
    return {
        "META_GRAPH_API_BASE_URL": meta_url,
        "META_APP_ID": DEMO_APP_ID,
        "META_APP_SECRET": DEMO_APP_SECRET,
        "META_WEBHOOK_VERIFY_TOKEN": DEMO_VERIFY_TOKEN,
        "GA4_MP_BASE_URL": ga4_url,
        "GA4_ADMIN_BASE_URL": ga4_url,
        "GA4_TOKEN_URL": f"{ga4_url}/token",
    }


def struct(values: dict[str, object]) -> struct_pb2.Struct:
    config = struct_pb2.Struct()
    config.update(values)
    return config


async def test_a_leads_funnel_reaches_the_sub_accounts_ga4_property_once(
    service: Service, fakes: tuple[str, FakeMeta, str, FakeGa4]
) -> None:
    _, meta, ga4_url, ga4 = fakes
    meta.webhooks.url = f"http://127.0.0.1:{service.webhook_port}/webhooks/meta"
    admin = service.metadata("admin")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        integrations = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        leads = lead_service_pb2_grpc.LeadServiceStub(channel)
        analytics = await integrations.CreateIntegration(
            pb.CreateIntegrationRequest(
                integration=resources.Integration(
                    sub_account_id="sa-funnel",
                    template="integrationTemplates/google_analytics",
                    display_name="Website property",
                    config=struct(
                        {
                            "measurementId": DEMO_MEASUREMENT_ID,
                            "apiSecret": DEMO_API_SECRET,
                            "propertyId": DEMO_PROPERTY_ID,
                            "serviceAccountKey": service_account_key(f"{ga4_url}/token"),
                        }
                    ),
                )
            ),
            metadata=admin,
        )
        assert analytics.connection_test.success, analytics.connection_test.message
        page = await integrations.CreateIntegration(
            pb.CreateIntegrationRequest(
                integration=resources.Integration(
                    sub_account_id="sa-funnel",
                    template="integrationTemplates/facebook_ads",
                    display_name="Clinic page",
                    config=struct({"pageId": DEMO_PAGE_ID, "accessToken": DEMO_PAGE_TOKEN}),
                )
            ),
            metadata=admin,
        )
        assert page.integration.state == resources.Integration.STATE_ACTIVE

        await meta.submit_leads(
            [
                Submission(
                    page_id=DEMO_PAGE_ID,
                    field_data=[
                        {"name": "email", "values": ["grace@example.com"]},
                        {"name": "phone_number", "values": ["+14155550100"]},
                    ],
                )
            ]
        )

        async def listed() -> list[lead_pb2.Lead]:
            reply = await leads.ListLeads(
                lead_service_pb2.ListLeadsRequest(parent=page.integration.name), metadata=admin
            )
            return list(reply.leads)

        [grace] = await eventually(listed, lambda found: len(found) == 1)
        await leads.UpdateLead(
            lead_service_pb2.UpdateLeadRequest(
                lead=lead_pb2.Lead(name=grace.name, state=lead_pb2.Lead.STATE_WON),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=admin,
        )

    def measured() -> list[dict[str, object]]:
        return [
            event
            for request in ga4.collected
            if request.accepted
            for event in request.body["events"]
        ]

    async def probe() -> list[dict[str, object]]:
        return measured()

    events = await eventually(probe, lambda found: len(found) >= 2)
    assert [e["name"] for e in events] == ["generate_lead", "close_convert_lead"]
    assert events[0]["params"]["lead_source"] == "facebook_ads"  # type: ignore[index]
    sent = json.dumps([r.body for r in ga4.collected])
    for personal in ("grace@example.com", "+14155550100", "4155550100", grace.external_id):
        assert personal not in sent

    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        integrations = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        health = await integrations.GetIntegrationHealth(
            pb.GetIntegrationHealthRequest(name=analytics.integration.name), metadata=admin
        )
    funnel = health.integration_health.funnel
    assert health.integration_health.HasField("funnel")
    assert (funnel.sent_count, funnel.dropped_count) == (2, 0)
    assert funnel.HasField("last_send_time")
    assert funnel.state == integration_health_pb2.IntegrationHealth.STATE_OK

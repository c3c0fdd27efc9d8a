"""The running service against the fake Meta: a Page connected, the webhook handshake, a batch
of signed leadgen changes (with a repeat and a forged one) becoming leads with their attribution,
and a lead's stages reaching the Conversions API once each, hashed as Meta asks."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import field_mask_pb2, struct_pb2

from adapters.meta.fake import FAKE_META, FakeMeta, Submission, create_app
from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_DATASET_ID,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_VERIFY_TOKEN,
)
from integrations.v1 import integration_pb2 as resources
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import (
    integration_service_pb2_grpc,
    lead_pb2,
    lead_service_pb2,
    lead_service_pb2_grpc,
)
from tests.e2e.conftest import Service

T = TypeVar("T")
PATIENCE_SECONDS = 60.0


@pytest.fixture
async def fake_meta() -> AsyncIterator[tuple[str, FakeMeta]]:
    app = create_app(require_appsecret_proof=True, usage_step_percent=0.01)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app[FAKE_META]
    await app[FAKE_META].webhooks.stop()
    await server.close()


@pytest.fixture
def service_extra_env(fake_meta: tuple[str, FakeMeta]) -> dict[str, str]:
    return {
        "META_GRAPH_API_BASE_URL": fake_meta[0],
        "META_APP_ID": DEMO_APP_ID,
        "META_APP_SECRET": DEMO_APP_SECRET,
        "META_WEBHOOK_VERIFY_TOKEN": DEMO_VERIFY_TOKEN,
    }


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    give_up = time.monotonic() + PATIENCE_SECONDS
    value = await probe()
    while not done(value) and time.monotonic() < give_up:
        await asyncio.sleep(0.1)
        value = await probe()
    return value


def page_config() -> struct_pb2.Struct:
    config = struct_pb2.Struct()
    config.update(
        {"pageId": DEMO_PAGE_ID, "accessToken": DEMO_PAGE_TOKEN, "datasetId": DEMO_DATASET_ID}
    )
    return config


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def test_a_page_s_leads_come_in_and_their_stages_go_back_once(
    service: Service, fake_meta: tuple[str, FakeMeta]
) -> None:
    _, fake = fake_meta
    fake.webhooks.url = f"http://127.0.0.1:{service.webhook_port}/webhooks/meta"
    admin = service.metadata("admin")

    # Meta checks the endpoint before it sends anything.
    handshake = await fake.webhooks.verify(
        verify_token=DEMO_VERIFY_TOKEN, challenge="1158201444", mode="subscribe"
    )
    refused = await fake.webhooks.verify(
        verify_token="not-the-token", challenge="1", mode="subscribe"
    )
    assert (handshake.status, handshake.response_body) == (200, "1158201444")
    assert refused.status == 403

    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        integrations = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        leads = lead_service_pb2_grpc.LeadServiceStub(channel)
        created = await integrations.CreateIntegration(
            pb.CreateIntegrationRequest(
                integration=resources.Integration(
                    sub_account_id="sa-meta",
                    template="integrationTemplates/facebook_ads",
                    display_name="Clinic page",
                    config=page_config(),
                )
            ),
            metadata=admin,
        )
        assert created.connection_test.success, created.connection_test.message
        assert created.integration.state == resources.Integration.STATE_ACTIVE
        # The connection test subscribed the page to leadgen for the app.
        assert "leadgen" in fake.state.pages[DEMO_PAGE_ID]["subscribed_fields"]

        submitted = await fake.submit_leads(
            [
                Submission(page_id=DEMO_PAGE_ID, field_data=_answers("ada@example.com")),
                Submission(page_id=DEMO_PAGE_ID, organic=True, field_data=_answers("bo@ex.com")),
            ],
            repeat=2,  # Meta retries: the same bytes twice
        )
        forged = await fake.submit_leads(
            [Submission(page_id=DEMO_PAGE_ID, field_data=_answers("eve@example.com"))],
            signature="invalid",
        )
        assert [d.status for d in submitted.deliveries] == [200, 200]
        assert [d.status for d in forged.deliveries] == [401]

        parent = created.integration.name

        async def listed() -> list[lead_pb2.Lead]:
            reply = await leads.ListLeads(
                lead_service_pb2.ListLeadsRequest(parent=parent), metadata=admin
            )
            return list(reply.leads)

        found = await eventually(listed, lambda ls: len(ls) >= 2)
        by_email = {lead.email: lead for lead in found}
        assert set(by_email) == {"ada@example.com", "bo@ex.com"}
        ada = by_email["ada@example.com"]
        [ada_lead] = [lead for lead in submitted.leads if lead["id"] == ada.external_id]
        assert ada.attribution["form_id"] == ada_lead["form_id"]
        assert ada.attribution["ad_id"] == ada_lead["ad_id"]
        assert "ad_id" not in by_email["bo@ex.com"].attribution  # organic

        await leads.UpdateLead(
            lead_service_pb2.UpdateLeadRequest(
                lead=lead_pb2.Lead(name=ada.name, state=lead_pb2.Lead.STATE_WON),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=admin,
        )

    def sent_for(lead_id: str) -> list[str]:
        return [
            e.event["event_name"]
            for e in fake.capi_events
            if str(e.event["user_data"]["lead_id"]) == lead_id
        ]

    async def stages() -> list[str]:
        return sent_for(ada.external_id)

    assert await eventually(stages, lambda s: "Converted" in s) == ["Lead", "Converted"]
    await asyncio.sleep(1.5)  # a second pass of the funnel worker sends nothing again
    assert sent_for(ada.external_id) == ["Lead", "Converted"]
    event = next(e.event for e in fake.capi_events if e.event["event_name"] == "Converted")
    assert event["action_source"] == "system_generated"
    assert event["custom_data"]["event_source"] == "crm"
    assert event["user_data"]["em"] == [sha256("ada@example.com")]
    assert all(e.dataset_id == DEMO_DATASET_ID for e in fake.capi_events)
    assert "ada@example.com" not in service.log_path.read_text()


def _answers(email: str) -> list[dict[str, object]]:
    return [
        {"name": "email", "values": [email]},
        {"name": "full_name", "values": ["Ada Lovelace"]},
    ]

"""From a contact created at (the fake) GoHighLevel to a lead over gRPC: the fake sends its signed
ContactCreate to the running service's webhook port, the worker turns it into a lead; a lead's
state set over gRPC reaches its GHL opportunity, and a status changed at GHL comes back."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import grpc
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import field_mask_pb2

from adapters.ghl.fake import FAKE_GHL, FakeGhl, create_app
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from integrations.v1 import (
    directory_pb2,
    directory_service_pb2,
    directory_service_pb2_grpc,
    integration_pb2,
    integration_service_pb2,
    integration_service_pb2_grpc,
    lead_pb2,
    lead_service_pb2,
    lead_service_pb2_grpc,
    webhook_delivery_pb2,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)
from tests.e2e.conftest import Service
from tests.integration.ghl.support import SPECS_DIR
from tests.support.waiting import PATIENCE_SECONDS

SUB_ACCOUNT = "sa-ghl"
T = TypeVar("T")


class FakeGhlServer:
    """The fake GHL on a loopback port, and every webhook body it signed, with its signature."""

    def __init__(self, url: str, fake: FakeGhl) -> None:
        self.url = url
        self.fake = fake
        self.signed: list[tuple[bytes, str]] = []
        sign = fake.webhooks.sign

        def recording_sign(body: bytes) -> str:
            signature = sign(body)
            self.signed.append((body, signature))
            return signature

        fake.webhooks.sign = recording_sign  # type: ignore[method-assign]

    def send_webhooks_to(self, service: Service) -> None:
        # The service's webhook port is known only once it runs, after the fake started.
        self.fake.webhooks.url = f"http://127.0.0.1:{service.webhook_port}/webhooks/ghl"


@pytest.fixture
async def fake_ghl(tmp_path: Path) -> AsyncIterator[FakeGhlServer]:
    app = create_app(validate_requests_against=SPECS_DIR if SPECS_DIR.is_dir() else None)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake = app[FAKE_GHL]
    yield FakeGhlServer(str(server.make_url("")).rstrip("/"), fake)
    violations = fake.contract_violations()
    await server.close()
    assert violations == [], violations


@pytest.fixture
def service_extra_env(fake_ghl: FakeGhlServer, tmp_path: Path) -> dict[str, str]:
    """The service calls the fake, and trusts the fake's webhook signing key instead of GHL's."""
    key_file = tmp_path / "fake-ghl-ed25519.pem"
    key_file.write_text(fake_ghl.fake.webhooks.public_key_pem())
    return {"GHL_API_BASE_URL": fake_ghl.url, "GHL_WEBHOOK_ED25519_KEY_FILE": str(key_file)}


class Client:
    """The service's gRPC APIs on one channel, as an admin."""

    def __init__(self, channel: grpc.aio.Channel, service: Service) -> None:
        self.integrations = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        self.leads = lead_service_pb2_grpc.LeadServiceStub(channel)
        self.webhooks = webhook_service_pb2_grpc.WebhookServiceStub(channel)
        self.directory = directory_service_pb2_grpc.DirectoryServiceStub(channel)
        self.admin = service.metadata("admin")

    async def leads_of(self, parent: str) -> list[lead_pb2.Lead]:
        reply = await self.leads.ListLeads(
            lead_service_pb2.ListLeadsRequest(parent=parent), metadata=self.admin
        )
        return list(reply.leads)

    async def deliveries_of(self, parent: str) -> list[webhook_delivery_pb2.WebhookDelivery]:
        reply = await self.webhooks.ListWebhookDeliveries(
            webhook_service_pb2.ListWebhookDeliveriesRequest(parent=parent), metadata=self.admin
        )
        return list(reply.webhook_deliveries)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[Client]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield Client(channel, service)


async def eventually(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Probe until `done` holds (the worker processes deliveries after they are answered), for
    as long as a loaded machine may need; returns the last value probed."""
    give_up = time.monotonic() + PATIENCE_SECONDS
    value = await probe()
    while not done(value) and time.monotonic() < give_up:
        await asyncio.sleep(0.1)
        value = await probe()
    return value


async def post_webhook(service: Service, body: bytes, signature: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{service.webhook_port}/webhooks/ghl",
            data=body,
            headers={"Content-Type": "application/json", "x-ghl-signature": signature},
        ) as response,
    ):
        return response.status


async def create_contact(fake_ghl: FakeGhlServer, **fields: Any) -> str:
    """Create a contact through the fake's API, as a GHL user would; returns its id."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake_ghl.url}/contacts/",
            json={"locationId": DEMO_LOCATION_ID, **fields},
            headers={"Authorization": f"Bearer {DEMO_PRIVATE_TOKEN}", "Version": "2021-07-28"},
        ) as response,
    ):
        assert response.status == 201, await response.text()
        contact_id: str = (await response.json())["contact"]["id"]
    return contact_id


async def test_a_contact_created_at_ghl_becomes_a_lead_once_and_forged_webhooks_are_refused(
    service: Service, fake_ghl: FakeGhlServer, client: Client
) -> None:
    fake_ghl.send_webhooks_to(service)
    await client.directory.ReplaceDirectoryUsers(
        directory_service_pb2.ReplaceDirectoryUsersRequest(
            sub_account_id=SUB_ACCOUNT,
            directory_users=[
                directory_pb2.DirectoryUser(user_id="u-owner", role="admin"),
                directory_pb2.DirectoryUser(user_id="u-ana", role="user", strategy_id="st-1"),
            ],
        ),
        metadata=client.admin,
    )
    config = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/gohighlevel",
        display_name="Clinic CRM",
    )
    config.config.update({"apiKey": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID})
    created = await client.integrations.CreateIntegration(
        integration_service_pb2.CreateIntegrationRequest(integration=config),
        metadata=client.admin,
    )
    assert created.integration.state == integration_pb2.Integration.STATE_ACTIVE
    parent = created.integration.name

    contact_id = await create_contact(
        fake_ghl,
        firstName="Grace",
        lastName="Hopper",
        email="grace@example.com",
        phone="+12065550123",
        city="Seattle",
        state="WA",
        postalCode="98101",
        country="US",
    )
    [lead] = await eventually(lambda: client.leads_of(parent), bool)

    assert lead.external_id == contact_id
    assert lead.sub_account_id == SUB_ACCOUNT
    assert (lead.first_name, lead.last_name) == ("Grace", "Hopper")
    assert lead.time_zone == "America/Los_Angeles"  # from the address, not the clinic's Chicago
    assert (lead.assigned_user_id, lead.strategy_id) == ("u-ana", "st-1")
    assert [a.status for a in fake_ghl.fake.webhooks.attempts] == [200]
    [(body, signature)] = fake_ghl.signed
    webhook_id = json.loads(body)["webhookId"]
    [delivery] = await client.deliveries_of(parent)
    assert delivery.delivery_id == webhook_id
    assert delivery.event_type == "ContactCreate"
    assert delivery.state == webhook_delivery_pb2.WebhookDelivery.STATE_DONE

    # GHL re-delivers the same bytes: acknowledged, and not applied a second time.
    assert await post_webhook(service, body, signature) == 200
    # A ContactCreate signed with another key: refused, and nothing of it is kept.
    forged = json.dumps(
        {
            "type": "ContactCreate",
            "locationId": DEMO_LOCATION_ID,
            "id": "forgedContact0000001",
            "firstName": "Mallory",
            "webhookId": "forged-webhook-1",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        },
        separators=(",", ":"),
    ).encode()
    forged_signature = base64.b64encode(Ed25519PrivateKey.generate().sign(forged)).decode()
    assert await post_webhook(service, forged, forged_signature) == 401

    # Both were answered after the inbox had settled them: one delivery is all it holds.
    assert [d.delivery_id for d in await client.deliveries_of(parent)] == [webhook_id]
    assert await client.leads_of(parent) == [lead]  # same lead, same etag
    assert DEMO_PRIVATE_TOKEN not in service.logs()


async def sync_now(client: Client, parent: str) -> integration_service_pb2.SyncRun:
    """SyncIntegration, again while the push worker holds the integration's sync lease."""
    for _ in range(100):
        try:
            reply = await client.integrations.SyncIntegration(
                integration_service_pb2.SyncIntegrationRequest(name=parent),
                metadata=client.admin,
            )
        except grpc.aio.AioRpcError as err:
            if err.code() is not grpc.StatusCode.ABORTED:
                raise
            await asyncio.sleep(0.1)
        else:
            return reply.sync_run
    raise AssertionError("the integration's sync lease was never free")


async def test_a_lead_state_set_over_grpc_reaches_its_ghl_opportunity_and_ghls_comes_back(
    service: Service, fake_ghl: FakeGhlServer, client: Client
) -> None:
    fake_ghl.send_webhooks_to(service)
    config = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/gohighlevel",
        display_name="Clinic CRM",
    )
    config.config.update({"apiKey": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID})
    created = await client.integrations.CreateIntegration(
        integration_service_pb2.CreateIntegrationRequest(integration=config),
        metadata=client.admin,
    )
    parent = created.integration.name
    await sync_now(client, parent)  # the demo contact Ada, with her open opportunity
    [ada] = await client.leads_of(parent)
    [deal] = fake_ghl.fake.state.opportunities.values()
    assert (ada.state, deal["contactId"]) == (lead_pb2.Lead.STATE_OPEN, ada.external_id)

    updated = await client.leads.UpdateLead(
        lead_service_pb2.UpdateLeadRequest(
            lead=lead_pb2.Lead(name=ada.name, state=lead_pb2.Lead.STATE_WON),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=client.admin,
    )
    assert updated.lead.state == lead_pb2.Lead.STATE_WON

    # The worker pushes it between syncs; GHL's two webhooks for it come back as echoes.
    pushed = await eventually(lambda: _status_of(fake_ghl, deal["id"]), lambda s: s == "won")
    assert pushed == "won"
    echoes = await eventually(
        lambda: client.deliveries_of(parent),
        lambda found: (
            len(found) == 2
            and all(d.state == webhook_delivery_pb2.WebhookDelivery.STATE_IGNORED for d in found)
        ),
    )
    assert sorted(d.event_type for d in echoes) == ["OpportunityStatusUpdate", "OpportunityUpdate"]

    # Changed at GHL, and its webhook never sent: the next sync brings it.
    fake_ghl.fake.state.set_opportunity_status(
        fake_ghl.fake.state.opportunities[deal["id"]], "lost"
    )
    run = await sync_now(client, parent)

    got = await client.leads.GetLead(
        lead_service_pb2.GetLeadRequest(name=ada.name), metadata=client.admin
    )
    assert got.lead.state == lead_pb2.Lead.STATE_LOST
    assert run.pushed_count == 0
    assert await _status_of(fake_ghl, deal["id"]) == "lost"  # not pushed back


async def _status_of(fake_ghl: FakeGhlServer, opportunity_id: str) -> str:
    """The opportunity's status at the fake (a probe for `eventually`)."""
    status: str = fake_ghl.fake.state.opportunities[opportunity_id]["status"]
    return status


async def test_personal_data_of_contacts_and_leads_never_reaches_the_logs_even_at_debug(
    service: Service, fake_ghl: FakeGhlServer, client: Client
) -> None:
    fake_ghl.send_webhooks_to(service)
    config = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/gohighlevel",
        display_name="Clinic CRM",
    )
    config.config.update({"apiKey": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID})
    created = await client.integrations.CreateIntegration(
        integration_service_pb2.CreateIntegrationRequest(integration=config),
        metadata=client.admin,
    )
    parent = created.integration.name
    # A contact made at GHL arrives as a signed delivery, is stored, and becomes a lead...
    await create_contact(
        fake_ghl,
        firstName="Ottoline",
        lastName="Quarrington",
        email="ottoline.quarrington@example.org",
        phone="+12065557341",
        postalCode="98101",
        country="US",
    )
    # ...and a lead made here is pushed to GHL as a contact.
    await client.leads.CreateLead(
        lead_service_pb2.CreateLeadRequest(
            parent=parent,
            lead=lead_pb2.Lead(
                first_name="Barnaby",
                last_name="Wintergreen",
                email="barnaby.wintergreen@example.org",
                phone="+13125559187",
            ),
        ),
        metadata=client.admin,
    )
    ours = {"Quarrington", "Wintergreen"}
    leads = await eventually(
        lambda: client.leads_of(parent),
        lambda found: ours <= {lead.last_name for lead in found if lead.external_id},
    )
    assert ours <= {lead.last_name for lead in leads if lead.external_id}
    # The contact's delivery processed, and the echoes of the pushed lead recognised as ours.
    settled = {
        webhook_delivery_pb2.WebhookDelivery.STATE_DONE,
        webhook_delivery_pb2.WebhookDelivery.STATE_IGNORED,
    }
    deliveries = await eventually(
        lambda: client.deliveries_of(parent),
        lambda found: len(found) >= 2 and all(d.state in settled for d in found),
    )
    assert webhook_delivery_pb2.WebhookDelivery.STATE_DONE in {d.state for d in deliveries}
    assert {d.state for d in deliveries} <= settled
    logs = service.logs()

    assert '"level": "debug"' in logs  # DEBUG lines were written
    for personal in (
        "Ottoline",
        "Quarrington",
        "ottoline.quarrington@example.org",
        "2065557341",
        "Barnaby",
        "Wintergreen",
        "barnaby.wintergreen@example.org",
        "3125559187",
    ):
        assert personal not in logs, f"{personal} is in the logs"

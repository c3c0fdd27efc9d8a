"""A gRPC client's leads and bookings against the running service and the fake GoHighLevel:
what it is answered when GHL merges a new lead into a contact it already has, and that a
cancellation accepted just before a delete reaches GHL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from integrations.v1 import (
    integration_pb2,
    integration_service_pb2,
    lead_pb2,
    lead_service_pb2,
)
from tests.e2e.conftest import Service
from tests.e2e.test_webhooks_to_leads import (  # noqa: F401 - fixtures used by name
    SUB_ACCOUNT,
    Client,
    FakeGhlServer,
    eventually,
    fake_ghl,
    service_extra_env,
)

CALENDAR = "fakeCalendar00000001"
PHONE = "+15415550134"


@pytest.fixture
async def client(service: Service) -> AsyncIterator[Client]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield Client(channel, service)


async def ghl_integration(client: Client) -> str:
    integration = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/gohighlevel",
        display_name="Clinic CRM",
    )
    integration.config.update(
        {"apiKey": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID, "calendarId": CALENDAR}
    )
    created = await client.integrations.CreateIntegration(
        integration_service_pb2.CreateIntegrationRequest(integration=integration),
        metadata=client.admin,
    )
    assert created.integration.state == integration_pb2.Integration.STATE_ACTIVE
    return created.integration.name


async def create_lead(client: Client, parent: str, **fields: str) -> lead_pb2.Lead:
    answer = await client.leads.CreateLead(
        lead_service_pb2.CreateLeadRequest(parent=parent, lead=lead_pb2.Lead(**fields)),
        metadata=client.admin,
    )
    return answer.lead


async def get_lead(client: Client, name: str) -> lead_pb2.Lead:
    answer = await client.leads.GetLead(
        lead_service_pb2.GetLeadRequest(name=name), metadata=client.admin
    )
    return answer.lead


async def book(client: Client, parent: str, lead: str) -> lead_pb2.Booking:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    start_time, end_time = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start_time.FromDatetime(start)
    end_time.FromDatetime(start + timedelta(minutes=30))
    answer = await client.leads.CreateBooking(
        lead_service_pb2.CreateBookingRequest(
            parent=parent,
            lead=lead,
            booking=lead_pb2.Booking(start_time=start_time, end_time=end_time, title="Check-up"),
            ignore_free_slot_validation=True,
        ),
        metadata=client.admin,
    )
    return answer.booking


async def get_booking(client: Client, parent: str, name: str) -> lead_pb2.Booking:
    answer = await client.leads.ListBookings(
        lead_service_pb2.ListBookingsRequest(parent=parent), metadata=client.admin
    )
    [booking] = [b for b in answer.bookings if b.name == name]
    return booking


async def test_a_lead_ghl_merges_into_an_existing_contact_points_to_the_surviving_lead(
    service: Service,
    client: Client,
    fake_ghl: FakeGhlServer,  # noqa: F811 - the fixture imported above
) -> None:
    fake_ghl.send_webhooks_to(service)
    parent = await ghl_integration(client)
    existing = await create_lead(
        client, parent, first_name="Ada", email="ada@example.com", phone=PHONE
    )
    existing = await eventually(
        lambda: get_lead(client, existing.name), lambda lead: lead.external_id
    )
    assert existing.external_id

    # A new email, but a phone GHL already has: GHL's upsert updates that contact.
    created = await create_lead(
        client, parent, first_name="Ada", email="ada.lovelace@example.com", phone=PHONE
    )
    assert created.name != existing.name
    merged = await eventually(lambda: get_lead(client, created.name), lambda lead: lead.merged_into)

    assert merged.merged_into == existing.name
    assert len(fake_ghl.fake.state.contacts) == 1
    survivor = await eventually(
        lambda: get_lead(client, existing.name),
        lambda lead: lead.email == "ada.lovelace@example.com",
    )
    assert (survivor.deleted, survivor.merged_into) == (False, "")
    assert survivor.email == "ada.lovelace@example.com"

    # The caller's lead is not a dead end: booking it books the surviving lead's contact.
    booking = await book(client, parent, created.name)
    assert booking.lead == existing.name
    landed = await eventually(
        lambda: get_booking(client, parent, booking.name), lambda b: b.external_id
    )
    appointment = fake_ghl.fake.state.events[landed.external_id]
    assert appointment["contactId"] == existing.external_id


async def test_a_cancellation_accepted_just_before_a_delete_reaches_ghl(
    service: Service,
    client: Client,
    fake_ghl: FakeGhlServer,  # noqa: F811 - the fixture imported above
) -> None:
    fake_ghl.send_webhooks_to(service)
    parent = await ghl_integration(client)
    lead = await create_lead(client, parent, first_name="Grace", email="grace@example.com")
    booking = await book(client, parent, lead.name)
    booking = await eventually(
        lambda: get_booking(client, parent, booking.name), lambda b: b.external_id
    )
    assert booking.external_id

    await client.leads.CancelBooking(
        lead_service_pb2.CancelBookingRequest(name=booking.name), metadata=client.admin
    )
    await client.integrations.DeleteIntegration(
        integration_service_pb2.DeleteIntegrationRequest(name=parent), metadata=client.admin
    )

    assert fake_ghl.fake.state.events[booking.external_id]["appointmentStatus"] == "cancelled"
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await client.integrations.GetIntegration(
            integration_service_pb2.GetIntegrationRequest(name=parent), metadata=client.admin
        )
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND

"""The running service against a fake GoHighLevel that speaks GHL's wire format (every request
it receives is checked against GHL's OpenAPI specs when the reference folder is present)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import struct_pb2, timestamp_pb2

from adapters.ghl.fake import FAKE_GHL, FakeGhl, create_app
from adapters.ghl.fake.seed import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_LOCATION_ID,
    DEMO_PRIVATE_TOKEN,
    DEMO_REFRESH_TOKEN,
)
from integrations.v1 import integration_pb2 as resources
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc
from tests.e2e.conftest import Service, restart_service
from tests.integration.ghl.support import SPECS_DIR

Stub = integration_service_pb2_grpc.IntegrationServiceStub
CALENDAR = "fakeCalendar00000001"


@pytest.fixture
async def fake_ghl() -> AsyncIterator[tuple[str, FakeGhl]]:
    app = create_app(validate_requests_against=SPECS_DIR if SPECS_DIR.is_dir() else None)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake = app[FAKE_GHL]
    yield str(server.make_url("")).rstrip("/"), fake
    violations = fake.contract_violations()
    await server.close()
    assert violations == [], violations


@pytest.fixture
def service_extra_env(fake_ghl: tuple[str, FakeGhl]) -> dict[str, str]:
    return {"GHL_API_BASE_URL": fake_ghl[0]}


def ghl(template: str = "gohighlevel", **config: str) -> resources.Integration:
    values = struct_pb2.Struct()
    values.update(config)
    return resources.Integration(
        sub_account_id="sa-ghl",
        template=f"integrationTemplates/{template}",
        display_name="Clinic CRM",
        config=values,
    )


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


async def test_a_ghl_integration_is_tested_against_ghl_and_becomes_active(
    service: Service, stub: Stub, fake_ghl: tuple[str, FakeGhl]
) -> None:
    created = await stub.CreateIntegration(
        pb.CreateIntegrationRequest(
            integration=ghl(
                apiKey=DEMO_PRIVATE_TOKEN, locationId=DEMO_LOCATION_ID, calendarId=CALENDAR
            )
        ),
        metadata=service.metadata("admin"),
    )
    assert created.integration.state == resources.Integration.STATE_ACTIVE
    assert created.connection_test.success
    assert created.connection_test.details["account_name"] == "Fake Dental Clinic"
    calls = [(r.method, r.path) for r in fake_ghl[1].log]
    assert ("GET", f"/locations/{DEMO_LOCATION_ID}") in calls

    user = service.metadata("user", "sa-ghl")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    slots = await stub.GetFreeSlots(
        pb.GetFreeSlotsRequest(
            name=created.integration.name,
            start_time=stamp(start),
            end_time=stamp(start + timedelta(days=7)),
            time_zone="America/Chicago",
        ),
        metadata=user,
    )
    assert slots.days  # weekdays 9 to 5 in the fake's seed
    assert all(
        s.ToDatetime(tzinfo=UTC) >= start - timedelta(days=1) for d in slots.days for s in d.slots
    )

    block = await stub.CreateBlockSlot(
        pb.CreateBlockSlotRequest(
            name=created.integration.name,
            start_time=stamp(start),
            end_time=stamp(start + timedelta(hours=1)),
            title="Staff meeting",
        ),
        metadata=user,
    )
    assert block.block_slot.id
    assert block.block_slot.calendar_id == CALENDAR
    assert DEMO_PRIVATE_TOKEN not in service.logs()


async def test_a_token_ghl_refuses_leaves_the_integration_in_error(
    service: Service, stub: Stub
) -> None:
    created = await stub.CreateIntegration(
        pb.CreateIntegrationRequest(
            integration=ghl(apiKey="pit-not-a-token-ghl-knows", locationId=DEMO_LOCATION_ID)
        ),
        metadata=service.metadata("admin"),
    )
    assert created.integration.state == resources.Integration.STATE_ERROR
    assert created.integration.error_code == "INVALID_CREDENTIALS"
    assert created.connection_test.error_code == "INVALID_CREDENTIALS"


async def test_a_rotated_oauth_refresh_token_survives_a_restart(
    service: Service, fake_ghl: tuple[str, FakeGhl]
) -> None:
    admin = service.metadata("admin")
    async with _channel(service) as stub:
        created = await stub.CreateIntegration(
            pb.CreateIntegrationRequest(
                integration=ghl(
                    "gohighlevel_oauth",
                    clientId=DEMO_CLIENT_ID,
                    clientSecret=DEMO_CLIENT_SECRET,
                    refreshToken=DEMO_REFRESH_TOKEN,
                    locationId=DEMO_LOCATION_ID,
                )
            ),
            metadata=admin,
        )
    assert created.integration.state == resources.Integration.STATE_ACTIVE
    # The fake's refresh tokens are single-use: the configured one is spent now, so only the
    # rotated token the service stored (or the access token stored with it) can work again.
    restarted = await asyncio.to_thread(restart_service, service)
    try:
        expire_oauth_access_tokens(fake_ghl[1])
        async with _channel(restarted) as stub:
            tested = await stub.TestIntegration(
                pb.TestIntegrationRequest(name=created.integration.name), metadata=admin
            )
        assert tested.connection_test.success, tested.connection_test.message
        token_calls = [r for r in fake_ghl[1].log if r.path == "/oauth/token"]
        assert len(token_calls) == 2  # one refresh per process, each with the newest token
    finally:
        service.process = restarted.process


async def test_secrets_stay_readable_after_the_data_keys_rotate_under_the_running_service(
    service: Service, stub: Stub
) -> None:
    admin = service.metadata("admin")
    created = await stub.CreateIntegration(
        pb.CreateIntegrationRequest(
            integration=ghl(apiKey=DEMO_PRIVATE_TOKEN, locationId=DEMO_LOCATION_ID)
        ),
        metadata=admin,
    )
    report = await asyncio.to_thread(service.cli, "keys", "rotate", "--data-keys")
    assert "1 secret(s) re-encrypted" in report
    tested = await stub.TestIntegration(
        pb.TestIntegrationRequest(name=created.integration.name), metadata=admin
    )
    assert tested.connection_test.success


def expire_oauth_access_tokens(fake: FakeGhl) -> None:
    """GHL invalidates access tokens at its own pace: from now on, every one the fake issued is
    refused, so the service must refresh with the refresh token it stored."""
    for grant in fake.state.access.values():
        if grant.kind == "oauth":
            grant.expires_at = datetime.now(UTC) - timedelta(seconds=1)


@asynccontextmanager
async def _channel(service: Service) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield integration_service_pb2_grpc.IntegrationServiceStub(channel)

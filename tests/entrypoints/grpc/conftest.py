"""A real grpc.aio server on a free loopback port, wired on the in-memory fakes, and its client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from adapters.ghl.templates import TEMPLATE_NAMES as GHL_TEMPLATE_NAMES
from adapters.schema import JsonSchemaConfigValidator
from application.calendar_access import CalendarAccess
from application.connection import ConnectionTester
from application.ports import ProviderCall
from application.ports.crm import BlockSlot, FreeSlots
from application.use_cases.create_block_slot import CreateBlockSlot
from application.use_cases.create_integration import CreateIntegration
from application.use_cases.create_template import CreateTemplate
from application.use_cases.delete_integration import DeleteIntegration
from application.use_cases.get_free_slots import GetFreeSlots
from application.use_cases.get_integration import GetIntegration, ListIntegrations
from application.use_cases.get_template import GetTemplate, ListTemplates
from application.use_cases.run_connection_test import TestIntegration
from application.use_cases.seed_templates import SeedTemplates
from application.use_cases.switch_integration import DeactivateIntegration, ReactivateIntegration
from application.use_cases.update_integration import UpdateIntegration
from application.use_cases.update_template import UpdateTemplate
from domain.values import Role
from entrypoints.auth import JwtAuthenticator, mint_token
from entrypoints.catalogue import BUILT_IN_TEMPLATES
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from integrations.v1 import integration_pb2, integration_service_pb2, integration_service_pb2_grpc
from tests.fakes import (
    FakeCipher,
    FakeIntegrationReads,
    FakeProvider,
    FakeProviderRegistry,
    FakeUnitOfWorkFactory,
    FixedClock,
    NoPendingChanges,
    SequentialIds,
)

JWT_SECRET = "test-jwt-secret-that-is-at-least-32-bytes-long"
PAGE_TOKEN_KEY = bytes(range(32))
ADMIN = "admin-1"
TENANT = "sub-acme"
OTHER_TENANT = "sub-globex"
API_KEY = "pit-4f1c9e2b-7a3d-4e5f-9a1b-2c3d4e5f1a2b"
WEBHOOK_SECRET = "whsec-9d8c7b6a5f4e3d2c1b0a"

Metadata = tuple[tuple[str, str], ...]


def bearer(
    role: Role, sub_account_id: str | None = None, *, ttl: timedelta = timedelta(minutes=5)
) -> Metadata:
    token = mint_token(
        JWT_SECRET, subject=f"{role}-subject", role=role, sub_account_id=sub_account_id, ttl=ttl
    )
    return (("authorization", f"Bearer {token}"),)


def admin_md() -> Metadata:
    return bearer(Role.ADMIN)


def user_md() -> Metadata:
    return bearer(Role.USER, TENANT)


def other_user_md() -> Metadata:
    return bearer(Role.USER, OTHER_TENANT)


@dataclass
class Rejection:
    code: grpc.StatusCode
    message: str
    status: Any
    error_info: Any
    bad_request: Any | None


async def rejected(call: grpc.aio.UnaryUnaryCall[Any, Any]) -> Rejection:
    """Await an RPC that must fail; unpack the google.rpc.Status details of its trailers."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    status: status_pb2.Status = await rpc_status.aio.from_call(call)
    assert status is not None, "the error carries no google.rpc.Status"
    error_info, bad_request = None, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            error_info = error_details_pb2.ErrorInfo()
            detail.Unpack(error_info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
    assert error_info is not None, "every error carries an ErrorInfo"
    assert error_info.domain == "integrations"
    return Rejection(caught.value.code(), status.message, status, error_info, bad_request)


class FakeCalendars:
    """The calendar calls of CrmApi, scripted; records the call and arguments it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ProviderCall, str, dict[str, Any]]] = []
        self.error: Exception | None = None

    async def get_free_slots(
        self, call: ProviderCall, calendar_id: str, **kwargs: Any
    ) -> FreeSlots:
        self.calls.append(("get_free_slots", call, calendar_id, kwargs))
        if self.error is not None:
            raise self.error
        zone = ZoneInfo(kwargs["timezone"])
        day = kwargs["start"].astimezone(zone).date()
        first = datetime.combine(day, time(9), tzinfo=zone)
        return FreeSlots(
            timezone=kwargs["timezone"], days={day: (first, first + timedelta(minutes=30))}
        )

    async def create_block_slot(
        self, call: ProviderCall, calendar_id: str, **kwargs: Any
    ) -> BlockSlot:
        self.calls.append(("create_block_slot", call, calendar_id, kwargs))
        if self.error is not None:
            raise self.error
        return BlockSlot(
            id="block-1",
            location_id=str(call.config["locationId"]),
            calendar_id=calendar_id,
            title=kwargs["title"],
            start=kwargs["start"],
            end=kwargs["end"],
        )


@dataclass
class Service:
    stub: integration_service_pb2_grpc.IntegrationServiceAsyncStub
    channel: grpc.aio.Channel
    port: int
    provider: FakeProvider
    uow: FakeUnitOfWorkFactory
    calendars: FakeCalendars


@pytest.fixture
def calendars() -> FakeCalendars:
    return FakeCalendars()


@pytest.fixture
def use_cases(
    calendars: FakeCalendars,
) -> tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider]:
    uow = FakeUnitOfWorkFactory()
    validator = JsonSchemaConfigValidator()
    cipher = FakeCipher()
    clock = FixedClock()
    ids = SequentialIds()
    provider = FakeProvider()
    tester = ConnectionTester(
        uow_factory=uow,
        providers=FakeProviderRegistry({"gohighlevel": provider}),
        cipher=cipher,
        clock=clock,
    )
    access = CalendarAccess(
        uow_factory=uow, cipher=cipher, tester=tester, crm_templates=GHL_TEMPLATE_NAMES
    )
    cases = GrpcUseCases(
        list_templates=ListTemplates(uow=uow),
        get_template=GetTemplate(uow=uow),
        create_template=CreateTemplate(uow=uow, validator=validator, ids=ids, clock=clock),
        update_template=UpdateTemplate(uow=uow, validator=validator, clock=clock),
        list_integrations=ListIntegrations(reads=FakeIntegrationReads(uow)),
        get_integration=GetIntegration(reads=FakeIntegrationReads(uow)),
        create_integration=CreateIntegration(
            uow=uow, validator=validator, cipher=cipher, tester=tester, ids=ids, clock=clock
        ),
        update_integration=UpdateIntegration(
            uow=uow, validator=validator, cipher=cipher, tester=tester, clock=clock
        ),
        delete_integration=DeleteIntegration(uow=uow, clock=clock, pending=NoPendingChanges()),
        test_integration=TestIntegration(uow=uow, tester=tester),
        deactivate_integration=DeactivateIntegration(uow=uow, clock=clock),
        reactivate_integration=ReactivateIntegration(uow=uow, tester=tester, clock=clock),
        get_free_slots=GetFreeSlots(access=access, crm=calendars),  # type: ignore[arg-type]
        create_block_slot=CreateBlockSlot(access=access, crm=calendars),  # type: ignore[arg-type]
    )
    return cases, uow, provider


async def serve(cases: GrpcUseCases) -> AsyncIterator[tuple[grpc.aio.Channel, int]]:
    server, port = await start_server(
        cases,
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel, port
    finally:
        await stop_server(server, grace=None)


@pytest.fixture
async def service(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider], calendars: FakeCalendars
) -> AsyncIterator[Service]:
    cases, uow, provider = use_cases
    await SeedTemplates(
        uow=uow,
        validator=JsonSchemaConfigValidator(),
        ids=SequentialIds("tpl"),
        clock=FixedClock(),
        templates=BUILT_IN_TEMPLATES,
    ).execute()
    async for channel, port in serve(cases):
        yield Service(
            integration_service_pb2_grpc.IntegrationServiceStub(channel),  # type: ignore[arg-type]
            channel,
            port,
            provider,
            uow,
            calendars,
        )


def ghl_integration(
    sub_account_id: str = TENANT, *, display_name: str = "Acme CRM", **config: Any
) -> integration_pb2.Integration:
    integration = integration_pb2.Integration(
        sub_account_id=sub_account_id,
        template="integrationTemplates/gohighlevel",
        display_name=display_name,
    )
    integration.config.update(
        config or {"apiKey": API_KEY, "locationId": "loc-1", "webhookSecret": WEBHOOK_SECRET}
    )
    return integration


async def create_ghl(
    service: Service, sub_account_id: str = TENANT, **config: Any
) -> integration_service_pb2.CreateIntegrationResponse:
    return await service.stub.CreateIntegration(
        integration_service_pb2.CreateIntegrationRequest(
            integration=ghl_integration(sub_account_id, **config)
        ),
        metadata=admin_md(),
    )

"""SyncIntegration and LeadService's writes on a real grpc.aio server, wired on the in-memory
fakes and GoHighLevel of the sync unit tests."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from application.use_cases.get_lead import GetLead, ListLeads
from application.use_cases.list_bookings import ListBookings
from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.lead_servicer import LeadUseCases
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from integrations.v1 import integration_service_pb2_grpc, lead_service_pb2_grpc
from tests.entrypoints.grpc.conftest import (  # noqa: F401 - fixtures used by name
    JWT_SECRET,
    PAGE_TOKEN_KEY,
    calendars,
    use_cases,
)
from tests.fakes import FakeProvider, FakeUnitOfWorkFactory
from tests.unit.sync.support import Sync, make_sync


@dataclass
class Stubs:
    app: Sync
    integrations: integration_service_pb2_grpc.IntegrationServiceAsyncStub
    leads: lead_service_pb2_grpc.LeadServiceAsyncStub


@pytest.fixture
async def stubs(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider],  # noqa: F811
) -> AsyncIterator[Stubs]:
    app = await make_sync()
    server, port = await start_server(
        dataclasses.replace(use_cases[0], sync_integration=app.sync),
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
        lead_use_cases=LeadUseCases(
            list_leads=ListLeads(uow=app.uow),
            get_lead=GetLead(uow=app.uow),
            list_bookings=ListBookings(uow=app.uow),
            create_lead=app.create_lead,
            update_lead=app.update_lead,
            create_booking=app.create_booking,
            cancel_booking=app.cancel_booking,
        ),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Stubs(
                app,
                integration_service_pb2_grpc.IntegrationServiceStub(channel),
                lead_service_pb2_grpc.LeadServiceStub(channel),
            )
    finally:
        await stop_server(server, grace=None)

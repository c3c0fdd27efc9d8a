"""LeadService and DirectoryService on a real grpc.aio server, over real SQLite persistence: one
migrated database for the session, emptied before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.directory import SqlAlchemyTenantDirectory
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.ports import UnitOfWorkFactory
from application.use_cases.directory_users import ListDirectoryUsers, ReplaceDirectoryUsers
from application.use_cases.get_lead import GetLead, ListLeads
from application.use_cases.list_bookings import ListBookings
from domain.booking import Booking
from domain.integration import Integration
from domain.lead import Lead
from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.directory_servicer import DirectoryUseCases
from entrypoints.grpc.lead_servicer import LeadUseCases
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from integrations.v1 import directory_service_pb2_grpc, lead_service_pb2_grpc
from tests.entrypoints.grpc.conftest import (  # noqa: F401 - fixtures used by name
    JWT_SECRET,
    OTHER_TENANT,
    PAGE_TOKEN_KEY,
    TENANT,
    Rejection,
    calendars,
    use_cases,
)
from tests.fakes import FakeProvider, FakeUnitOfWorkFactory
from tests.integration.persistence.leads_support import stored_integration
from tests.support.databases import clean_tables, migrated_database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def leads_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("sqlite", tmp_path_factory.mktemp("leads-sqlite")) as url:
        yield url


@pytest.fixture
async def engine(leads_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(leads_database_url)
    await clean_tables(engine)
    yield engine
    await engine.dispose()


@dataclass
class Store:
    """The database behind the servers, and ways to fill it."""

    uow: UnitOfWorkFactory
    directory: SqlAlchemyTenantDirectory
    ours: Integration
    theirs: Integration

    async def add(self, *aggregates: Lead | Booking) -> None:
        async with self.uow() as uow:
            for aggregate in aggregates:
                if isinstance(aggregate, Lead):
                    await uow.leads.add(aggregate)
                else:
                    await uow.bookings.add(aggregate)
            await uow.commit()


@pytest.fixture
async def store(engine: AsyncEngine) -> Store:
    sessions = create_session_factory(engine)
    uow = SqlAlchemyUnitOfWorkFactory(sessions)
    ours, theirs = await stored_integration(uow, TENANT, OTHER_TENANT)
    return Store(uow, SqlAlchemyTenantDirectory(sessions), ours, theirs)


@dataclass
class Stubs:
    leads: lead_service_pb2_grpc.LeadServiceAsyncStub
    directory: directory_service_pb2_grpc.DirectoryServiceAsyncStub


@pytest.fixture
async def stubs(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider],  # noqa: F811
    store: Store,
) -> AsyncIterator[Stubs]:
    server, port = await start_server(
        use_cases[0],
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
        lead_use_cases=LeadUseCases(
            list_leads=ListLeads(uow=store.uow),
            get_lead=GetLead(uow=store.uow),
            list_bookings=ListBookings(uow=store.uow),
        ),
        directory_use_cases=DirectoryUseCases(
            list_users=ListDirectoryUsers(directory=store.directory),
            replace_users=ReplaceDirectoryUsers(directory=store.directory),
        ),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Stubs(
                lead_service_pb2_grpc.LeadServiceStub(channel),
                directory_service_pb2_grpc.DirectoryServiceStub(channel),
            )
    finally:
        await stop_server(server, grace=None)


def violated_fields(rejection: Rejection) -> list[str]:
    """The fields a rejection's BadRequest names, in order."""
    assert rejection.bad_request is not None, "an invalid argument names its fields"
    return [v.field for v in rejection.bad_request.field_violations]

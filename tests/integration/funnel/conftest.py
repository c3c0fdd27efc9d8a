"""Every test here runs on SQLite and on PostgreSQL: one migrated database of each per session,
emptied before each test. The adapters are handed out as the ports they implement."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.persistence.data_keys import SqlAlchemyDataKeyStore
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.outbox import SqlAlchemyOutboxReader
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.ports import DataKeyStore, OutboxReader, UnitOfWorkFactory
from tests.support.databases import clean_tables, migrated_database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("sqlite", tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("postgres", tmp_path_factory.getbasetemp()) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await clean_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
def uow_factory(session_factory: async_sessionmaker[AsyncSession]) -> UnitOfWorkFactory:
    return SqlAlchemyUnitOfWorkFactory(session_factory)


@pytest.fixture
def outbox(session_factory: async_sessionmaker[AsyncSession]) -> OutboxReader:
    return SqlAlchemyOutboxReader(session_factory)


@pytest.fixture
def data_keys(session_factory: async_sessionmaker[AsyncSession]) -> DataKeyStore:
    return SqlAlchemyDataKeyStore(session_factory)

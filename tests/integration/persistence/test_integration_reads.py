"""SqlAlchemyIntegrationReads: the views of what the repository stores, filtered and paged as
IntegrationRepository.list_page, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.integration_reads import SqlAlchemyIntegrationReads
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.dto import IntegrationView
from application.ports import IntegrationFilter, IntegrationReads, PageRequest, UnitOfWorkFactory
from domain.errors import ErrorCode, InvalidArgumentError, StorageUnavailableError
from domain.integration import Integration, IntegrationStatus
from domain.template import IntegrationTemplate
from domain.values import MASK
from tests.integration.persistence.listing_cases import LISTING_CASES, add_listing_integrations
from tests.integration.persistence.test_unit_of_work import _aiosqlite_workers_stopped
from tests.support.builders import NOW, a_secret, a_template, an_integration
from tests.support.databases import clean_tables, opened_driver_pool
from tests.support.waiting import PATIENCE_SECONDS


@pytest.fixture
async def reads(engine: AsyncEngine, database_url: str) -> AsyncIterator[IntegrationReads]:
    async with opened_driver_pool(database_url, size=2) as pool:
        yield SqlAlchemyIntegrationReads(engine, pool)


@pytest.fixture
async def template(uow_factory: UnitOfWorkFactory) -> IntegrationTemplate:
    template = a_template()
    async with uow_factory() as uow:
        await uow.templates.add(template)
        await uow.commit()
    return template


async def _add(uow_factory: UnitOfWorkFactory, *integrations: Integration) -> None:
    async with uow_factory() as uow:
        for integration in integrations:
            await uow.integrations.add(integration)
        await uow.commit()


async def _names(reads: IntegrationReads, filter: IntegrationFilter) -> list[str]:
    page = await reads.list_page(filter, PageRequest(size=100))
    return [view.name for view in page.items]


async def test_a_view_reads_back_as_the_view_of_the_stored_aggregate(
    uow_factory: UnitOfWorkFactory, reads: IntegrationReads, template: IntegrationTemplate
) -> None:
    integration = an_integration(
        template,
        description="the sales team's",
        config={"locationId": "loc-9", "nested": {"tags": ["a", "b"], "n": 3}},
        secrets={"apiKey": a_secret("v1.dk-1.AAA", "abcd"), "webhookSecret": a_secret("v1.x", "")},
    )
    integration.fail(code=ErrorCode.INVALID_CREDENTIALS, message="401 from GHL", now=NOW)
    integration.last_sync_at = NOW - timedelta(days=1)
    await _add(uow_factory, integration)

    view = await reads.get(integration.id)

    assert view == IntegrationView.of(integration)
    assert view is not None
    assert view.config == {
        "locationId": "loc-9",
        "nested": {"tags": ["a", "b"], "n": 3},
        "apiKey": MASK + "abcd",
        "webhookSecret": MASK,
    }
    assert view.secret_fields == {"apiKey", "webhookSecret"}
    assert view.status is IntegrationStatus.ERROR
    assert view.created_at.utcoffset() == timedelta(0)
    assert "v1.dk-1.AAA" not in repr(view)


async def test_an_unknown_id_reads_as_none(reads: IntegrationReads) -> None:
    assert await reads.get("0190a0b0-0000-7000-8000-000000000000") is None


async def test_a_read_sees_the_latest_commit(
    uow_factory: UnitOfWorkFactory, reads: IntegrationReads, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    await _add(uow_factory, integration)
    assert (await reads.get(integration.id)) is not None

    async with uow_factory() as uow:
        stored = await uow.integrations.get(integration.id)
        assert stored is not None
        stored.activate(now=NOW)
        await uow.integrations.update(stored)
        await uow.commit()

    view = await reads.get(integration.id)
    assert view is not None
    assert (view.status, view.version) == (IntegrationStatus.ACTIVE, integration.version + 1)


async def test_listing_filters_by_sub_account_status_and_template(
    uow_factory: UnitOfWorkFactory, reads: IntegrationReads, template: IntegrationTemplate
) -> None:
    await add_listing_integrations(uow_factory, template)

    for filter, names in LISTING_CASES:
        assert await _names(reads, filter) == names, filter


async def test_pages_of_a_filtered_listing_walk_every_match_in_id_order(
    uow_factory: UnitOfWorkFactory, reads: IntegrationReads, template: IntegrationTemplate
) -> None:
    mine = [an_integration(template, sub_account_id="sub-a", name=f"mine-{n}") for n in range(5)]
    others = [an_integration(template, sub_account_id="sub-b", name=f"other-{n}") for n in range(3)]
    await _add(uow_factory, *others[:1], *mine[:3], *others[1:], *mine[3:])

    names: list[str] = []
    page_sizes: list[int] = []
    after: str | None = None
    while True:
        page = await reads.list_page(
            IntegrationFilter(sub_account_id="sub-a"), PageRequest(size=2, after_id=after)
        )
        names.extend(view.name for view in page.items)
        page_sizes.append(len(page.items))
        if page.next_after_id is None:
            break
        after = page.next_after_id

    assert names == [f"mine-{n}" for n in range(5)]
    assert page_sizes == [2, 2, 1]


async def test_a_page_that_ends_the_listing_exactly_names_no_next_page(
    uow_factory: UnitOfWorkFactory, reads: IntegrationReads, template: IntegrationTemplate
) -> None:
    integrations = [an_integration(template, name=f"n-{n}") for n in range(2)]
    await _add(uow_factory, *integrations)

    page = await reads.list_page(IntegrationFilter(), PageRequest(size=2))

    assert [view.id for view in page.items] == [i.id for i in integrations]
    assert page.next_after_id is None


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite+aiosqlite:///{tmp}/no/such/dir/x.db", id="sqlite"),
        pytest.param(
            "postgresql+asyncpg://postgres@127.0.0.1:1/test",
            id="postgres",
            marks=pytest.mark.postgres,
        ),
    ],
)
async def test_an_unreachable_database_is_storage_unavailable(url: str, tmp_path: Path) -> None:
    url = url.format(tmp=tmp_path)
    engine = create_engine(url)
    try:
        async with opened_driver_pool(url, size=2) as pool:
            reads = SqlAlchemyIntegrationReads(engine, pool)
            with pytest.raises(StorageUnavailableError) as got:
                await reads.get("any")
            with pytest.raises(StorageUnavailableError) as listed:
                await reads.list_page(IntegrationFilter(), PageRequest(size=1))
    finally:
        await engine.dispose()
        await asyncio.wait_for(_aiosqlite_workers_stopped(), timeout=PATIENCE_SECONDS)

    assert got.value.__cause__ is not None
    assert listed.value.__cause__ is not None


# --- PostgreSQL: the reads run on the adapter's asyncpg pool ---------------------------------


@pytest.fixture
async def postgres_engine(postgres_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_database_url)
    await clean_tables(engine)
    yield engine
    await engine.dispose()


_TERMINATE_WAITING_FOR_A_LOCK = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


@pytest.fixture
async def postgres_reads(
    postgres_engine: AsyncEngine, postgres_database_url: str
) -> AsyncIterator[IntegrationReads]:
    # One connection: a read that kept it, or gave it back broken, fails the next.
    async with opened_driver_pool(postgres_database_url, size=1) as pool:
        yield SqlAlchemyIntegrationReads(postgres_engine, pool)


@pytest.mark.postgres
async def test_a_connection_the_server_drops_mid_read_is_storage_unavailable_then_replaced(
    postgres_engine: AsyncEngine, postgres_reads: IntegrationReads
) -> None:
    reads = postgres_reads
    admin_engine = postgres_engine.execution_options(isolation_level="AUTOCOMMIT")
    async with postgres_engine.connect() as locker, admin_engine.connect() as admin:
        await locker.execute(text("LOCK TABLE integrations IN ACCESS EXCLUSIVE MODE"))
        blocked = asyncio.create_task(reads.list_page(IntegrationFilter(), PageRequest(size=1)))
        # The read's backend, once it waits for the lock (each statement sees fresh activity).
        give_up = time.monotonic() + PATIENCE_SECONDS
        while not (killed := (await admin.execute(_TERMINATE_WAITING_FOR_A_LOCK)).scalars().all()):
            assert time.monotonic() < give_up, "the read never waited for the lock"
            await asyncio.sleep(0.02)
        with pytest.raises(StorageUnavailableError):
            await blocked
        await locker.rollback()

    page = await reads.list_page(IntegrationFilter(), PageRequest(size=1))

    assert killed == [True]
    assert page.items == []


@pytest.mark.postgres
async def test_a_read_that_gets_no_connection_in_time_is_storage_unavailable(
    postgres_engine: AsyncEngine, postgres_database_url: str
) -> None:
    async with opened_driver_pool(postgres_database_url, size=1) as pool:
        reads = SqlAlchemyIntegrationReads(postgres_engine, pool, acquire_timeout=0.2)
        async with pool.acquire():
            with pytest.raises(StorageUnavailableError):
                await reads.get("0190a0b0-0000-7000-8000-000000000000")
        assert await reads.get("0190a0b0-0000-7000-8000-000000000000") is None


@pytest.mark.postgres
async def test_a_value_postgres_refuses_is_invalid_argument(
    postgres_reads: IntegrationReads,
) -> None:
    reads = postgres_reads

    with pytest.raises(InvalidArgumentError):
        await reads.list_page(IntegrationFilter(sub_account_id="sub\x00a"), PageRequest(size=1))
    assert (await reads.list_page(IntegrationFilter(), PageRequest(size=1))).items == []


@pytest.mark.postgres
async def test_a_read_cancelled_mid_query_gives_its_connection_back_in_working_order(
    postgres_engine: AsyncEngine, postgres_reads: IntegrationReads
) -> None:
    uow_factory = SqlAlchemyUnitOfWorkFactory(create_session_factory(postgres_engine))
    template = a_template()
    integration = an_integration(template)
    async with uow_factory() as uow:
        await uow.templates.add(template)
        await uow.commit()
    await _add(uow_factory, integration)
    reads = postgres_reads
    async with postgres_engine.connect() as locker:
        await locker.execute(text("LOCK TABLE integrations IN ACCESS EXCLUSIVE MODE"))
        blocked = asyncio.create_task(reads.get(integration.id))
        await asyncio.sleep(0.3)
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        await locker.rollback()

    view = await asyncio.wait_for(reads.get(integration.id), timeout=PATIENCE_SECONDS)

    assert view is not None
    assert view.id == integration.id

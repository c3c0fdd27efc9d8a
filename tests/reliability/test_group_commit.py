"""The inbox writer's group commit on SQLite and Postgres (on its own pool, as the service
runs it): concurrent deliveries share one statement and one commit, each caller returns only
once its own row is committed, a delivery the database refuses fails alone, and an unavailable
database fails every waiter (429), never leaving one waiting."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.models import WEBHOOK_DELIVERIES
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.persistence.webhook_inbox import SqlAlchemyInboxWriter
from application.ports import NewDelivery, SignatureScheme
from application.webhooks import parse_payload
from domain.errors import StorageUnavailableError
from domain.webhook_delivery import DeliveryStatus, EventKind
from tests.support.builders import a_template, an_integration
from tests.support.databases import clean_tables, migrated_database, opened_driver_pool

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_inbox_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("sqlite", tmp_path_factory.mktemp("group-commit")) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_inbox_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("postgres", tmp_path_factory.getbasetemp()) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def inbox_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_inbox_url")
    return url


@pytest.fixture
async def pool(inbox_url: str) -> AsyncIterator[Any]:
    """The writer's pool as the container opens it (None on SQLite)."""
    async with opened_driver_pool(inbox_url, size=1) as pool:
        yield pool


@pytest.fixture
def new_writer(engine: AsyncEngine, pool: Any) -> Callable[[], SqlAlchemyInboxWriter]:
    return lambda: SqlAlchemyInboxWriter(engine, pool)


@pytest.fixture
async def engine(inbox_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(inbox_url)
    await clean_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def integration_id(engine: AsyncEngine) -> str:
    uow = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
    template = a_template(name="gohighlevel")
    integration = an_integration(template, sub_account_id="sa-1", now=NOW, config={}, secrets={})
    async with uow() as work:
        await work.templates.add(template)
        await work.integrations.add(integration)
        await work.commit()
    return integration.id


def a_delivery(
    integration_id: str, delivery_id: str | None = None, **payload: object
) -> NewDelivery:
    return NewDelivery(
        id=str(uuid.uuid4()),
        integration_id=integration_id,
        sub_account_id="sa-1",
        delivery_id=delivery_id or f"wh-{uuid.uuid4()}",
        event_type="ContactCreate",
        kind=EventKind.CONTACT_CREATED,
        signature_scheme=SignatureScheme.PUBLISHED_ED25519,
        payload={"type": "ContactCreate", "id": "c-1", **payload},
        received_at=NOW,
    )


async def stored(engine: AsyncEngine, delivery_id: str | None = None) -> int:
    query = select(func.count()).select_from(WEBHOOK_DELIVERIES)
    if delivery_id is not None:
        query = query.where(WEBHOOK_DELIVERIES.c.delivery_id == delivery_id)
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def test_concurrent_deliveries_share_statements_and_each_returns_once_committed(
    engine: AsyncEngine,
    new_writer: Callable[[], SqlAlchemyInboxWriter],
    integration_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer = new_writer()
    batches: list[int] = []
    insert = writer._insert

    async def counted(deliveries: list[NewDelivery]) -> set[str]:
        batches.append(len(deliveries))
        return await insert(deliveries)

    monkeypatch.setattr(writer, "_insert", counted)
    reader = create_engine(engine.url.render_as_string(hide_password=False))

    async def store_then_look(delivery: NewDelivery) -> tuple[bool, int]:
        new = await writer.store(delivery)
        return new, await stored(reader, delivery.delivery_id)  # from another connection

    try:
        results = await asyncio.gather(
            *(store_then_look(a_delivery(integration_id)) for _ in range(100))
        )
    finally:
        await reader.dispose()

    assert results == [(True, 1)] * 100
    assert sum(batches) == 100
    assert len(batches) < 10  # not one statement and commit per delivery
    assert await stored(engine) == 100


async def test_duplicates_in_one_batch_are_stored_once_and_reported_as_duplicates(
    engine: AsyncEngine, new_writer: Callable[[], SqlAlchemyInboxWriter], integration_id: str
) -> None:
    writer = new_writer()

    results = await asyncio.gather(
        *(writer.store(a_delivery(integration_id, "wh-same")) for _ in range(10))
    )

    assert sorted(results) == [False] * 9 + [True]
    assert await stored(engine, "wh-same") == 1


async def test_a_delivery_the_database_refuses_fails_alone_and_its_batch_is_stored(
    engine: AsyncEngine, new_writer: Callable[[], SqlAlchemyInboxWriter], integration_id: str
) -> None:
    writer = new_writer()
    good = [a_delivery(integration_id) for _ in range(20)]
    orphan = a_delivery(str(uuid.uuid4()))  # no such integration: a foreign key violation

    results = await asyncio.gather(
        *(writer.store(d) for d in [*good[:10], orphan, *good[10:]]), return_exceptions=True
    )

    assert results[:10] == [True] * 10
    assert results[11:] == [True] * 10
    assert isinstance(results[10], Exception)
    assert not isinstance(results[10], StorageUnavailableError)  # a bad row, not an outage
    assert await stored(engine) == 20


@pytest.mark.postgres
async def test_an_unavailable_database_fails_every_waiter_with_storage_unavailable() -> None:
    # Nothing listens on port 9 (discard): every connection attempt is refused.
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/none"
    engine = create_engine(url)
    try:
        async with opened_driver_pool(url, size=1) as pool:
            writer = SqlAlchemyInboxWriter(engine, pool)
            results = await asyncio.wait_for(
                asyncio.gather(
                    *(writer.store(a_delivery("i-1")) for _ in range(30)), return_exceptions=True
                ),
                timeout=20,
            )
    finally:
        await engine.dispose()

    assert all(isinstance(r, StorageUnavailableError) for r in results), results


async def test_integers_beyond_64_bits_are_stored_exactly_as_sent(
    engine: AsyncEngine, new_writer: Callable[[], SqlAlchemyInboxWriter], integration_id: str
) -> None:
    body = b'{"type": "ContactCreate", "id": "c-1", "amount": 123456789012345678901234567890}'
    delivery = dataclasses.replace(
        a_delivery(integration_id), payload=parse_payload(body), raw_payload=body
    )

    await new_writer().store(delivery)

    async with engine.connect() as connection:
        payload = (
            await connection.execute(
                select(WEBHOOK_DELIVERIES.c.payload).where(WEBHOOK_DELIVERIES.c.id == delivery.id)
            )
        ).scalar_one()
    assert payload["amount"] == 123456789012345678901234567890


async def test_pending_deliveries_are_due_at_once_and_refused_ones_are_settled_on_arrival(
    engine: AsyncEngine, new_writer: Callable[[], SqlAlchemyInboxWriter], integration_id: str
) -> None:
    pending = a_delivery(integration_id)
    rejected = dataclasses.replace(
        a_delivery(integration_id), status=DeliveryStatus.REJECTED, last_error="not active"
    )

    await asyncio.gather(*(new_writer().store(d) for d in (pending, rejected)))

    columns = WEBHOOK_DELIVERIES.c
    async with engine.connect() as connection:
        rows = {
            row.id: row
            for row in await connection.execute(
                select(
                    columns.id,
                    columns.status,
                    columns.next_attempt_at,
                    columns.processed_at,
                    columns.last_error,
                )
            )
        }
    assert rows[pending.id].status == "pending"
    assert _utc(rows[pending.id].next_attempt_at) == NOW
    assert rows[pending.id].processed_at is None
    assert rows[rejected.id].status == "rejected"
    assert rows[rejected.id].next_attempt_at is None
    assert _utc(rows[rejected.id].processed_at) == NOW
    assert rows[rejected.id].last_error == "not active"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

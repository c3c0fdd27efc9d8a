"""SqlAlchemyUnitOfWork: commit and rollback, events to the outbox, errors at the boundary."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.models import OUTBOX
from adapters.persistence.outbox import append, event_to_row
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.ports import IntegrationFilter, OutboxReader, PageRequest, UnitOfWorkFactory
from domain.errors import ConcurrencyError, ErrorCode, StorageUnavailableError
from domain.events import DomainEvent
from domain.template import IntegrationTemplate
from tests.support.builders import NOW, a_template, an_integration
from tests.support.waiting import PATIENCE_SECONDS


@pytest.fixture
async def template(uow_factory: UnitOfWorkFactory) -> IntegrationTemplate:
    template = a_template()
    async with uow_factory() as uow:
        await uow.templates.add(template)
        await uow.commit()
    return template


@dataclass(frozen=True, slots=True, kw_only=True)
class _Unserialisable(DomainEvent):
    """An event whose payload cannot become JSON: writing it to the outbox fails."""

    blob: object


async def _count_integrations(uow_factory: UnitOfWorkFactory) -> int:
    async with uow_factory() as uow:
        page = await uow.integrations.list_page(IntegrationFilter(), PageRequest(size=100))
    return len(page.items)


async def test_nothing_is_written_without_a_commit(
    uow_factory: UnitOfWorkFactory,
    outbox: OutboxReader,
    template: IntegrationTemplate,
) -> None:
    integration = an_integration(template)
    before = await outbox.read(after_sequence=0, limit=100)

    async with uow_factory() as uow:
        await uow.integrations.add(integration)

    async with uow_factory() as uow:
        assert await uow.integrations.get(integration.id) is None
    assert await outbox.read(after_sequence=0, limit=100) == before


async def test_an_exception_inside_the_unit_of_work_rolls_it_back(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)

    async def add_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.integrations.add(integration)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await add_then_fail()

    assert await _count_integrations(uow_factory) == 0


async def test_a_rollback_undoes_the_changes_and_forgets_their_events(
    uow_factory: UnitOfWorkFactory,
    outbox: OutboxReader,
    template: IntegrationTemplate,
) -> None:
    before = await outbox.read(after_sequence=0, limit=100)

    async with uow_factory() as uow:
        await uow.integrations.add(an_integration(template))
        await uow.rollback()
        await uow.commit()

    assert await _count_integrations(uow_factory) == 0
    assert await outbox.read(after_sequence=0, limit=100) == before


async def test_a_commit_writes_the_events_in_the_order_they_happened(
    uow_factory: UnitOfWorkFactory,
    outbox: OutboxReader,
    template: IntegrationTemplate,
) -> None:
    start = await outbox.read(after_sequence=0, limit=100)
    cursor = start[-1].sequence if start else 0
    integration = an_integration(template, sub_account_id="sub-9", name="CRM")

    async with uow_factory() as uow:
        await uow.integrations.add(integration)
        await uow.commit()
    async with uow_factory() as uow:
        loaded = await uow.integrations.get(integration.id)
        assert loaded is not None
        loaded.activate(now=NOW)
        loaded.fail(code=ErrorCode.INVALID_CREDENTIALS, message="revoked", now=NOW)
        await uow.integrations.update(loaded)
        await uow.commit()

    records = await outbox.read(after_sequence=cursor, limit=100)
    assert [r.event_type for r in records] == [
        "IntegrationCreated",
        "IntegrationActivated",
        "IntegrationFailed",
    ]
    sequences = [r.sequence for r in records]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 3
    assert len({r.event_id for r in records}) == 3
    created, _, failed = records
    assert (created.aggregate_id, created.aggregate_version, created.sub_account_id) == (
        integration.id,
        1,
        "sub-9",
    )
    assert created.payload == {"template_name": "gohighlevel", "name": "CRM"}
    assert created.occurred_at == NOW
    assert created.occurred_at.tzinfo is not None
    assert failed.aggregate_version == 2
    assert failed.payload == {
        "previous_status": "active",
        "error_code": "INVALID_CREDENTIALS",
        "error_message": "revoked",
    }


async def test_the_outbox_reader_pages_by_sequence(
    uow_factory: UnitOfWorkFactory,
    outbox: OutboxReader,
    template: IntegrationTemplate,
) -> None:
    async with uow_factory() as uow:
        for n in range(3):
            await uow.integrations.add(an_integration(template, name=f"crm-{n}"))
        await uow.commit()
    every = await outbox.read(after_sequence=0, limit=100)

    first = await outbox.read(after_sequence=0, limit=2)
    rest = await outbox.read(after_sequence=first[-1].sequence, limit=100)

    assert first + rest == every
    assert [r.payload.get("name") for r in every[-3:]] == ["crm-0", "crm-1", "crm-2"]


async def test_the_events_of_a_template_and_of_an_integration_land_in_one_commit(
    session_factory: async_sessionmaker[AsyncSession],
    uow_factory: UnitOfWorkFactory,
    template: IntegrationTemplate,
) -> None:
    async with uow_factory() as uow:
        loaded = await uow.templates.get(template.id)
        assert loaded is not None
        loaded.update({"display_name": "GHL"}, now=NOW)
        await uow.templates.update(loaded)
        integration = an_integration(loaded)
        await uow.integrations.add(integration)
        await uow.commit()

    async with session_factory() as session:
        rows = (
            await session.execute(
                select(OUTBOX.c.aggregate_type, OUTBOX.c.event_type).order_by(OUTBOX.c.sequence)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("IntegrationTemplate", "TemplateCreated"),
        ("IntegrationTemplate", "TemplateUpdated"),
        ("Integration", "IntegrationCreated"),
    ]


async def test_a_failing_commit_writes_neither_the_rows_nor_the_events(
    uow_factory: UnitOfWorkFactory,
    outbox: OutboxReader,
    template: IntegrationTemplate,
) -> None:
    before = await outbox.read(after_sequence=0, limit=100)
    integration = an_integration(template)
    integration._record(
        _Unserialisable(
            aggregate_id=integration.id, aggregate_version=1, occurred_at=NOW, blob=object()
        )
    )

    async with uow_factory() as uow:
        await uow.integrations.add(integration)
        with pytest.raises(StatementError):
            await uow.commit()

    assert await _count_integrations(uow_factory) == 0
    assert await outbox.read(after_sequence=0, limit=100) == before


async def test_a_lost_connection_at_commit_is_storage_unavailable_and_writes_nothing(
    uow_factory: UnitOfWorkFactory,
    template: IntegrationTemplate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lost = OperationalError("COMMIT", {}, ConnectionResetError("server closed the connection"))

    async def fail(self: AsyncSession) -> None:
        raise lost

    monkeypatch.setattr(AsyncSession, "commit", fail)
    async with uow_factory() as uow:
        await uow.integrations.add(an_integration(template))
        with pytest.raises(StorageUnavailableError) as caught:
            await uow.commit()

    assert caught.value.__cause__ is lost
    assert await _count_integrations(uow_factory) == 0


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
    engine = create_engine(url.format(tmp=tmp_path))
    try:
        uow_factory = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
        with pytest.raises(StorageUnavailableError) as caught:
            async with uow_factory() as uow:
                await uow.integrations.get("any")
    finally:
        await engine.dispose()
        await asyncio.wait_for(_aiosqlite_workers_stopped(), timeout=PATIENCE_SECONDS)

    assert caught.value.__cause__ is not None


async def _aiosqlite_workers_stopped() -> None:
    # aiosqlite stops the thread of a connection that failed to open in the background, and the
    # thread reports to this loop: it must be done before the test's loop closes.
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join)


async def test_concurrent_writers_wait_for_each_other_instead_of_failing(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integrations = [an_integration(template, name=f"crm-{n}") for n in range(4)]
    async with uow_factory() as uow:
        for integration in integrations:
            await uow.integrations.add(integration)
        await uow.commit()

    async def rename(integration_id: str, name: str) -> None:
        async with uow_factory() as uow:
            loaded = await uow.integrations.get(integration_id)
            assert loaded is not None
            await asyncio.sleep(0.05)  # hold the transaction open while the others start
            loaded.edit(name=name, now=NOW)
            await uow.integrations.update(loaded)
            await uow.commit()

    await asyncio.gather(*(rename(i.id, f"renamed-{n}") for n, i in enumerate(integrations)))

    async with uow_factory() as uow:
        page = await uow.integrations.list_page(IntegrationFilter(), PageRequest(size=10))
    assert [(i.name, i.version) for i in page.items] == [(f"renamed-{n}", 2) for n in range(4)]


async def test_of_two_concurrent_edits_of_one_integration_the_later_fails(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    async with uow_factory() as uow:
        await uow.integrations.add(integration)
        await uow.commit()
    both_read = asyncio.Barrier(2)
    one_finished = asyncio.Event()  # the second writer edits once the first has finished

    async def rename(name: str, *, after: asyncio.Event | None) -> str:
        async with uow_factory() as uow:
            loaded = await uow.integrations.get(integration.id)
            assert loaded is not None
            await both_read.wait()
            if after is not None:
                await after.wait()
            loaded.edit(name=name, now=NOW)
            try:
                await uow.integrations.update(loaded)
                await uow.commit()
            except ConcurrencyError:
                return "conflict"
            finally:
                one_finished.set()
            return "saved"

    outcomes = await asyncio.gather(
        rename("first", after=None), rename("second", after=one_finished)
    )

    assert list(outcomes) == ["saved", "conflict"]
    async with uow_factory() as uow:
        stored = await uow.integrations.get(integration.id)
    assert stored is not None
    assert (stored.name, stored.version) == ("first", 2)


async def test_a_reader_never_sees_an_event_behind_one_still_uncommitted(
    session_factory: async_sessionmaker[AsyncSession],
    uow_factory: UnitOfWorkFactory,
    outbox: OutboxReader,
    template: IntegrationTemplate,
) -> None:
    cursor = max((r.sequence for r in await outbox.read(after_sequence=0, limit=100)), default=0)
    (early,) = an_integration(template, name="early").pull_events()

    async def late_writer() -> None:
        async with uow_factory() as uow:
            await uow.integrations.add(an_integration(template, name="late"))
            await uow.commit()

    async with session_factory() as first:
        # The first writer takes its sequence, then lingers before committing.
        await append(
            first,
            [event_to_row(early, aggregate_type="Integration", event_id="e-1", recorded_at=NOW)],
        )
        late_done = asyncio.create_task(late_writer())
        await asyncio.sleep(0.1)
        read_meanwhile = asyncio.create_task(outbox.read(after_sequence=cursor, limit=100))
        await asyncio.sleep(0.2)
        await first.commit()
    await late_done
    seen_meanwhile = await read_meanwhile

    every = await outbox.read(after_sequence=cursor, limit=100)
    assert [r.payload["name"] for r in every] == ["early", "late"]
    # Whatever the reader saw while the first writer was open is a prefix of the final order.
    assert seen_meanwhile == every[: len(seen_meanwhile)]

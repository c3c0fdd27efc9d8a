"""SqlAlchemyAgencyGrants: an agency install's chain per (sub-account, agency), sealed, on
SQLite and PostgreSQL; on PostgreSQL its refresh lock holds across copies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.clock import SystemClock
from adapters.persistence.agency_grants import SqlAlchemyAgencyGrants
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.models import AGENCY_GRANTS
from application.ports.oauth import OAuthTokens
from domain.errors import SecretUnreadableError
from domain.values import SecretStr
from tests.fakes import FakeCipher
from tests.support.databases import clean_tables

SUB, OTHER_SUB, COMPANY = "sub-account-1", "sub-account-2", "company-1"
EXPIRES = datetime(2027, 1, 1, 12, tzinfo=UTC)
_LOCK_CLASS = 0x61676E74  # the store's advisory lock class


def tokens(n: int) -> OAuthTokens:
    return OAuthTokens(SecretStr(f"agency-access-{n}"), SecretStr(f"agency-refresh-{n}"), EXPIRES)


@pytest.fixture
def grants(session_factory: async_sessionmaker[AsyncSession]) -> SqlAlchemyAgencyGrants:
    return SqlAlchemyAgencyGrants(session_factory, FakeCipher(), SystemClock())


async def test_an_install_is_stored_sealed_and_read_back_by_its_sub_account_and_agency(
    grants: SqlAlchemyAgencyGrants, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await grants.install(SUB, COMPANY, tokens(1), origin="install-1")

    stored = await grants.load(SUB, COMPANY)

    assert stored is not None
    assert (stored.tokens, stored.origin) == (tokens(1), "install-1")
    assert await grants.load(OTHER_SUB, COMPANY) is None
    assert await grants.load(SUB, "company-2") is None
    async with session_factory() as session:
        row = (await session.execute(select(AGENCY_GRANTS))).one()
    assert "agency-refresh-1" not in row.refresh_token
    assert "agency-access-1" not in row.access_token


async def test_a_row_moved_to_another_sub_account_does_not_open(
    grants: SqlAlchemyAgencyGrants, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await grants.install(SUB, COMPANY, tokens(1), origin="install-1")
    async with session_factory() as session, session.begin():
        await session.execute(update(AGENCY_GRANTS).values(sub_account_id=OTHER_SUB))

    with pytest.raises(SecretUnreadableError):
        await grants.load(OTHER_SUB, COMPANY)


async def test_a_rotation_keeps_the_origin_and_a_new_install_replaces_the_chain(
    grants: SqlAlchemyAgencyGrants,
) -> None:
    await grants.install(SUB, COMPANY, tokens(1), origin="install-1")
    await grants.install(OTHER_SUB, COMPANY, tokens(9), origin="install-9")

    await grants.save_rotated(SUB, COMPANY, tokens(2))
    rotated = await grants.load(SUB, COMPANY)
    await grants.install(SUB, COMPANY, tokens(3), origin="install-3")
    reinstalled = await grants.load(SUB, COMPANY)

    assert rotated is not None
    assert reinstalled is not None
    assert (rotated.tokens, rotated.origin) == (tokens(2), "install-1")
    assert (reinstalled.tokens, reinstalled.origin) == (tokens(3), "install-3")
    other = await grants.load(OTHER_SUB, COMPANY)
    assert other is not None
    assert other.tokens == tokens(9)


async def test_a_deleted_grant_stays_deleted_when_a_late_rotation_is_saved(
    grants: SqlAlchemyAgencyGrants,
) -> None:
    await grants.install(SUB, COMPANY, tokens(1), origin="install-1")

    await grants.delete(SUB, COMPANY)
    await grants.save_rotated(SUB, COMPANY, tokens(2))

    assert await grants.load(SUB, COMPANY) is None


async def test_on_sqlite_the_refresh_lock_is_the_callers_in_process_lock(
    sqlite_database_url: str,
) -> None:
    engine = create_engine(sqlite_database_url)
    try:
        await clean_tables(engine)
        grants = SqlAlchemyAgencyGrants(create_session_factory(engine), FakeCipher(), SystemClock())
        async with grants.refresh_lock(SUB, COMPANY), grants.refresh_lock(SUB, COMPANY):
            await grants.install(SUB, COMPANY, tokens(1), origin="install-1")

        assert await grants.load(SUB, COMPANY) is not None
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_on_postgresql_one_copy_at_a_time_holds_a_grants_refresh_lock(
    postgres_database_url: str,
) -> None:
    engines = [create_engine(postgres_database_url) for _ in range(3)]
    first, second, other = (
        SqlAlchemyAgencyGrants(create_session_factory(e), FakeCipher(), SystemClock())
        for e in engines
    )
    order: list[str] = []
    try:
        async with first.refresh_lock(SUB, COMPANY):
            waiting = asyncio.create_task(_hold(second, SUB, COMPANY, order))
            await _until_a_lock_is_awaited(engines[2])
            # Another sub-account's grant of the same agency is not held up.
            async with other.refresh_lock(OTHER_SUB, COMPANY):
                order.append("other")
            order.append("first released")
        await asyncio.wait_for(waiting, timeout=60)
    finally:
        for engine in engines:
            await engine.dispose()

    assert order == ["other", "first released", "second"]


async def _hold(
    grants: SqlAlchemyAgencyGrants, sub_account_id: str, company_id: str, order: list[str]
) -> None:
    async with grants.refresh_lock(sub_account_id, company_id):
        order.append("second")


async def _until_a_lock_is_awaited(engine: AsyncEngine) -> None:
    """Wait (with a deadline a busy machine meets) until a copy waits for the store's lock."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid = :lock_class"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        async with engine.connect() as connection:
            waiting = (await connection.execute(query, {"lock_class": _LOCK_CLASS})).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the second copy never waited for the lock")

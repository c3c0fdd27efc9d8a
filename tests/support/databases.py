"""Fresh, migrated test databases: a uniquely named PostgreSQL database, or a SQLite file."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.persistence.driver_pool import driver_pool
from adapters.persistence.migrate import upgrade
from adapters.persistence.models import Base

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

Kind = Literal["sqlite", "postgres"]
KINDS: tuple[Kind, ...] = ("sqlite", "postgres")


def postgres_server_url() -> str:
    """TEST_DATABASE_URL: a database on the server the tests may create databases on."""
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'integrations.db'}"


async def create_postgres_database(server_url: str | None = None) -> str:
    """Create an empty, uniquely named database on the server; returns its URL."""
    server = make_url(server_url or postgres_server_url())
    name = f"test_integrations_{uuid.uuid4().hex[:12]}"
    await _autocommit(server, f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(url: str, server_url: str | None = None) -> None:
    """Drop a database made by create_postgres_database, disconnecting whoever still uses it."""
    server = make_url(server_url or postgres_server_url())
    name = make_url(url).database
    await _autocommit(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def empty_database(kind: Kind, directory: Path) -> AsyncIterator[str]:
    """The URL of a database with no tables, dropped afterwards (SQLite: a file in
    `directory`, which the caller owns)."""
    if kind == "sqlite":
        yield sqlite_url(directory)
        return
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@asynccontextmanager
async def migrated_database(kind: Kind, directory: Path) -> AsyncIterator[str]:
    """As `empty_database`, with the schema migrated to the newest revision."""
    async with empty_database(kind, directory) as url:
        await upgrade(url)
        yield url


@asynccontextmanager
async def opened_driver_pool(url: str, *, size: int) -> AsyncIterator[Any]:
    """The adapters' asyncpg pool for `url` (driver_pool.py), opened and closed as the
    container does; None on SQLite."""
    async with aclosing(driver_pool(url, size=size)) as opened:
        async for pool in opened:
            yield pool


async def clean_tables(engine: AsyncEngine) -> None:
    """Empty every table of the schema: much faster than migrating a fresh database."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {', '.join(tables)}"))
        else:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our tables


async def _autocommit(server: URL, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()

"""The async engine and session factory, for PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

from __future__ import annotations

import re
from typing import Any, Final

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS: Final = 5_000
# How the service's connections name themselves to PostgreSQL (pg_stat_activity).
APPLICATION_NAME: Final = "integrations"

_SQLITE_READ = re.compile(r"\s*(SELECT|PRAGMA)\b", re.IGNORECASE)

_POSTGRES_POOL: Final[dict[str, Any]] = {
    "pool_size": 10,
    "max_overflow": 10,
    # Fail fast when the pool is exhausted: callers turn it into "storage unavailable, retry".
    "pool_timeout": 10.0,
    "pool_recycle": 1800,
}


def create_engine(url: str, *, echo: bool = False, sqlite_foreign_keys: bool = True) -> AsyncEngine:
    """An engine for ``postgresql+asyncpg://...`` or ``sqlite+aiosqlite:///path``.

    Bound parameters are kept out of logs and error messages (rows hold ciphertexts).
    SQLite runs in WAL mode with foreign keys on and a busy timeout; a transaction takes the
    write lock (BEGIN IMMEDIATE) at its first write, so concurrent writers queue.
    `sqlite_foreign_keys=False` is for migrations only: SQLite rebuilds tables to alter them,
    which foreign key enforcement would turn into cascading deletes or failures.
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql+asyncpg":
        return create_async_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            connect_args={"server_settings": {"application_name": APPLICATION_NAME}},
            **_POSTGRES_POOL,
        )
    if parsed.drivername == "sqlite+aiosqlite":
        # SQLAlchemy's default pool for a SQLite file (a queue of 5 + 10 overflow) suits it:
        # writers serialize on the database lock anyway, readers run alongside in WAL mode.
        engine = create_async_engine(parsed, echo=echo, hide_parameters=True)
        _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys)
        return engine
    raise ValueError(
        f"unsupported database driver {parsed.drivername!r}: "
        "use postgresql+asyncpg:// or sqlite+aiosqlite:///"
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` (same pool) for connections that only read. On PostgreSQL their statements run
    in autocommit: a read costs one round trip instead of three (BEGIN, the query, ROLLBACK),
    and each statement sees the latest commit, as under READ COMMITTED. Never for writes: each
    would commit alone. On SQLite reads already run outside transactions (create_engine)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def create_read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work that only read, on `read_engine`."""
    return create_session_factory(read_engine(engine))


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}",
        f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver: the listener below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _begin_at_first_write(
        connection: Connection,
        cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        # A transaction begins at its first statement that is not a read, with BEGIN IMMEDIATE:
        # it takes the write lock up front, so concurrent writers queue (busy_timeout) instead
        # of failing with "database is locked", as a deferred reader turning writer does.
        # Reads before it run in autocommit, each seeing the last commit (PostgreSQL's READ
        # COMMITTED; versions guard updates), so a transaction that has only read holds no lock:
        # a use case does not block the data key store that the cipher calls in its middle.
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction and not _SQLITE_READ.match(statement):
            cursor.execute("BEGIN IMMEDIATE")

"""Alembic environment: migrates the connection migrate.py hands over, else DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, text

from adapters.persistence.migrate import run_on
from adapters.persistence.models import Base

config = context.config


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or os.environ["DATABASE_URL"]


def _migrate(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters a table by rebuilding it; the engine's BEGIN makes its DDL transactional.
        render_as_batch=is_sqlite,
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if is_sqlite:
            # Migrations run with foreign keys off (table rebuilds); check them before commit.
            broken = connection.execute(text("PRAGMA foreign_key_check")).all()
            if broken:
                raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (given := config.attributes.get("connection")) is not None:
    _migrate(given)
else:
    asyncio.run(run_on(_url(), _migrate))

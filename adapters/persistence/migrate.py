"""Schema migrations (Alembic, no ini file needed) for the CLI and the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from adapters.persistence.engine import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (the newest by default)."""
    await run_on(url, lambda connection: command.upgrade(_config(connection), revision))


async def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at `url` down to `revision` (an empty schema by default)."""
    await run_on(url, lambda connection: command.downgrade(_config(connection), revision))


async def run_on(url: str, migrate: Callable[[Connection], None]) -> None:
    """Run Alembic's synchronous `migrate` on a connection to `url`, through run_sync.
    SQLite's foreign keys stay off while tables are rebuilt; env.py checks them before commit."""
    engine = create_engine(url, sqlite_foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
    finally:
        await engine.dispose()


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection  # env.py migrates it
    return config

"""The Alembic migrations: up, down and up again, and in step with the row models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from adapters.persistence.migrate import downgrade, run_on, upgrade
from adapters.persistence.models import Base
from tests.support.databases import Kind, empty_database

KIND = pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
TABLES = set(Base.metadata.tables)


async def _tables(url: str) -> set[str]:
    found: set[str] = set()

    def collect(connection: Connection) -> None:
        found.update(inspect(connection).get_table_names())

    await run_on(url, collect)
    return found - {"alembic_version"}


async def _differences(url: str) -> list[Any]:
    differences: list[Any] = []

    def compare(connection: Connection) -> None:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences.extend(compare_metadata(context, Base.metadata))

    await run_on(url, compare)
    return differences


@KIND
async def test_migrations_go_up_down_and_up_again(kind: Kind, tmp_path: Path) -> None:
    async with empty_database(kind, tmp_path) as url:
        await upgrade(url)
        assert await _tables(url) == TABLES

        await downgrade(url)
        assert await _tables(url) == set()

        await upgrade(url)
        assert await _tables(url) == TABLES


@KIND
async def test_the_migrated_schema_is_the_one_the_models_describe(
    kind: Kind, tmp_path: Path
) -> None:
    async with empty_database(kind, tmp_path) as url:
        await upgrade(url)

        assert await _differences(url) == []

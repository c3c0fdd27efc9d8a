"""IntegrationReads: one prebuilt statement per read on a pooled connection (autocommit on
PostgreSQL), rows mapped straight to views: no session, no repositories, no aggregates. On
PostgreSQL the statement runs on a connection of the adapter's asyncpg pool (driver_pool.py):
SQLAlchemy's execution layer and pool cost more CPU than the rest of the read
(bench/grpc_reads.py: GetIntegration ~860 -> ~700 us of service CPU through the engine's pool
on asyncpg's driver, less again on the adapter's own pool)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Dialect, Engine, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from adapters.persistence.engine import read_engine
from adapters.persistence.errors import storage_errors
from adapters.persistence.mappers import secrets_from_column
from adapters.persistence.models import INTEGRATIONS
from application.dto import IntegrationView, masked_config
from application.ports import IntegrationFilter, Page, PageRequest
from domain.integration import IntegrationStatus

Rows = Sequence[Sequence[Any]]

# A dict lookup: IntegrationStatus(value) costs a tenth of a row's mapping.
_STATUSES = {status.value: status for status in IntegrationStatus}

_c = INTEGRATIONS.c
# The columns of a view, in the order _view unpacks them.
_COLUMNS = (
    _c.id,
    _c.sub_account_id,
    _c.template_id,
    _c.template_name,
    _c.name,
    _c.description,
    _c.is_active,
    _c.status,
    _c.config,
    _c.secrets,
    _c.last_sync_at,
    _c.last_tested_at,
    _c.error_code,
    _c.error_message,
    _c.created_by_admin_id,
    _c.created_at,
    _c.updated_at,
    _c.version,
)
# Built once: a statement reused as is skips building its cache key on every execution.
_BY_ID = select(*_COLUMNS).where(_c.id == bindparam("id"))


@functools.cache
def _page_statement(sub_account: bool, statuses: int, template: bool, after: bool) -> Select[Any]:
    """The keyset query of one combination of filters (`statuses`: how many, at most 4), with
    bound parameters, so that each combination is one statement, compiled once."""
    query = select(*_COLUMNS)
    if sub_account:
        query = query.where(_c.sub_account_id == bindparam("sub_account_id"))
    if statuses:
        query = query.where(_c.status.in_([bindparam(f"status_{n}") for n in range(statuses)]))
    if template:
        query = query.where(_c.template_name == bindparam("template_name"))
    if after:
        query = query.where(_c.id > bindparam("after_id"))
    return query.order_by(_c.id).limit(bindparam("limit"))


@functools.cache
def _driver_sql(statement: Select[Any], dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """The statement's SQL for the driver, and its parameters' names in positional order."""
    compiled = statement.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ())


class SqlAlchemyIntegrationReads:
    """IntegrationReads. Transient database failures surface as StorageUnavailableError.
    `pool`: an asyncpg pool on the engine's PostgreSQL database (driver_pool.py) to run the reads
    on; None: they run on the engine. A read that gets no connection of the pool within
    `acquire_timeout` seconds fails (as the engine's pool_timeout) rather than queue on."""

    def __init__(
        self, engine: AsyncEngine, pool: Any = None, acquire_timeout: float = 10.0
    ) -> None:
        self._engine = read_engine(engine)
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._fetch: Callable[[Select[Any], Mapping[str, Any]], Awaitable[Rows]] = (
            self._fetch_on_core if pool is None else self._fetch_on_pool
        )

    async def get(self, integration_id: str) -> IntegrationView | None:
        with storage_errors():
            rows = await self._fetch(_BY_ID, {"id": integration_id})
        return _view(rows[0]) if rows else None

    async def list_page(
        self, filter: IntegrationFilter, page: PageRequest
    ) -> Page[IntegrationView]:
        statement = _page_statement(
            filter.sub_account_id is not None,
            len(filter.statuses),
            filter.template_name is not None,
            page.after_id is not None,
        )
        # One row more than the page holds: it tells whether another page follows.
        parameters: dict[str, Any] = {
            "sub_account_id": filter.sub_account_id,
            "template_name": filter.template_name,
            "after_id": page.after_id,
            "limit": page.size + 1,
        }
        parameters.update(
            (f"status_{n}", str(status)) for n, status in enumerate(sorted(filter.statuses))
        )
        with storage_errors():
            rows = await self._fetch(statement, parameters)
        items = [_view(row) for row in rows[: page.size]]
        more = len(rows) > page.size and bool(items)
        return Page(items, items[-1].id if more else None)

    async def _fetch_on_core(self, statement: Select[Any], parameters: Mapping[str, Any]) -> Rows:
        # Checkout, query and checkin in one greenlet, where AsyncConnection would run each in
        # one of its own.
        return await greenlet_spawn(_execute, self._engine.sync_engine, statement, parameters)

    async def _fetch_on_pool(self, statement: Select[Any], parameters: Mapping[str, Any]) -> Rows:
        # asyncpg's pool closes a connection that broke or was cancelled mid-query rather than
        # hand it out again.
        sql, names = _driver_sql(statement, self._engine.dialect)
        # An idle connection is handed out at once; only a read that must wait gets the timeout,
        # which asyncpg enforces by running the acquisition as a task of its own.
        timeout = None if self._pool.get_idle_size() else self._acquire_timeout
        async with self._pool.acquire(timeout=timeout) as connection:
            rows: Rows = await connection.fetch(sql, *[parameters[name] for name in names])
        return rows


def _execute(engine: Engine, statement: Select[Any], parameters: Mapping[str, Any]) -> Rows:
    with engine.connect() as connection:
        return connection.execute(statement, parameters).all()


def _view(row: Sequence[Any]) -> IntegrationView:
    # Unpacked by position: a row's attributes cost more than the rest of the mapping.
    (
        id,
        sub_account_id,
        template_id,
        template_name,
        name,
        description,
        is_active,
        status,
        config,
        secrets_column,
        last_sync_at,
        last_tested_at,
        error_code,
        error_message,
        created_by_admin_id,
        created_at,
        updated_at,
        version,
    ) = row
    secrets = secrets_from_column(secrets_column)
    return IntegrationView(
        id=id,
        sub_account_id=sub_account_id,
        template_id=template_id,
        template_name=template_name,
        name=name,
        description=description,
        is_active=is_active,
        status=_STATUSES[status],
        config=masked_config(config, secrets),
        secret_fields=frozenset(secrets),
        last_sync_at=last_sync_at,
        last_tested_at=last_tested_at,
        error_code=error_code,
        error_message=error_message,
        created_by_admin_id=created_by_admin_id,
        created_at=created_at,
        updated_at=updated_at,
        version=version,
    )

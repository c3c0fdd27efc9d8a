"""Repositories of the catalogue and the integrations, on one unit of work's session."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Select,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.persistence.errors import is_unique_violation, translated
from adapters.persistence.mappers import (
    integration_from_row,
    integration_to_row,
    template_from_row,
    template_to_row,
)
from adapters.persistence.models import INTEGRATION_ACCOUNTS, INTEGRATIONS, TEMPLATES
from application.ports import IntegrationFilter, Page, PageRequest
from domain.aggregate import Aggregate
from domain.errors import AlreadyExistsError, ConcurrencyError
from domain.integration import Integration
from domain.template import IntegrationTemplate
from domain.values import ProviderAccount

A = TypeVar("A", bound=Aggregate)


class SeenAggregates:
    """The aggregates a unit of work loaded or wrote, in first-seen order, so that it can pull
    their events on commit. Kept by identity: loading a row twice gives two objects, each with
    events of its own."""

    def __init__(self) -> None:
        self._aggregates: dict[int, Aggregate] = {}

    def add(self, aggregate: Aggregate) -> None:
        self._aggregates.setdefault(id(aggregate), aggregate)

    def clear(self) -> None:
        self._aggregates.clear()

    def __iter__(self) -> Iterator[Aggregate]:
        return iter(list(self._aggregates.values()))


class SqlAlchemyTemplateRepository:
    def __init__(self, session: AsyncSession, seen: SeenAggregates) -> None:
        self._session = session
        self.seen = seen

    @translated
    async def get(self, template_id: str) -> IntegrationTemplate | None:
        return await self._one(TEMPLATES.c.id == template_id)

    @translated
    async def get_by_name(self, name: str) -> IntegrationTemplate | None:
        return await self._one(TEMPLATES.c.name == name)

    @translated
    async def list_page(
        self, page: PageRequest, *, include_inactive: bool
    ) -> Page[IntegrationTemplate]:
        query = select(TEMPLATES)
        if not include_inactive:
            query = query.where(TEMPLATES.c.is_active.is_(True))
        rows = (await self._session.execute(_keyset(query, TEMPLATES.c.id, page))).all()
        return _page(rows, page, self._load)

    @translated
    async def add(self, template: IntegrationTemplate) -> None:
        try:
            await self._session.execute(insert(TEMPLATES).values(template_to_row(template)))
        except IntegrityError as err:
            if is_unique_violation(err):
                raise AlreadyExistsError(
                    f"template {template.name!r} already exists",
                    metadata={"resource": "template", "name": template.name},
                ) from err
            raise
        self.seen.add(template)

    @translated
    async def update(self, template: IntegrationTemplate) -> None:
        result = await self._session.execute(
            update(TEMPLATES)
            .where(_at_version(TEMPLATES, template))
            .values(_changes(TEMPLATES, template_to_row(template)))
        )
        _check_one_row(result, "template", template)
        template.version += 1
        self.seen.add(template)

    async def _one(self, condition: ColumnElement[bool]) -> IntegrationTemplate | None:
        row = (await self._session.execute(select(TEMPLATES).where(condition))).first()
        return None if row is None else self._load(row)

    def _load(self, row: Row[Any]) -> IntegrationTemplate:
        template = template_from_row(row)
        self.seen.add(template)
        return template


class SqlAlchemyIntegrationRepository:
    def __init__(self, session: AsyncSession, seen: SeenAggregates) -> None:
        self._session = session
        self.seen = seen

    @translated
    async def get(self, integration_id: str) -> Integration | None:
        return await self._one(INTEGRATIONS.c.id == integration_id)

    @translated
    async def find_by_request_id(self, sub_account_id: str, request_id: str) -> Integration | None:
        return await self._one(
            (INTEGRATIONS.c.sub_account_id == sub_account_id)
            & (INTEGRATIONS.c.request_id == request_id)
        )

    @translated
    async def list_page(self, filter: IntegrationFilter, page: PageRequest) -> Page[Integration]:
        query = select(INTEGRATIONS)
        if filter.sub_account_id is not None:
            query = query.where(INTEGRATIONS.c.sub_account_id == filter.sub_account_id)
        if filter.statuses:
            query = query.where(INTEGRATIONS.c.status.in_(sorted(map(str, filter.statuses))))
        if filter.template_name is not None:
            query = query.where(INTEGRATIONS.c.template_name == filter.template_name)
        rows = (await self._session.execute(_keyset(query, INTEGRATIONS.c.id, page))).all()
        return _page(rows, page, self._load)

    @translated
    async def list_sub_account_ids(self) -> list[str]:
        query = (
            select(INTEGRATIONS.c.sub_account_id).distinct().order_by(INTEGRATIONS.c.sub_account_id)
        )
        return list((await self._session.scalars(query)).all())

    @translated
    async def add(self, integration: Integration, *, request_id: str | None = None) -> None:
        try:
            await self._session.execute(
                insert(INTEGRATIONS).values(
                    integration_to_row(integration) | {"request_id": request_id}
                )
            )
        except IntegrityError as err:
            if is_unique_violation(err):
                raise AlreadyExistsError(
                    "integration already exists"
                    if request_id is None
                    else "an integration was already created with this request id",
                    metadata={"resource": "integration"},
                ) from err
            raise
        self.seen.add(integration)

    @translated
    async def update(self, integration: Integration) -> None:
        result = await self._session.execute(
            update(INTEGRATIONS)
            .where(_at_version(INTEGRATIONS, integration))
            .values(_changes(INTEGRATIONS, integration_to_row(integration)))
        )
        _check_one_row(result, "integration", integration)
        integration.version += 1
        self.seen.add(integration)

    @translated
    async def delete(self, integration: Integration) -> None:
        result = await self._session.execute(
            delete(INTEGRATIONS).where(_at_version(INTEGRATIONS, integration))
        )
        _check_one_row(result, "integration", integration)
        self.seen.add(integration)

    @translated
    async def set_accounts(
        self, integration_id: str, accounts: AbstractSet[ProviderAccount]
    ) -> None:
        await self._session.execute(
            delete(INTEGRATION_ACCOUNTS).where(
                INTEGRATION_ACCOUNTS.c.integration_id == integration_id
            )
        )
        if accounts:
            await self._session.execute(
                insert(INTEGRATION_ACCOUNTS),
                [
                    {"integration_id": integration_id, "kind": a.kind, "account_id": a.id}
                    for a in sorted(accounts)
                ],
            )

    async def _one(self, condition: ColumnElement[bool]) -> Integration | None:
        row = (await self._session.execute(select(INTEGRATIONS).where(condition))).first()
        return None if row is None else self._load(row)

    def _load(self, row: Row[Any]) -> Integration:
        integration = integration_from_row(row)
        self.seen.add(integration)
        return integration


S = TypeVar("S", bound=Select[Any])


def _keyset(query: S, id_column: ColumnElement[str], page: PageRequest) -> S:
    """One row more than the page holds: it tells whether another page follows."""
    if page.after_id is not None:
        query = query.where(id_column > page.after_id)
    return query.order_by(id_column).limit(page.size + 1)


def _page(rows: Sequence[Row[Any]], page: PageRequest, load: Callable[[Row[Any]], A]) -> Page[A]:
    items = [load(row) for row in rows[: page.size]]
    more = len(rows) > page.size and bool(items)
    return Page(items, items[-1].id if more else None)


def _at_version(table: Table, aggregate: Aggregate) -> ColumnElement[bool]:
    """The aggregate's row, provided it is still at the version the aggregate was read at."""
    return (table.c.id == aggregate.id) & (table.c.version == aggregate.version)


def _changes(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """What an update writes: every column but the key, and the version bumped in SQL."""
    changes = {k: v for k, v in row.items() if k != "id"}
    changes["version"] = table.c.version + 1
    return changes


def _check_one_row(result: object, resource: str, aggregate: Aggregate) -> None:
    if cast("CursorResult[Any]", result).rowcount != 1:
        raise ConcurrencyError(
            f"{resource} {aggregate.id!r} changed or was deleted since it was read",
            metadata={"resource": resource, "id": aggregate.id},
        )

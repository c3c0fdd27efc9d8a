"""GetIntegrationTemplate and ListIntegrationTemplates: read the catalogue."""

from __future__ import annotations

from dataclasses import dataclass

from application.dto import TemplateView
from application.ports import Page, PageRequest, UnitOfWorkFactory
from domain.errors import NotFoundError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class GetTemplateQuery:
    actor: Principal
    template_id: str


class GetTemplate:
    """Anyone authenticated reads the catalogue; inactive entries are visible to admins only."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, query: GetTemplateQuery) -> TemplateView:
        async with self._uow() as uow:
            template = await uow.templates.get(query.template_id)
            if template is None:
                template = await uow.templates.get_by_name(query.template_id)
        if template is None or (not template.is_active and not query.actor.is_admin):
            raise NotFoundError("template", query.template_id)
        return TemplateView.of(template)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListTemplatesQuery:
    actor: Principal
    page: PageRequest


class ListTemplates:
    """Templates in creation order; inactive ones only for admins."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, query: ListTemplatesQuery) -> Page[TemplateView]:
        async with self._uow() as uow:
            page = await uow.templates.list_page(query.page, include_inactive=query.actor.is_admin)
        return Page([TemplateView.of(t) for t in page.items], page.next_after_id)

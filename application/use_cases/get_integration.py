"""GetIntegration and ListIntegrations: read a tenant's integrations."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.access import visible_integration
from application.dto import IntegrationView
from application.ports import IntegrationFilter, IntegrationReads, Page, PageRequest
from domain.errors import PermissionDeniedError
from domain.integration import IntegrationStatus
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class GetIntegrationQuery:
    actor: Principal
    integration_id: str


class GetIntegration:
    """Rules: a non-admin sees only its own sub-account's integrations; any other id is not found."""

    def __init__(self, *, reads: IntegrationReads) -> None:
        self._reads = reads

    async def execute(self, query: GetIntegrationQuery) -> IntegrationView:
        view = await self._reads.get(query.integration_id)
        return visible_integration(query.actor, view, query.integration_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListIntegrationsQuery:
    actor: Principal
    page: PageRequest
    sub_account_id: str | None = None
    """Admins may name any sub-account or none (all); others get their own whatever they ask."""
    statuses: frozenset[IntegrationStatus] = field(default_factory=frozenset)
    template_name: str | None = None


class ListIntegrations:
    """Rules: integrations in creation order, filtered by status and template; non-admins are
    confined to their own sub-account, and asking for another one is refused."""

    def __init__(self, *, reads: IntegrationReads) -> None:
        self._reads = reads

    async def execute(self, query: ListIntegrationsQuery) -> Page[IntegrationView]:
        sub_account_id = query.sub_account_id or None
        if not query.actor.is_admin:
            if sub_account_id not in (None, query.actor.sub_account_id):
                raise PermissionDeniedError("you may list only your own sub-account's integrations")
            sub_account_id = query.actor.sub_account_id
            if sub_account_id is None:
                raise PermissionDeniedError("the token names no sub-account")
        flt = IntegrationFilter(
            sub_account_id=sub_account_id,
            statuses=query.statuses,
            template_name=query.template_name or None,
        )
        return await self._reads.list_page(flt, query.page)

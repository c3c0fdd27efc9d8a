"""GetLead and ListLeads: read the leads synced from the integrations' providers."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.access import visible_integration
from application.dto import LeadView
from application.ports import LeadFilter, Page, PageRequest, UnitOfWorkFactory
from domain.errors import NotFoundError, PermissionDeniedError
from domain.lead import LeadStatus
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class GetLeadQuery:
    actor: Principal
    integration_id: str
    lead_id: str


class GetLead:
    """Rules: a lead is found only under its own integration, which the actor must see (a
    non-admin sees only its own sub-account's); any other id is not found. Deleted leads are
    found too."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, query: GetLeadQuery) -> LeadView:
        async with self._uow() as uow:
            visible_integration(
                query.actor, await uow.integrations.get(query.integration_id), query.integration_id
            )
            lead = await uow.leads.get(query.lead_id)
        if lead is None or lead.integration_id != query.integration_id:
            raise NotFoundError("lead", query.lead_id)
        return LeadView.of(lead)


@dataclass(frozen=True, slots=True, kw_only=True)
class ListLeadsQuery:
    actor: Principal
    page: PageRequest
    integration_id: str | None = None
    """None lists the leads of every integration the actor may see."""
    sub_account_id: str | None = None
    """Admins may name any sub-account or none (all); others get their own whatever they ask."""
    statuses: frozenset[LeadStatus] = field(default_factory=frozenset)
    include_deleted: bool = False


class ListLeads:
    """Rules: leads in the order they were first seen, filtered by integration, sub-account and
    status, deleted ones only when asked for; non-admins are confined to their own sub-account
    (asking for another one is refused, and another sub-account's integration is not found)."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def execute(self, query: ListLeadsQuery) -> Page[LeadView]:
        sub_account_id = query.sub_account_id or None
        if not query.actor.is_admin:
            if sub_account_id not in (None, query.actor.sub_account_id):
                raise PermissionDeniedError("you may list only your own sub-account's leads")
            sub_account_id = query.actor.sub_account_id
            if sub_account_id is None:
                raise PermissionDeniedError("the token names no sub-account")
        async with self._uow() as uow:
            if query.integration_id is not None:
                visible_integration(
                    query.actor,
                    await uow.integrations.get(query.integration_id),
                    query.integration_id,
                )
            page = await uow.leads.list_page(
                LeadFilter(
                    sub_account_id=sub_account_id,
                    integration_id=query.integration_id,
                    include_deleted=query.include_deleted,
                    statuses=query.statuses,
                ),
                query.page,
            )
        return Page([LeadView.of(lead) for lead in page.items], page.next_after_id)

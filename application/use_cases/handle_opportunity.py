"""HandleOpportunityEvent: a CRM opportunity's status → the status of its contact's lead."""

from __future__ import annotations

from dataclasses import dataclass, replace

from application.lead_sync import LeadSync
from application.opportunity_sync import OpportunitySync
from application.ports import Cipher, HandlerOutcome, InboundEvent, UnitOfWork, UnitOfWorkFactory
from application.ports.crm import CrmApi, CrmContact
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from domain.errors import NotFoundError


class HandleOpportunityEvent:
    """Rules: the lead takes the opportunity's status (open, won, lost, abandoned). The CRM
    announces one change twice (OpportunityUpdate and OpportunityStatusUpdate): a status equal
    to the lead's records nothing, so the change is applied once; a change older than the
    lead's last one (when the payload tells when it happened) is ignored. A contact this service
    has no lead for yet is fetched from the CRM and captured first (the CRM gone: ignored). A lead
    follows the last status change of any of its contact's opportunities; the echo of the
    service's own status write, and a status set here and not pushed yet, are handled as
    OpportunitySync says."""

    def __init__(
        self, *, leads: LeadSync, opportunities: OpportunitySync, crm: CrmApi, cipher: Cipher
    ) -> None:
        self._leads = leads
        self._opportunities = opportunities
        self._crm = crm
        self._cipher = cipher

    async def prepare(self, uows: UnitOfWorkFactory, event: InboundEvent) -> InboundEvent:
        """The opportunity's contact from the CRM (and the account's timezone for it), when it
        is no lead here yet."""
        opportunity = self._leads.reader.opportunity(event.payload)
        if opportunity is None or opportunity.contact_id is None:
            return event
        async with uows() as uow:
            if await uow.leads.get_by_external_id(event.integration_id, opportunity.contact_id):
                return event
            integration = await uow.integrations.get(event.integration_id)
            if integration is None:
                return event
            call = await provider_call(uow, self._cipher, integration, priority=Priority.LIVE)
        try:
            contact = await self._crm.get_contact(call, opportunity.contact_id)
        except NotFoundError:
            return event
        timezone = await self._leads.timezone_for_capture(
            uows, integration_id=event.integration_id, contact=contact
        )
        return replace(event, fetched=_Contact(contact, timezone))

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        opportunity = self._leads.reader.opportunity(event.payload)
        status = self._leads.reader.lead_status(opportunity.status if opportunity else None)
        if opportunity is None or opportunity.contact_id is None or status is None:
            return HandlerOutcome.IGNORED
        lead = await uow.leads.get_by_external_id(event.integration_id, opportunity.contact_id)
        if lead is None:
            fetched = event.fetched
            if not isinstance(fetched, _Contact):  # `prepare` found the contact gone
                return HandlerOutcome.IGNORED
            lead, _ = await self._leads.upsert(
                uow,
                integration_id=event.integration_id,
                sub_account_id=event.sub_account_id,
                contact=fetched.contact,
                changed_at=fetched.contact.date_updated or fetched.contact.date_added,
                account_timezone=fetched.timezone,
            )
        applied = await self._opportunities.apply(
            uow, integration_id=event.integration_id, opportunity=opportunity, lead=lead
        )
        return HandlerOutcome.APPLIED if applied.written else HandlerOutcome.IGNORED


@dataclass(frozen=True, slots=True)
class _Contact:
    contact: CrmContact
    timezone: str | None

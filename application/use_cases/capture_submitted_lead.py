"""CaptureSubmittedLead: a lead form submitted at a provider → a lead here, with its answers
fetched from the provider and its attribution."""

from __future__ import annotations

from dataclasses import replace

from application.lead_sync import LeadSync
from application.ports import (
    Cipher,
    HandlerOutcome,
    InboundEvent,
    LeadFetcher,
    SubmittedLead,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from domain.errors import NotFoundError
from domain.lead import Lead


class CaptureSubmittedLead:
    """Rules: the delivery names the lead by the provider's id (its delivery id); one lead per
    (integration, that id), however often it is delivered; its answers are fetched from the
    provider before the worker's transaction opens (a lead the provider no longer has is
    ignored); the lead is assigned and its timezone detected as for any captured lead, and
    keeps where it came from (form, ad, campaign) as its attribution."""

    def __init__(self, *, fetcher: LeadFetcher, leads: LeadSync, cipher: Cipher) -> None:
        self._fetcher = fetcher
        self._leads = leads
        self._cipher = cipher

    async def prepare(self, uows: UnitOfWorkFactory, event: InboundEvent) -> InboundEvent:
        async with uows() as uow:
            if await uow.leads.get_by_external_id(event.integration_id, event.delivery_id):
                return event
            integration = await uow.integrations.get(event.integration_id)
            if integration is None:
                return event
            call = await provider_call(uow, self._cipher, integration, priority=Priority.LIVE)
        try:
            submitted = await self._fetcher.fetch_lead(call, event.delivery_id)
        except NotFoundError:
            return event
        return replace(event, fetched=submitted)

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        submitted = event.fetched
        if not isinstance(submitted, SubmittedLead):
            return HandlerOutcome.IGNORED
        captured = await capture_submitted(
            uow,
            self._leads,
            integration_id=event.integration_id,
            sub_account_id=event.sub_account_id,
            submitted=submitted,
        )
        return HandlerOutcome.APPLIED if captured else HandlerOutcome.IGNORED


async def capture_submitted(
    uow: UnitOfWork,
    leads: LeadSync,
    *,
    integration_id: str,
    sub_account_id: str,
    submitted: SubmittedLead,
) -> bool:
    """Capture the submitted lead in `uow` unless the integration has it already (by the
    provider's id); returns whether it was new. Assigned and its timezone detected as for any
    captured lead, keeping where it came from as its attribution."""
    if await uow.leads.get_by_external_id(integration_id, submitted.external_id):
        return False
    assigned = await leads.directory.first_assignable_user(sub_account_id)
    lead = Lead.capture(
        id=leads.ids.new_id(),
        sub_account_id=sub_account_id,
        integration_id=integration_id,
        external_id=submitted.external_id,
        details=submitted.details,
        timezone=leads.detect_timezone(submitted.details),
        assigned_user_id=assigned.user_id if assigned else None,
        strategy_id=assigned.strategy_id if assigned else None,
        external_updated_at=submitted.submitted_at,
        attribution=submitted.attribution,
        now=leads.clock.now(),
    )
    await uow.leads.add(lead)
    return True

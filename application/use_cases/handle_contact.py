"""HandleContactEvent: a CRM contact created, updated or deleted → the lead upserted or deleted."""

from __future__ import annotations

from dataclasses import replace

from application.lead_sync import AccountTimezone, LeadSync
from application.ports import HandlerOutcome, InboundEvent, UnitOfWork, UnitOfWorkFactory
from domain.webhook_delivery import EventKind


class HandleContactEvent:
    """Rules: one lead per (integration, CRM contact id), whatever the number of deliveries; a
    change older than the lead's (the contact's update time, else the event's ``timestamp``, else a
    create's ``dateAdded``) never overwrites it; a deleted lead stays deleted, even when its
    create arrives after the delete. A payload without a contact id, or an event that changes
    nothing, is ignored, and so is the echo of the service's own write; a lead with changes
    made here and not pushed yet is merged field by field (application.lead_sync)."""

    def __init__(self, *, leads: LeadSync) -> None:
        self._leads = leads

    async def prepare(self, uows: UnitOfWorkFactory, event: InboundEvent) -> InboundEvent:
        """The CRM account's timezone, when the contact is new here and tells none."""
        contact = self._leads.reader.contact(event.payload)
        if contact is None or event.kind is EventKind.CONTACT_DELETED:
            return event
        timezone = await self._leads.timezone_for_capture(
            uows, integration_id=event.integration_id, contact=contact
        )
        return replace(event, fetched=AccountTimezone(timezone))

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        contact = self._leads.reader.contact(event.payload)
        if contact is None:
            return HandlerOutcome.IGNORED
        if event.kind is EventKind.CONTACT_DELETED:
            written = await self._leads.delete(
                uow,
                integration_id=event.integration_id,
                sub_account_id=event.sub_account_id,
                contact=contact,
            )
        else:
            _, written = await self._leads.upsert(
                uow,
                integration_id=event.integration_id,
                sub_account_id=event.sub_account_id,
                contact=contact,
                changed_at=(
                    contact.date_updated
                    or self._leads.reader.sent_at(event.payload)
                    or (contact.date_added if event.kind is EventKind.CONTACT_CREATED else None)
                ),
                account_timezone=AccountTimezone.of(event),
            )
        return HandlerOutcome.APPLIED if written else HandlerOutcome.IGNORED

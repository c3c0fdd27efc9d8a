"""HandleAppointmentEvent: a CRM appointment created, updated or deleted → the booking."""

from __future__ import annotations

from application.booking_sync import BookingSync
from application.ports import Clock, HandlerOutcome, IdGenerator, InboundEvent, UnitOfWork
from application.ports.crm import CrmReader
from domain.webhook_delivery import EventKind


class HandleAppointmentEvent:
    """Rules: one booking per (integration, CRM appointment id); created and updated events
    both upsert (a CRM may label updates and deletes as creations); a change
    older than the booking's (``dateUpdated``, else the event's ``timestamp``) is ignored; a
    delete cancels the booking for good, and one that arrives before the create leaves a
    cancelled booking. The booking links to the contact's lead when the service has it. A
    payload without an id, calendar, contact or start time is ignored, and so is the echo of
    the service's own write (application.booking_sync)."""

    def __init__(self, *, ids: IdGenerator, clock: Clock, reader: CrmReader) -> None:
        self._bookings = BookingSync(ids=ids, clock=clock, reader=reader)
        self._reader = reader

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        appointment = self._reader.appointment(event.payload)
        if appointment is None:
            return HandlerOutcome.IGNORED
        applied = await self._bookings.apply(
            uow,
            integration_id=event.integration_id,
            sub_account_id=event.sub_account_id,
            appointment=appointment,
            changed_at=(
                appointment.date_updated
                or self._reader.sent_at(event.payload)
                or (appointment.date_added if event.kind is EventKind.APPOINTMENT_CREATED else None)
            ),
            deleting=event.kind is EventKind.APPOINTMENT_DELETED,
        )
        return HandlerOutcome.APPLIED if applied.written else HandlerOutcome.IGNORED

"""HandleAppointmentEvent: a GHL appointment created, updated or deleted → the booking."""

from __future__ import annotations

from application import ghl_webhooks
from application.ghl import GhlAppointment
from application.inbox import EventKind, HandlerOutcome, InboundEvent
from application.ports import Clock, IdGenerator, UnitOfWork
from domain.booking import Booking, BookingDetails, BookingStatus
from domain.errors import InvalidArgumentError


class HandleAppointmentEvent:
    """Rules: one booking per (integration, GHL appointment id); created and updated events
    both upsert (GHL's own examples label updates and deletes ``AppointmentCreate``); a change
    older than the booking's (``dateUpdated``, else the event's ``timestamp``) is ignored; a
    delete cancels the booking for good, and one that arrives before the create leaves a
    cancelled booking. The booking links to the contact's lead when the service has it. A
    payload without an id, calendar, contact or start time is ignored."""

    def __init__(self, *, ids: IdGenerator, clock: Clock) -> None:
        self._ids = ids
        self._clock = clock

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        appointment = ghl_webhooks.appointment(event.payload)
        if appointment is None:
            return HandlerOutcome.IGNORED
        details = _details(appointment)
        now = self._clock.now()
        booking = await uow.bookings.get_by_external_id(event.integration_id, appointment.id)
        deleting = event.kind is EventKind.APPOINTMENT_DELETED
        if booking is not None and deleting:
            if not booking.delete(now=now):
                return HandlerOutcome.IGNORED
            await uow.bookings.update(booking)
            return HandlerOutcome.APPLIED
        if details is None:
            return HandlerOutcome.IGNORED
        lead = await uow.leads.get_by_external_id(event.integration_id, details.contact_external_id)
        status = ghl_webhooks.booking_status(appointment.status)
        changed_at = (
            appointment.date_updated
            or ghl_webhooks.sent_at(event.payload)
            or (appointment.date_added if event.kind is EventKind.APPOINTMENT_CREATED else None)
        )
        if booking is None:
            booking = Booking.create(
                id=self._ids.new_id(),
                sub_account_id=event.sub_account_id,
                integration_id=event.integration_id,
                external_id=appointment.id,
                details=details,
                status=status or BookingStatus.BOOKED,
                lead_id=lead.id if lead else None,
                external_updated_at=changed_at,
                now=now,
            )
            if deleting:
                booking.delete(now=now)
            await uow.bookings.add(booking)
            return HandlerOutcome.APPLIED
        if not booking.sync(
            details=details,
            status=status,
            lead_id=lead.id if lead else None,
            external_updated_at=changed_at,
            now=now,
        ):
            return HandlerOutcome.IGNORED
        await uow.bookings.update(booking)
        return HandlerOutcome.APPLIED


def _details(appointment: GhlAppointment) -> BookingDetails | None:
    if appointment.start is None:
        return None
    try:
        return BookingDetails(
            calendar_id=appointment.calendar_id,
            contact_external_id=appointment.contact_id,
            start=appointment.start,
            end=appointment.end or appointment.start,
            title=appointment.title,
            assigned_user_id=appointment.assigned_user_id,
            address=appointment.address,
        )
    except InvalidArgumentError:
        return None

"""CreateBooking: a platform service books a lead here; the appointment (or a block of the
calendar's time) is pushed to the CRM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.dto import BookingView
from application.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from application.record_access import writable_integration
from application.sync_records import (
    ChangeOperation,
    LocalChange,
    RecordKind,
    appointment_match_key,
    block_match_key,
    booking_values,
)
from domain.booking import Booking, BookingDetails, BookingStatus
from domain.errors import FieldViolation, InvalidArgumentError, NotFoundError
from domain.lead import Lead, provisional_external_id
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateBookingCommand:
    actor: Principal
    integration_id: str
    lead_id: str
    start: datetime
    end: datetime
    calendar_id: str | None = None
    """None: the integration's configured ``calendarId``."""
    title: str | None = None
    address: str | None = None
    assigned_user_id: str | None = None
    block_slot: bool = False
    """Block the calendar's time instead of booking an appointment in it."""
    ignore_free_slot_validation: bool = False
    request_id: str | None = None


class CreateBooking:
    """Rules: admins and services only, on an operational integration they can see; the lead
    must be the integration's and not deleted (one created here and not pushed yet is fine:
    its contact goes first; one merged into another lead books that lead); the calendar is the one given, else the integration's configured
    one; start and end carry a timezone and end after start. The booking is written here with a
    provisional external id and a pending appointment create (or block slot), which
    PushPendingChanges delivers; a request id already used answers the booking it created."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    async def execute(self, cmd: CreateBookingCommand) -> BookingView:
        async with self._uow() as uow:
            integration = await writable_integration(
                uow, cmd.actor, cmd.integration_id, "creating a booking"
            )
            if cmd.request_id:
                earlier = await uow.sync.find_change_by_request_id(integration.id, cmd.request_id)
                if earlier is not None:
                    found = await uow.bookings.get(earlier.record_id)
                    if found is None:
                        raise NotFoundError("booking", earlier.record_id)
                    return BookingView.of(found)
            lead = await uow.leads.get(cmd.lead_id)
            if lead is None or lead.integration_id != integration.id:
                raise NotFoundError("lead", cmd.lead_id)
            if lead.merged_into_id is not None:
                lead = await _survivor(uow, lead.merged_into_id)
            if lead.deleted:
                raise InvalidArgumentError(
                    "the lead was deleted", (FieldViolation("lead", "was deleted"),)
                )
            configured = integration.config.get("calendarId")
            calendar_id = cmd.calendar_id or (configured if isinstance(configured, str) else None)
            if not calendar_id:
                raise InvalidArgumentError(
                    "no calendar to book in",
                    (FieldViolation("calendar_id", "is required: the integration has none"),),
                )
            if cmd.start.tzinfo is not None and cmd.end.tzinfo is not None and cmd.end <= cmd.start:
                raise InvalidArgumentError(
                    "a booking must end after it starts",
                    (FieldViolation("end", "must be after start"),),
                )
            booking_id = self._ids.new_id()
            now = self._clock.now()
            details = BookingDetails(
                calendar_id=calendar_id,
                contact_external_id=lead.external_id,
                start=cmd.start,
                end=cmd.end,
                title=cmd.title,
                assigned_user_id=cmd.assigned_user_id,
                address=cmd.address,
            )
            booking = Booking.create(
                id=booking_id,
                sub_account_id=integration.sub_account_id,
                integration_id=integration.id,
                external_id=provisional_external_id(booking_id),
                details=details,
                status=BookingStatus.BOOKED,
                lead_id=lead.id,
                now=now,
            )
            await uow.bookings.add(booking)
            key: str | None
            if cmd.block_slot:
                operation = ChangeOperation.CREATE_BLOCK_SLOT
                key = block_match_key(calendar_id, cmd.start, cmd.end)
            else:
                operation = ChangeOperation.CREATE_APPOINTMENT
                key = (
                    appointment_match_key(calendar_id, lead.external_id, cmd.start)
                    if lead.on_provider
                    else None  # known once the lead's contact is at the CRM
                )
            fields = booking_values(booking)
            if cmd.ignore_free_slot_validation:
                fields["ignore_free_slot_validation"] = True
            await uow.sync.add_change(
                LocalChange.new(
                    id=self._ids.new_id(),
                    integration_id=integration.id,
                    sub_account_id=integration.sub_account_id,
                    record_kind=RecordKind.BOOKING,
                    record_id=booking.id,
                    operation=operation,
                    fields=fields,
                    base={},
                    now=now,
                    match_key=key,
                    request_id=cmd.request_id or None,
                )
            )
            await uow.commit()
        return BookingView.of(booking)


async def _survivor(uow: UnitOfWork, lead_id: str) -> Lead:
    """The lead a merged one was merged into (one that mirrors its contact at the provider,
    so never merged in turn)."""
    survivor = await uow.leads.get(lead_id)
    if survivor is None:
        raise NotFoundError("lead", lead_id)
    return survivor

"""Creating, updating or cancelling a booking from what the CRM says about an appointment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.crm_values import appointment_values
from application.ports import Clock, IdGenerator, UnitOfWork
from application.ports.crm import CrmAppointment, CrmReader
from application.reconcile import reconcile
from application.sync_records import (
    ChangeOperation,
    RecordKind,
    appointment_match_key,
    booking_values,
    fingerprint,
)
from domain.booking import Booking, BookingDetails, BookingStatus
from domain.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class AppointmentApplied:
    """What applying an appointment did to its booking (None: the appointment was unusable)."""

    booking: Booking | None
    written: bool
    created: bool = False
    changed: bool = False
    """Created, or its details or status changed (not only the provider's update time)."""
    echo: bool = False
    conflicts: int = 0


@dataclass(frozen=True, slots=True)
class BookingSync:
    """Upserts bookings by (integration, CRM appointment id).

    An older change than the booking's never overwrites it; a delete cancels the booking for
    good, and one that arrives before the create leaves a cancelled booking. The booking links
    to the contact's lead when the service has it. An appointment unknown by id may be one this
    service booked and has not recorded the id of yet (same calendar, contact and start): that
    booking takes the id. The echo of this service's own write changes nothing, and a pending
    cancellation is merged with the provider's status (application.reconcile)."""

    ids: IdGenerator
    clock: Clock
    reader: CrmReader

    async def apply(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        sub_account_id: str,
        appointment: CrmAppointment,
        changed_at: datetime | None,
        deleting: bool = False,
    ) -> AppointmentApplied:
        details = appointment_details(appointment)
        now = self.clock.now()
        booking = await uow.bookings.get_by_external_id(integration_id, appointment.id)
        if booking is not None and deleting:
            deleted = await self._delete(uow, booking)
            return AppointmentApplied(booking, written=deleted, changed=deleted)
        if details is None:
            return AppointmentApplied(booking, written=False)
        if booking is None:
            booking = await self._claim_local(uow, integration_id, details, appointment.id, now)
        lead = await uow.leads.get_by_external_id(integration_id, details.contact_external_id)
        status = self.reader.booking_status(appointment.status)
        if booking is None:
            booking = Booking.create(
                id=self.ids.new_id(),
                sub_account_id=sub_account_id,
                integration_id=integration_id,
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
            return AppointmentApplied(booking, written=True, created=True, changed=True)
        values = appointment_values(appointment, status)
        if values == booking_values(booking) and await uow.sync.take_own_write(
            integration_id, RecordKind.BOOKING, appointment.id, fingerprint(values), now=now
        ):
            return AppointmentApplied(booking, written=False, echo=True)
        conflicts = 0
        if status is not None and not booking.deleted and not booking.is_older(changed_at):
            pending = [
                c
                for c in await uow.sync.changes_of(RecordKind.BOOKING, booking.id)
                if c.operation is ChangeOperation.CANCEL_APPOINTMENT
            ]
            if pending:
                merged = await reconcile(
                    uow,
                    self.ids,
                    record_kind=RecordKind.BOOKING,
                    record_id=booking.id,
                    external_id=appointment.id,
                    integration_id=integration_id,
                    sub_account_id=booking.sub_account_id,
                    local=booking_values(booking),
                    remote=values,
                    remote_changed_at=changed_at,
                    changes=pending,
                    now=now,
                )
                status = BookingStatus(merged.values["status"])
                conflicts = len(merged.conflicts)
        before = (booking.details, booking.status, booking.lead_id)
        written = booking.sync(
            details=details,
            status=status,
            lead_id=lead.id if lead else None,
            external_updated_at=changed_at,
            now=now,
        )
        if written:
            await uow.bookings.update(booking)
        changed = written and before != (booking.details, booking.status, booking.lead_id)
        return AppointmentApplied(booking, written=written, changed=changed, conflicts=conflicts)

    async def _delete(self, uow: UnitOfWork, booking: Booking) -> bool:
        if not booking.delete(now=self.clock.now()):
            return False
        await uow.bookings.update(booking)
        return True

    async def _claim_local(
        self,
        uow: UnitOfWork,
        integration_id: str,
        details: BookingDetails,
        external_id: str,
        now: datetime,
    ) -> Booking | None:
        key = appointment_match_key(details.calendar_id, details.contact_external_id, details.start)
        change = await uow.sync.find_pending_create(integration_id, RecordKind.BOOKING, (key,))
        if change is None or change.operation is not ChangeOperation.CREATE_APPOINTMENT:
            return None
        booking = await uow.bookings.get(change.record_id)
        if booking is None or booking.on_provider:
            return None
        booking.link(
            external_id,
            contact_external_id=details.contact_external_id,
            external_updated_at=None,
            now=now,
        )
        await uow.bookings.update(booking)
        change.done(now=now, external_id=external_id)
        await uow.sync.update_change(change)
        return booking


def appointment_details(appointment: CrmAppointment) -> BookingDetails | None:
    """The booking details of an appointment; None when it lacks a calendar, contact or start."""
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

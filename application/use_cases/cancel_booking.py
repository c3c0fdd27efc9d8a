"""CancelBooking: a platform service cancels a booking here; the cancellation is pushed to the CRM."""

from __future__ import annotations

from dataclasses import dataclass

from application.dto import BookingView
from application.ports import Clock, IdGenerator, UnitOfWorkFactory
from application.record_access import writable_integration
from application.sync_records import ChangeOperation, LocalChange, RecordKind
from domain.booking import BookingStatus
from domain.errors import ConcurrencyError, NotFoundError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelBookingCommand:
    actor: Principal
    integration_id: str
    booking_id: str
    expected_version: int | None = None


class CancelBooking:
    """Rules: admins and services only, on an operational integration they can see;
    `expected_version` (the etag) must match, else ABORTED; a booking already cancelled is
    answered as it is. A booking whose create never reached the CRM is simply not created there;
    otherwise the appointment is cancelled at the CRM (its status), or the block slot deleted,
    through a pending change that PushPendingChanges delivers (merged with a status change at
    the CRM: the newer wins)."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    async def execute(self, cmd: CancelBookingCommand) -> BookingView:
        async with self._uow() as uow:
            integration = await writable_integration(
                uow, cmd.actor, cmd.integration_id, "cancelling a booking"
            )
            booking = await uow.bookings.get(cmd.booking_id)
            if booking is None or booking.integration_id != integration.id:
                raise NotFoundError("booking", cmd.booking_id)
            if cmd.expected_version is not None and cmd.expected_version != booking.version:
                raise ConcurrencyError(
                    f"booking {booking.id!r} changed since it was read",
                    metadata={"resource": "booking", "id": booking.id},
                )
            previous = str(booking.status)
            now = self._clock.now()
            if not booking.cancel(now=now):
                return BookingView.of(booking)
            await uow.bookings.update(booking)
            history = await uow.sync.changes_of(RecordKind.BOOKING, booking.id, pending_only=False)
            create = next((c for c in history if c.operation.creates), None)
            if create is not None and create.pending and not create.uncertain:
                create.supersede(now=now)  # it never reached the CRM: nothing to undo there
                await uow.sync.update_change(create)
            else:
                blocked = create is not None and (
                    create.operation is ChangeOperation.CREATE_BLOCK_SLOT
                )
                await uow.sync.add_change(
                    LocalChange.new(
                        id=self._ids.new_id(),
                        integration_id=integration.id,
                        sub_account_id=integration.sub_account_id,
                        record_kind=RecordKind.BOOKING,
                        record_id=booking.id,
                        operation=(
                            ChangeOperation.DELETE_BLOCK_SLOT
                            if blocked
                            else ChangeOperation.CANCEL_APPOINTMENT
                        ),
                        fields={"status": str(BookingStatus.CANCELLED)},
                        base={"status": previous},
                        now=now,
                    )
                )
            await uow.commit()
        return BookingView.of(booking)

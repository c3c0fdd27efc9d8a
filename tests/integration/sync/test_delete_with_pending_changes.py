"""DeleteIntegration right after a change was accepted (CancelBooking): the change reaches the
fake GHL before the integration goes, or the delete is refused and says why."""

from __future__ import annotations

import pytest

from adapters.ghl.fake.faults import ScriptedFault
from application.sync_records import RecordKind
from application.use_cases.cancel_booking import CancelBookingCommand
from application.use_cases.delete_integration import DeleteIntegration, DeleteIntegrationCommand
from domain.errors import ChangesPendingError
from domain.values import Principal, Role
from tests.integration.sync.support import SyncStack
from tests.integration.sync.test_push import appointments_at_ghl, book, create_lead

ADMIN = Principal("admin-1", Role.ADMIN)


def delete_use_case(stack: SyncStack) -> DeleteIntegration:
    return DeleteIntegration(uow=stack.uow, clock=stack.clock, pending=stack.push)


async def booked_and_cancelled(stack: SyncStack) -> str:
    """A booking pushed to GHL, then cancelled here: the cancellation waits for the push."""
    booking_id = await book(stack, await create_lead(stack))
    await stack.run()
    [appointment] = appointments_at_ghl(stack)
    assert appointment["appointmentStatus"] != "cancelled"
    await stack.cancel_booking.execute(
        CancelBookingCommand(
            actor=ADMIN, integration_id=stack.integration.id, booking_id=booking_id
        )
    )
    return booking_id


async def integration_exists(stack: SyncStack) -> bool:
    async with stack.uow() as uow:
        return await uow.integrations.get(stack.integration.id) is not None


async def test_a_cancellation_accepted_before_a_delete_reaches_ghl_first(
    stack: SyncStack,
) -> None:
    await booked_and_cancelled(stack)

    await delete_use_case(stack).execute(
        DeleteIntegrationCommand(actor=ADMIN, integration_id=stack.integration.id)
    )

    assert appointments_at_ghl(stack)[0]["appointmentStatus"] == "cancelled"
    assert not await integration_exists(stack)


async def test_a_delete_is_refused_while_accepted_changes_cannot_reach_ghl_unless_forced(
    stack: SyncStack,
) -> None:
    booking_id = await booked_and_cancelled(stack)
    stack.fake.inject(
        ScriptedFault(kind="status", status=503, count=1_000, path_prefix="/calendars/events")
    )
    delete = delete_use_case(stack)

    with pytest.raises(ChangesPendingError) as refused:
        await delete.execute(
            DeleteIntegrationCommand(actor=ADMIN, integration_id=stack.integration.id)
        )

    assert refused.value.metadata["pending_records"] == "1"
    assert "GoHighLevel answered HTTP 503" in refused.value.message
    assert await integration_exists(stack)
    async with stack.uow() as uow:
        pending = await uow.sync.pending_record_ids(stack.integration.id, RecordKind.BOOKING)
    assert pending == {booking_id}

    await delete.execute(
        DeleteIntegrationCommand(actor=ADMIN, integration_id=stack.integration.id, force=True)
    )
    assert not await integration_exists(stack)

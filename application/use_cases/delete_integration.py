"""DeleteIntegration: an admin removes an integration and its secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from application.access import require_admin, visible_integration
from application.ports import Clock, UnitOfWork, UnitOfWorkFactory
from application.sync_records import RecordKind
from domain.errors import ChangesPendingError, ConcurrencyError
from domain.values import Principal


class PendingChanges(Protocol):
    """The leads and bookings changed here and not yet at the integration's provider."""

    async def deliver_now(self, integration_id: str) -> str | None:
        """Push them all now; returns why some are left pending, or None when none are."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteIntegrationCommand:
    actor: Principal
    integration_id: str
    expected_version: int | None = None
    force: bool = False
    """Delete even though changes accepted earlier have not reached the provider: they are
    dropped."""


class DeleteIntegration:
    """Rules: admins only; `expected_version` (the etag) must match, else ABORTED. Work
    accepted before the delete is not dropped silently: the changes made here and not yet at
    the provider (a cancelled booking, a new lead...) are pushed first, and should any be left
    (the provider unreachable, rate limiting or refusing; the integration not connected), the
    delete is refused with CHANGES_PENDING and the reason, unless `force` drops them. The row
    and its ciphertexts go; an IntegrationDeleted event stays."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, pending: PendingChanges) -> None:
        self._uow = uow
        self._clock = clock
        self._pending = pending

    async def execute(self, cmd: DeleteIntegrationCommand) -> None:
        require_admin(cmd.actor, "deleting an integration")
        async with self._uow() as uow:
            integration = visible_integration(
                cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
            )
            if cmd.expected_version is not None and cmd.expected_version != integration.version:
                raise ConcurrencyError("the integration changed since it was read")
        left_because = None if cmd.force else await self._pending.deliver_now(integration.id)
        async with self._uow() as uow:
            integration = visible_integration(
                cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
            )
            if not cmd.force:
                await _refuse_if_pending(uow, integration.id, left_because)
            integration.mark_deleted(now=self._clock.now())
            await uow.integrations.delete(integration)
            await uow.commit()


async def _refuse_if_pending(uow: UnitOfWork, integration_id: str, reason: str | None) -> None:
    """Checked in the deleting transaction, so that a change accepted after the push counts."""
    records = sum(
        [len(await uow.sync.pending_record_ids(integration_id, kind)) for kind in RecordKind]
    )
    if records:
        raise ChangesPendingError(
            f"{records} lead(s) or booking(s) changed here have not reached the provider yet"
            f" ({reason or 'changed while the integration was being deleted'}): retry later,"
            " or delete with force to drop those changes",
            metadata={"pending_records": str(records)},
        )

"""DeleteIntegration: an admin removes an integration and its secrets."""

from __future__ import annotations

from dataclasses import dataclass

from application.access import require_admin, visible_integration
from application.ports import Clock, UnitOfWorkFactory
from domain.errors import ConcurrencyError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteIntegrationCommand:
    actor: Principal
    integration_id: str
    expected_version: int | None = None


class DeleteIntegration:
    """Rules: admins only; the row and its ciphertexts go; an IntegrationDeleted event stays."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, cmd: DeleteIntegrationCommand) -> None:
        require_admin(cmd.actor, "deleting an integration")
        async with self._uow() as uow:
            integration = visible_integration(
                cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
            )
            if cmd.expected_version is not None and cmd.expected_version != integration.version:
                raise ConcurrencyError("the integration changed since it was read")
            integration.mark_deleted(now=self._clock.now())
            await uow.integrations.delete(integration)
            await uow.commit()

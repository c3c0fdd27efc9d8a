"""DeactivateIntegration and ReactivateIntegration: the admin's on/off switch."""

from __future__ import annotations

from dataclasses import dataclass

from application.access import require_admin, visible_integration
from application.connection import ConnectionTester
from application.dto import IntegrationView
from application.ports import Clock, ConnectionTestResult, UnitOfWorkFactory
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class SwitchIntegrationCommand:
    actor: Principal
    integration_id: str


@dataclass(frozen=True, slots=True)
class SwitchIntegrationResult:
    integration: IntegrationView
    test: ConnectionTestResult | None


class DeactivateIntegration:
    """Rules: admins only; the integration becomes disconnected and stays so until reactivated;
    idempotent."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, cmd: SwitchIntegrationCommand) -> SwitchIntegrationResult:
        require_admin(cmd.actor, "deactivating an integration")
        async with self._uow() as uow:
            integration = visible_integration(
                cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
            )
            integration.deactivate(now=self._clock.now())
            await uow.integrations.update(integration)
            await uow.commit()
        return SwitchIntegrationResult(IntegrationView.of(integration), None)


class ReactivateIntegration:
    """Rules: admins only; a disconnected integration returns to pending and is tested at once,
    ending active or error; idempotent for one that is already on."""

    def __init__(self, *, uow: UnitOfWorkFactory, tester: ConnectionTester, clock: Clock) -> None:
        self._uow = uow
        self._tester = tester
        self._clock = clock

    async def execute(self, cmd: SwitchIntegrationCommand) -> SwitchIntegrationResult:
        require_admin(cmd.actor, "reactivating an integration")
        async with self._uow() as uow:
            integration = visible_integration(
                cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
            )
            integration.reactivate(now=self._clock.now())
            await uow.integrations.update(integration)
            await uow.commit()
        if not integration.needs_test:
            return SwitchIntegrationResult(IntegrationView.of(integration), None)
        integration, test = await self._tester.test_and_record(integration.id)
        return SwitchIntegrationResult(IntegrationView.of(integration), test)

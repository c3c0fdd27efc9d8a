"""Testing an integration's connection and recording what the test found."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports import (
    Cipher,
    Clock,
    ConnectionTestResult,
    ProviderRegistry,
    UnitOfWorkFactory,
)
from application.provider_context import provider_context
from domain.errors import ConcurrencyError, ErrorCode, NotFoundError
from domain.integration import Integration, IntegrationStatus
from domain.template import IntegrationTemplate

_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ConnectionTester:
    """Runs a provider's connection test outside any transaction, then applies the result to
    the integration's status in a fresh one (retrying if the integration changed meanwhile).
    A successful test makes the integration the owner of the provider accounts it proved (whose
    webhooks it then receives); refused credentials make it the owner of none."""

    uow_factory: UnitOfWorkFactory
    providers: ProviderRegistry
    cipher: Cipher
    clock: Clock

    async def test(
        self, integration: Integration, template: IntegrationTemplate | None
    ) -> ConnectionTestResult:
        provider = self.providers.get(integration.template_name)
        if provider is None:
            return ConnectionTestResult(
                success=False,
                message=f"the {integration.template_name} provider is not supported yet",
                error_code=ErrorCode.PROVIDER_NOT_SUPPORTED,
            )
        return await provider.test_connection(
            await provider_context(self.cipher, integration, template)
        )

    async def test_and_record(
        self, integration_id: str
    ) -> tuple[Integration, ConnectionTestResult]:
        async with self.uow_factory() as uow:
            integration = await uow.integrations.get(integration_id)
            if integration is None:
                raise NotFoundError("integration", integration_id)
            template = await uow.templates.get(integration.template_id)
        result = await self.test(integration, template)
        return await self.record(integration_id, result), result

    async def record(self, integration_id: str, result: ConnectionTestResult) -> Integration:
        for _ in range(_MAX_ATTEMPTS):
            async with self.uow_factory() as uow:
                integration = await uow.integrations.get(integration_id)
                if integration is None:
                    raise NotFoundError("integration", integration_id)
                if not _status_follows_tests(integration):
                    return integration
                now = self.clock.now()
                if result.success:
                    integration.activate(now=now)
                    await uow.integrations.set_accounts(integration_id, result.accounts)
                else:
                    integration.fail(
                        code=result.error_code or ErrorCode.CONNECTION_FAILED,
                        message=result.message,
                        now=now,
                    )
                    if result.error_code is ErrorCode.INVALID_CREDENTIALS:
                        # Credentials that no longer work prove no account.
                        await uow.integrations.set_accounts(integration_id, frozenset())
                try:
                    await uow.integrations.update(integration)
                    await uow.commit()
                except ConcurrencyError:
                    continue
                return integration
        raise ConcurrencyError("integration kept changing while its test result was recorded")


def _status_follows_tests(integration: Integration) -> bool:
    """A test result moves the status only of an integration that is switched on and connected;
    a disconnected one is reactivated by a person, not by a test."""
    return integration.is_active and integration.status is not IntegrationStatus.DISCONNECTED

"""Testing an integration's connection and recording what the test found."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from application.ports import (
    Cipher,
    Clock,
    ConnectionTestResult,
    ProviderRegistry,
    UnitOfWorkFactory,
)
from application.provider_context import provider_context
from domain.errors import ConcurrencyError, ErrorCode, InvalidCredentialsError, NotFoundError
from domain.integration import Integration, IntegrationStatus
from domain.template import IntegrationTemplate

_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class ConnectionTester:
    """Runs a provider's connection test outside any transaction, then applies the result to
    the integration's status in a fresh one (retrying if the integration changed meanwhile).
    A successful test makes the integration the owner of the provider accounts it proved (whose
    webhooks it then receives); refused credentials make it the owner of none.
    A result is not applied over one recorded by a test that began after it: of tests run at
    the same time (by several callers, or copies of the service), the status follows one."""

    uow_factory: UnitOfWorkFactory
    providers: ProviderRegistry
    cipher: Cipher
    clock: Clock
    _flights: dict[str, asyncio.Future[tuple[Integration, ConnectionTestResult]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

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
        self, integration_id: str, *, record_inconclusive: bool = True
    ) -> tuple[Integration, ConnectionTestResult]:
        """Test the integration and apply the result; one that concludes nothing (the provider
        rate limits it) leaves the status alone unless `record_inconclusive`."""
        began_at = self.clock.now()
        async with self.uow_factory() as uow:
            integration = await uow.integrations.get(integration_id)
            if integration is None:
                raise NotFoundError("integration", integration_id)
            template = await uow.templates.get(integration.template_id)
        result = await self.test(integration, template)
        if not result.conclusive and not record_inconclusive:
            return integration, result
        return await self.record(integration_id, result, began_at=began_at), result

    async def test_now(self, integration_id: str) -> tuple[Integration, ConnectionTestResult]:
        """`test_and_record` for a caller waiting on the answer: concurrent calls for one
        integration share one test (the provider is asked once), and a result that concludes
        nothing leaves the status alone."""
        flight = self._flights.get(integration_id)
        if flight is None:
            flight = asyncio.ensure_future(
                self.test_and_record(integration_id, record_inconclusive=False)
            )
            self._flights[integration_id] = flight

            def landed(done: asyncio.Future[tuple[Integration, ConnectionTestResult]]) -> None:
                if self._flights.get(integration_id) is done:
                    del self._flights[integration_id]
                if not done.cancelled():
                    done.exception()  # seen here, should every caller have gone

            flight.add_done_callback(landed)
        # One caller giving up (cancelled) does not cancel the test the others wait for.
        return await asyncio.shield(flight)

    async def credentials_refused(self, integration_id: str, err: InvalidCredentialsError) -> None:
        """The provider refused the integration's credentials outside a test (a call for a
        webhook, a funnel event, a calendar): recorded as a failed test, so the integration goes
        to error and owns no account until its credentials work again."""
        await self.record(
            integration_id,
            ConnectionTestResult(success=False, message=err.message, error_code=err.code),
        )

    async def record(
        self,
        integration_id: str,
        result: ConnectionTestResult,
        *,
        began_at: datetime | None = None,
    ) -> Integration:
        """Apply a test result, unless a test that began after `began_at` (when the test that
        found it began) was recorded meanwhile."""
        for _ in range(_MAX_ATTEMPTS):
            async with self.uow_factory() as uow:
                integration = await uow.integrations.get(integration_id)
                if integration is None:
                    raise NotFoundError("integration", integration_id)
                if not _status_follows_tests(integration) or _newer_test_recorded(
                    integration, began_at
                ):
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


def _newer_test_recorded(integration: Integration, began_at: datetime | None) -> bool:
    return (
        began_at is not None
        and integration.last_tested_at is not None
        and integration.last_tested_at > began_at
    )


def _status_follows_tests(integration: Integration) -> bool:
    """A test result moves the status only of an integration that is switched on and connected;
    a disconnected one is reactivated by a person, not by a test."""
    return integration.is_active and integration.status is not IntegrationStatus.DISCONNECTED

"""TestIntegration: check an integration's connection on demand."""

from __future__ import annotations

from dataclasses import dataclass

from application.access import visible_integration
from application.connection import ConnectionTester
from application.dto import IntegrationView
from application.ports import ConnectionTestResult, UnitOfWorkFactory
from domain.errors import RateLimitExceededError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class TestIntegrationCommand:
    __test__ = False  # not a pytest test class

    actor: Principal
    integration_id: str


@dataclass(frozen=True, slots=True)
class TestIntegrationResult:
    __test__ = False

    integration: IntegrationView
    test: ConnectionTestResult


class TestIntegration:
    """Rules: anyone who can see the integration may test it; the result moves the status of a
    switched-on, connected integration (pending/error → active, pending/active → error); a
    disconnected one is tested but keeps its status. Tests of one integration at the same time
    share one provider call. A test the provider would not answer (rate limited) concludes
    nothing: the status stays as it is and RateLimitExceededError says when to try again."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, uow: UnitOfWorkFactory, tester: ConnectionTester) -> None:
        self._uow = uow
        self._tester = tester

    async def execute(self, cmd: TestIntegrationCommand) -> TestIntegrationResult:
        async with self._uow() as uow:
            visible_integration(
                cmd.actor, await uow.integrations.get(cmd.integration_id), cmd.integration_id
            )
        integration, result = await self._tester.test_now(cmd.integration_id)
        if not result.conclusive:
            raise RateLimitExceededError(
                f"the connection test could not conclude: {result.message}",
                retry_after_seconds=result.retry_after_seconds or 0.0,
            )
        return TestIntegrationResult(IntegrationView.of(integration), result)

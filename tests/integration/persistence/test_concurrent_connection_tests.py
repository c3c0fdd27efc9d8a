"""Many TestIntegration calls on one integration at once, from three copies of the service on
one database, while GHL throttles most of them: none is refused for the concurrency, and the
status does not flap."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.clock import SystemClock
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.outbox import SqlAlchemyOutboxReader
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.connection import ConnectionTester
from application.ports import ConnectionTestResult, ProviderContext
from application.use_cases.run_connection_test import TestIntegration, TestIntegrationCommand
from domain.errors import ErrorCode, RateLimitExceededError
from domain.integration import IntegrationStatus
from domain.values import Principal, Role
from tests.fakes import FakeCipher, FakeProviderRegistry
from tests.support.builders import a_template, an_integration

ADMIN = Principal("admin-1", Role.ADMIN)
CALLS_PER_COPY = 40

CONNECTED = ConnectionTestResult(success=True, message="connected")
THROTTLED = ConnectionTestResult(
    success=False,
    message="GoHighLevel's rate limit was reached",
    error_code=ErrorCode.RATE_LIMIT_EXCEEDED,
    retry_after_seconds=3.0,
)


class OverlappingProvider:
    """Answers after the event loop went round a few times, so that the copies' tests overlap."""

    def __init__(self, result: ConnectionTestResult) -> None:
        self.result = result

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        for _ in range(5):
            await asyncio.sleep(0)
        return self.result


async def test_concurrent_tests_across_copies_are_never_aborted_and_do_not_flap(
    engine: AsyncEngine, database_url: str
) -> None:
    template = a_template()
    integration = an_integration(template, secrets={})
    integration.activate(now=SystemClock().now())
    setup = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine))
    async with setup() as uow:
        await uow.templates.add(template)
        await uow.integrations.add(integration)
        await uow.commit()
    after = (
        await SqlAlchemyOutboxReader(create_session_factory(engine)).read(
            after_sequence=0, limit=1000
        )
    )[-1].sequence

    engines = [create_engine(database_url) for _ in range(3)]
    try:
        copies = [
            TestIntegration(
                uow=SqlAlchemyUnitOfWorkFactory(create_session_factory(e)),
                tester=ConnectionTester(
                    uow_factory=SqlAlchemyUnitOfWorkFactory(create_session_factory(e)),
                    providers=FakeProviderRegistry(
                        {template.name: OverlappingProvider(CONNECTED if n == 0 else THROTTLED)}
                    ),
                    cipher=FakeCipher(),
                    clock=SystemClock(),
                ),
            )
            for n, e in enumerate(engines)
        ]
        answers = await asyncio.gather(
            *(
                copy.execute(TestIntegrationCommand(actor=ADMIN, integration_id=integration.id))
                for copy in copies
                for _ in range(CALLS_PER_COPY)
            ),
            return_exceptions=True,
        )
    finally:
        for e in engines:
            await e.dispose()

    unexpected = [
        a
        for a in answers
        if isinstance(a, BaseException) and not isinstance(a, RateLimitExceededError)
    ]
    assert unexpected == []
    async with setup() as uow:
        stored = await uow.integrations.get(integration.id)
    assert stored is not None
    assert (stored.status, stored.error_code) == (IntegrationStatus.ACTIVE, None)
    events = await SqlAlchemyOutboxReader(create_session_factory(engine)).read(
        after_sequence=after, limit=1000
    )
    assert [e.event_type for e in events if e.event_type.startswith("Integration")] == []

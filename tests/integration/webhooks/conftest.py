"""The webhook inbox on SQLite and PostgreSQL: one migrated database of each per session, emptied
before each test; integrations added through the real repositories; the real aiohttp app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ghl.webhooks import GhlWebhooks, location_account
from adapters.ids import Uuid7Generator
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.persistence.webhook_inbox import (
    SqlAlchemyInboxWriter,
    SqlAlchemyPlatformDeliveries,
    SqlAlchemyWebhookTargets,
)
from application.ports import NewDelivery, SecretBinding, SignatureScheme
from application.webhooks import ReceiveWebhook
from domain.integration import Integration
from domain.template import IntegrationTemplate
from domain.values import SecretStr
from domain.webhook_delivery import DeliveryStatus, EventKind
from entrypoints.webhooks.app import create_webhook_app
from tests.fakes import FakeCipher, FixedClock
from tests.integration.webhooks.support import Signer
from tests.support.builders import a_template, an_integration
from tests.support.databases import clean_tables, migrated_database, opened_driver_pool

Client: TypeAlias = TestClient[web.Request, web.Application]
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("sqlite", tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("postgres", tmp_path_factory.getbasetemp()) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_database_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await clean_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def writer_pool(database_url: str) -> AsyncIterator[Any]:
    """The inbox writer's pool, as the service opens it (None on SQLite)."""
    async with opened_driver_pool(database_url, size=1) as pool:
        yield pool


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def cipher() -> FakeCipher:
    return FakeCipher()


@pytest.fixture
def uow_factory(engine: AsyncEngine, clock: FixedClock) -> SqlAlchemyUnitOfWorkFactory:
    return SqlAlchemyUnitOfWorkFactory(create_session_factory(engine), clock=clock)


@dataclass
class Integrations:
    """Adds integrations (of the built-in GHL template, or of `crm_x`, a Standard Webhooks
    sender) straight through the repositories."""

    uow: SqlAlchemyUnitOfWorkFactory
    cipher: FakeCipher
    clock: FixedClock
    templates: dict[str, IntegrationTemplate]

    async def add(
        self,
        location_id: str,
        *,
        sub_account_id: str = "sa-1",
        template: str = "gohighlevel",
        secret: str | None = None,
        active: bool = True,
        owner: bool = True,
        **config: Any,
    ) -> Integration:
        integration = an_integration(
            self.templates[template],
            sub_account_id=sub_account_id,
            now=self.clock.now(),
            config={"locationId": location_id, **config},
            secrets={},
        )
        if secret is not None:
            integration.secrets["webhookSecret"] = await self.cipher.encrypt(
                SecretBinding(sub_account_id, integration.id, "webhookSecret"), SecretStr(secret)
            )
        integration.activate(now=self.clock.now())
        if not active:
            integration.deactivate(now=self.clock.now())
        async with self.uow() as uow:
            await uow.integrations.add(integration)
            if owner:  # as a successful connection test would have recorded
                await uow.integrations.set_accounts(
                    integration.id, frozenset({location_account(location_id)})
                )
            await uow.commit()
        return integration


@pytest.fixture
async def integrations(
    uow_factory: SqlAlchemyUnitOfWorkFactory, cipher: FakeCipher, clock: FixedClock
) -> Integrations:
    templates = {name: a_template(name=name) for name in ("gohighlevel", "crm_x")}
    async with uow_factory() as uow:
        for template in templates.values():
            await uow.templates.add(template)
        await uow.commit()
    return Integrations(uow_factory, cipher, clock, templates)


def make_receiver(
    engine: AsyncEngine, pool: Any, signer: Signer, cipher: FakeCipher, clock: FixedClock
) -> ReceiveWebhook:
    """ReceiveWebhook as the service builds it; `pool`: the inbox writer's (None on SQLite)."""
    return ReceiveWebhook(
        sender=GhlWebhooks(),
        targets=SqlAlchemyWebhookTargets(engine, cache_seconds=0),
        verifier=signer.verifier(),
        inbox=SqlAlchemyInboxWriter(engine, pool),
        platform=SqlAlchemyPlatformDeliveries(engine),
        cipher=cipher,
        ids=Uuid7Generator(),
        clock=clock,
    )


@pytest.fixture
async def client(
    aiohttp_client: AiohttpClient,
    engine: AsyncEngine,
    writer_pool: Any,
    signer: Signer,
    cipher: FakeCipher,
    clock: FixedClock,
) -> Client:
    app = create_webhook_app(
        [make_receiver(engine, writer_pool, signer, cipher, clock)], retry_after_seconds=7
    )
    return await aiohttp_client(app)


@dataclass
class Deliveries:
    """Stores deliveries for one integration straight through the inbox writer."""

    writer: SqlAlchemyInboxWriter
    integration: Integration
    clock: FixedClock
    ids: Uuid7Generator

    async def add(
        self,
        kind: EventKind = EventKind.CONTACT_CREATED,
        *,
        delivery_id: str | None = None,
        event_type: str = "ContactCreate",
        status: DeliveryStatus = DeliveryStatus.PENDING,
    ) -> str:
        row_id = self.ids.new_id()
        await self.writer.store(
            NewDelivery(
                id=row_id,
                integration_id=self.integration.id,
                sub_account_id=self.integration.sub_account_id,
                delivery_id=delivery_id or f"wh-{row_id}",
                event_type=event_type,
                kind=kind,
                signature_scheme=SignatureScheme.PUBLISHED_ED25519,
                payload={"type": event_type, "locationId": "loc-1", "id": "c-1"},
                received_at=self.clock.now(),
                status=status,
            )
        )
        return row_id


@pytest.fixture
async def deliveries(
    engine: AsyncEngine, writer_pool: Any, integrations: Integrations, clock: FixedClock
) -> Deliveries:
    integration = await integrations.add("loc-1")
    return Deliveries(
        SqlAlchemyInboxWriter(engine, writer_pool), integration, clock, Uuid7Generator()
    )

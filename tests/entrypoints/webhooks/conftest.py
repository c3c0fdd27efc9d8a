"""The webhook app and WebhookService wired on the in-memory fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeAlias

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from adapters.ghl.webhooks import GhlWebhooks, location_account
from application.ports import NewDelivery, SecretBinding, SignatureScheme
from application.use_cases.webhook_deliveries import ListWebhookDeliveries, ReplayWebhookDelivery
from application.webhooks import ReceiveWebhook
from domain.integration import Integration
from domain.values import SecretStr
from domain.webhook_delivery import DeliveryStatus, EventKind
from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from entrypoints.grpc.webhook_servicer import WebhookUseCases
from entrypoints.webhooks.app import create_webhook_app
from integrations.v1 import webhook_service_pb2_grpc
from tests.entrypoints.grpc.conftest import (  # noqa: F401 - fixtures used by name
    JWT_SECRET,
    PAGE_TOKEN_KEY,
    calendars,
    use_cases,
)
from tests.fakes import (
    FakeCipher,
    FakeProvider,
    FakeUnitOfWorkFactory,
    FixedClock,
    InMemoryInboxWriter,
    InMemoryPlatformDeliveries,
    InMemoryWebhookTargets,
    SequentialIds,
)
from tests.integration.webhooks.support import Signer
from tests.support.builders import a_template, an_integration

Client: TypeAlias = TestClient[web.Request, web.Application]


@dataclass
class Inbox:
    """The fake store behind both the app and WebhookService, and ways to fill it."""

    uow: FakeUnitOfWorkFactory
    clock: FixedClock
    cipher: FakeCipher
    writer: InMemoryInboxWriter
    ids: SequentialIds

    async def integration(
        self,
        location_id: str = "loc-1",
        *,
        sub_account_id: str = "sub-acme",
        secret: str | None = None,
        active: bool = True,
    ) -> Integration:
        integration = an_integration(
            a_template(),
            sub_account_id=sub_account_id,
            config={"locationId": location_id},
            secrets={},
            now=self.clock.now(),
        )
        if secret is not None:
            integration.secrets["webhookSecret"] = await self.cipher.encrypt(
                SecretBinding(sub_account_id, integration.id, "webhookSecret"), SecretStr(secret)
            )
        integration.activate(now=self.clock.now())
        if not active:
            integration.deactivate(now=self.clock.now())
        integration.pull_events()
        self.uow.store.integrations[integration.id] = integration
        # As a successful connection test would have recorded.
        self.uow.store.accounts[integration.id] = frozenset({location_account(location_id)})
        return integration

    async def delivery(
        self,
        integration: Integration,
        *,
        kind: EventKind = EventKind.CONTACT_CREATED,
        event_type: str = "ContactCreate",
        status: DeliveryStatus = DeliveryStatus.PENDING,
    ) -> str:
        row_id = self.ids.new_id()
        self.clock.advance(seconds=1)
        await self.writer.store(
            NewDelivery(
                id=row_id,
                integration_id=integration.id,
                sub_account_id=integration.sub_account_id,
                delivery_id=f"wh-{row_id}",
                event_type=event_type,
                kind=kind,
                signature_scheme=SignatureScheme.PUBLISHED_ED25519,
                payload={"type": event_type, "id": "c-1"},
                received_at=self.clock.now(),
                status=status,
            )
        )
        return row_id


@pytest.fixture
def inbox() -> Inbox:
    uow = FakeUnitOfWorkFactory()
    return Inbox(uow, FixedClock(), FakeCipher(), InMemoryInboxWriter(uow), SequentialIds("wd"))


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


def make_receiver(inbox: Inbox, signer: Signer) -> ReceiveWebhook:
    return ReceiveWebhook(
        sender=GhlWebhooks(),
        targets=InMemoryWebhookTargets(inbox.uow),
        verifier=signer.verifier(),
        inbox=inbox.writer,
        platform=InMemoryPlatformDeliveries(),
        cipher=inbox.cipher,
        ids=inbox.ids,
        clock=inbox.clock,
        timestamp_tolerance=timedelta(minutes=5),
    )


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, inbox: Inbox, signer: Signer) -> Client:
    return await aiohttp_client(
        create_webhook_app([make_receiver(inbox, signer)], retry_after_seconds=30)
    )


@dataclass
class WebhookGrpc:
    stub: webhook_service_pb2_grpc.WebhookServiceAsyncStub
    channel: grpc.aio.Channel


@pytest.fixture
async def webhook_grpc(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider],  # noqa: F811
    inbox: Inbox,
) -> AsyncIterator[WebhookGrpc]:
    cases, _, _ = use_cases
    server, port = await start_server(
        cases,
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
        webhook_use_cases=WebhookUseCases(
            list_deliveries=ListWebhookDeliveries(uow=inbox.uow),
            replay_delivery=ReplayWebhookDelivery(uow=inbox.uow, clock=inbox.clock),
        ),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield WebhookGrpc(
                webhook_service_pb2_grpc.WebhookServiceStub(channel),
                channel,
            )
    finally:
        await stop_server(server, grace=None)

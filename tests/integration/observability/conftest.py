"""The service in-process, wired by the real container on SQLite or Postgres: its gRPC server
and webhook app on free loopback ports, calling a fake GHL on another."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from adapters.crypto.master_keys import generate_master_key
from adapters.crypto.signatures import hmac_signature
from adapters.ghl.client import GhlTimeouts, HttpGhlClient, RetryPolicy
from adapters.ghl.fake import FAKE_GHL, FakeGhl, create_app
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from adapters.persistence.engine import create_engine
from domain.values import Role, SecretStr
from entrypoints.auth import mint_token
from entrypoints.commands import resolve
from entrypoints.config import Settings
from entrypoints.container import Container
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.webhooks.app import create_webhook_app, start_webhook_server, stop_webhook_server
from integrations.v1 import (
    event_service_pb2_grpc,
    integration_pb2,
    integration_service_pb2,
    integration_service_pb2_grpc,
)
from tests.support.databases import clean_tables, migrated_database

JWT_SECRET = "observability-tests-jwt-secret-of-32-bytes-or-more"
WEBHOOK_SECRET = "whsec-observability-0123456789"
TENANT = "sub-acme"
OTHER_TENANT = "sub-globex"

Metadata = tuple[tuple[str, str], ...]


def bearer(role: Role, sub_account_id: str | None = None) -> Metadata:
    token = mint_token(
        JWT_SECRET,
        subject=f"{role}-subject",
        role=role,
        sub_account_id=sub_account_id,
        ttl=timedelta(minutes=5),
    )
    return (("authorization", f"Bearer {token}"),)


def admin_md() -> Metadata:
    return bearer(Role.ADMIN)


def user_md() -> Metadata:
    return bearer(Role.USER, TENANT)


def other_user_md() -> Metadata:
    return bearer(Role.USER, OTHER_TENANT)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("sqlite", tmp_path_factory.mktemp("observability")) as url:
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
async def fake_ghl() -> AsyncIterator[TestServer]:
    server = TestServer(create_app(random_seed=7), host="127.0.0.1", port=0)
    await server.start_server()
    yield server
    await server.close()


@dataclass
class Service:
    container: Container
    server: grpc.aio.Server
    channel: grpc.aio.Channel
    integrations: integration_service_pb2_grpc.IntegrationServiceAsyncStub
    events: event_service_pb2_grpc.EventServiceAsyncStub
    http: aiohttp.ClientSession
    webhook_url: str
    fake_url: str
    fake: FakeGhl

    async def create_ghl_integration(
        self, sub_account_id: str = TENANT, *, location_id: str = DEMO_LOCATION_ID
    ) -> integration_pb2.Integration:
        integration = integration_pb2.Integration(
            sub_account_id=sub_account_id,
            template="integrationTemplates/gohighlevel",
            display_name="Acme CRM",
        )
        integration.config.update(
            {
                "apiKey": DEMO_PRIVATE_TOKEN,
                "locationId": location_id,
                "webhookSecret": WEBHOOK_SECRET,
            }
        )
        response = await self.integrations.CreateIntegration(
            integration_service_pb2.CreateIntegrationRequest(integration=integration),
            metadata=admin_md(),
        )
        return response.integration

    async def post_webhook(
        self, event_type: str, payload: dict[str, Any], *, secret: str = WEBHOOK_SECRET
    ) -> int:
        body = json.dumps(payload).encode()
        headers = {
            "content-type": "application/json",
            "x-webhook-signature": hmac_signature(SecretStr(secret), body),
        }
        async with self.http.post(
            f"{self.webhook_url}/webhooks/ghl/{event_type}", data=body, headers=headers
        ) as response:
            return response.status

    async def set_faults(self, plan: dict[str, Any]) -> None:
        async with self.http.put(f"{self.fake_url}/_fake/faults", json=plan) as response:
            assert response.status == 200

    async def scrape(self) -> Scrape:
        async with self.http.get(f"{self.webhook_url}/metrics") as response:
            assert response.status == 200
            assert response.headers["content-type"].startswith("text/plain")
            return Scrape(await response.text())


class Scrape:
    """One /metrics answer, parsed by prometheus_client's own text parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def label_values(self) -> set[str]:
        return {value for _, labels in self.samples for _, value in labels}


FAST_RETRY = RetryPolicy(
    max_attempts=3, base_delay=0.01, max_delay=0.05, total_seconds=3.0, rate_limit_wait=1.0
)


@pytest.fixture
async def service(
    database_url: str, fake_ghl: TestServer, tmp_path: Path
) -> AsyncIterator[Service]:
    engine = create_engine(database_url)
    await clean_tables(engine)
    await engine.dispose()
    fake_url = str(fake_ghl.make_url("")).rstrip("/")
    settings = Settings(
        environment="test",
        database_url=database_url,
        master_keys=generate_master_key(),
        master_keys_file=None,
        jwt_secret=JWT_SECRET,
        jwt_jwks_file=None,
        jwt_issuer=None,
        jwt_audience=None,
        page_token_key=bytes(range(32)),
        ghl_api_base_url=fake_url,
        meta_app_id="1234567890",
        meta_app_secret="a-meta-app-secret",
        meta_webhook_verify_token="a-meta-verify-token",
        meta_graph_api_base_url="http://127.0.0.1:9",  # reaches nothing
        data_dir=tmp_path,
    )
    container = Container(settings=settings)
    await container.init_resources()  # type: ignore[misc]
    # The production client, with retries short enough for tests.
    ghl = HttpGhlClient(
        rate_limiter=await resolve(container.observed_rate_limiter),
        token_store=await resolve(container.token_store),
        base_url=fake_url,
        retry=FAST_RETRY,
        timeouts=GhlTimeouts(connect=1.0, read=2.0),
    )
    container.ghl.override(providers.Object(ghl))
    await (await resolve(container.seed_templates)).execute()
    server, port = await start_server(
        await resolve(container.grpc_use_cases),
        container.authenticator(),
        page_token_key=settings.page_token_key,
        host="127.0.0.1",
        port=0,
        stream_events=await resolve(container.stream_events),
    )
    runner, webhook_port = await start_webhook_server(
        create_webhook_app(
            await resolve(container.receive_webhooks),
            operations=await resolve(container.operations),
        ),
        host="127.0.0.1",
        port=0,
        grace_seconds=1.0,
    )
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
            aiohttp.ClientSession() as http,
        ):
            yield Service(
                container=container,
                server=server,
                channel=channel,
                integrations=integration_service_pb2_grpc.IntegrationServiceStub(channel),
                events=event_service_pb2_grpc.EventServiceStub(channel),
                http=http,
                webhook_url=f"http://127.0.0.1:{webhook_port}",
                fake_url=fake_url,
                fake=fake_ghl.app[FAKE_GHL],
            )
    finally:
        await stop_webhook_server(runner)
        await stop_server(server, grace=None)
        await ghl.close()
        await container.shutdown_resources()  # type: ignore[misc]

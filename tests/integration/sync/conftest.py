"""Sync against the fake GHL over loopback, on SQLite and PostgreSQL (one migrated database of
each per session, emptied before each test)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.clock import SystemClock
from adapters.crypto.signatures import WebhookSignatureVerifier
from adapters.ghl.client import HttpGhlClient
from adapters.ghl.fake import FAKE_GHL, create_app
from adapters.ghl.fake.limits import RateLimitConfig
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from adapters.ghl.location_settings import CachedGhlLocationSettings
from adapters.ghl.payloads import GhlPayloads
from adapters.ghl.templates import TEMPLATE_NAMES as GHL_TEMPLATE_NAMES
from adapters.ghl.webhooks import GhlWebhooks, location_account
from adapters.ids import Uuid7Generator
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.sync_repository import SqlAlchemySyncLeases
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.persistence.webhook_inbox import (
    SqlAlchemyInboxWriter,
    SqlAlchemyPlatformDeliveries,
    SqlAlchemyWebhookTargets,
)
from adapters.ratelimit import TokenBucketRateLimiter
from application.booking_sync import BookingSync
from application.lead_sync import LeadSync
from application.opportunity_sync import OpportunitySync
from application.ports import AssignedUser, SecretBinding
from application.use_cases.cancel_booking import CancelBooking
from application.use_cases.create_booking import CreateBooking
from application.use_cases.create_lead import CreateLead
from application.use_cases.handle_appointment import HandleAppointmentEvent
from application.use_cases.handle_contact import HandleContactEvent
from application.use_cases.handle_opportunity import HandleOpportunityEvent
from application.use_cases.push_changes import PushPendingChanges
from application.use_cases.sync_integration import SyncIntegration, SyncPolicy
from application.use_cases.update_lead import UpdateLead
from application.webhooks import ReceiveWebhook
from domain.integration import Integration
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from entrypoints.webhooks.app import create_webhook_app
from entrypoints.worker.inbox_worker import InboxWorker
from tests.fakes import FakeCipher, FakeTenantDirectory, FakeTimezoneResolver, FixedClock
from tests.integration.ghl.support import FAST_RETRY, FAST_TIMEOUTS, SPECS_DIR
from tests.integration.sync.support import CALENDAR, SUB_ACCOUNT, SyncStack, seed
from tests.support.builders import a_template
from tests.support.databases import clean_tables, migrated_database, opened_driver_pool

# Generous: these tests are about sync, not GHL's limits (tested with the client).
FAST_LIMITS = RateLimitConfig(max_requests=100_000, interval_ms=1_000)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with migrated_database("sqlite", tmp_path_factory.mktemp("sync-sqlite")) as url:
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


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """The fake signs its webhooks with it; the service's verifier trusts it as GHL's."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
async def webhook_server(
    engine: AsyncEngine, database_url: str, signing_key: Ed25519PrivateKey
) -> AsyncIterator[TestServer]:
    """The service's webhook ingress, storing what the fake sends into the inbox."""
    async with opened_driver_pool(database_url, size=1) as writer_pool:
        receive = ReceiveWebhook(
            sender=GhlWebhooks(),
            targets=SqlAlchemyWebhookTargets(engine, cache_seconds=0),
            verifier=WebhookSignatureVerifier(ghl_ed25519_key=signing_key.public_key()),
            inbox=SqlAlchemyInboxWriter(engine, writer_pool),
            platform=SqlAlchemyPlatformDeliveries(engine),
            cipher=FakeCipher(),
            ids=Uuid7Generator(),
            clock=SystemClock(),  # the fake stamps its webhooks with the real time
        )
        server = TestServer(create_webhook_app([receive]), host="127.0.0.1", port=0)
        await server.start_server()
        yield server
        await server.close()


@pytest.fixture
async def fake_server(
    webhook_server: TestServer, signing_key: Ed25519PrivateKey
) -> AsyncIterator[TestServer]:
    """The fake GHL, sending its webhooks to the service and contract-checked against GHL's
    specs when they are there: the test fails if anything sync sent (or the fake answered)
    broke them."""
    kwargs: dict[str, Any] = {
        "rate_limit": FAST_LIMITS,
        "random_seed": 11,
        "webhook_url": str(webhook_server.make_url("/webhooks/ghl")),
        "signing_key": signing_key,
    }
    if SPECS_DIR.is_dir():
        kwargs["validate_requests_against"] = SPECS_DIR
    server = TestServer(create_app(seed(), **kwargs), host="127.0.0.1", port=0)
    await server.start_server()
    yield server
    violations = server.app[FAKE_GHL].contract_violations()
    await server.close()
    assert violations == [], f"requests or answers that break GHL's contract: {violations}"


@pytest.fixture
async def stack(engine: AsyncEngine, fake_server: TestServer) -> AsyncIterator[SyncStack]:
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    uow = SqlAlchemyUnitOfWorkFactory(create_session_factory(engine), clock=clock)
    cipher = FakeCipher()
    ids = Uuid7Generator()
    client = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        base_url=str(fake_server.make_url("")).rstrip("/"),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    template = a_template(rate_limit_per_minute=100_000)
    integration = Integration.create(
        id=ids.new_id(),
        sub_account_id=SUB_ACCOUNT,
        template_id=template.id,
        template_name=template.name,
        name="Clinic CRM",
        config={"locationId": DEMO_LOCATION_ID, "calendarId": CALENDAR},
        now=clock.now(),
    )
    integration.secrets["apiKey"] = await cipher.encrypt(
        SecretBinding(SUB_ACCOUNT, integration.id, "apiKey"), SecretStr(DEMO_PRIVATE_TOKEN)
    )
    integration.activate(now=clock.now())
    async with uow() as setup:
        await setup.templates.add(template)
        await setup.integrations.add(integration)
        await setup.integrations.set_accounts(
            integration.id, frozenset({location_account(DEMO_LOCATION_ID)})
        )
        await setup.commit()
    leases = SqlAlchemySyncLeases(create_session_factory(engine))
    leads = LeadSync(
        reader=GhlPayloads(),
        directory=FakeTenantDirectory({SUB_ACCOUNT: AssignedUser("u-ana", "strategy-fast")}),
        timezones=FakeTimezoneResolver(),
        accounts=CachedGhlLocationSettings(client, clock=clock),
        cipher=cipher,
        ids=ids,
        clock=clock,
    )
    bookings = BookingSync(reader=GhlPayloads(), ids=ids, clock=clock)
    opportunities = OpportunitySync(reader=GhlPayloads(), ids=ids, clock=clock)
    push = PushPendingChanges(
        uow=uow,
        crm=client,
        cipher=cipher,
        leads=leads,
        bookings=bookings,
        opportunities=opportunities,
        leases=leases,
        ids=ids,
        clock=clock,
        rng=random.Random(5),
    )
    sync = SyncIntegration(
        crm_templates=GHL_TEMPLATE_NAMES,
        uow=uow,
        crm=client,
        cipher=cipher,
        leads=leads,
        bookings=bookings,
        opportunities=opportunities,
        push=push,
        leases=leases,
        ids=ids,
        clock=clock,
        policy=SyncPolicy(retry_delay=SyncPolicy().retry_delay / 100),
    )
    contacts = HandleContactEvent(leads=leads)
    appointments = HandleAppointmentEvent(reader=GhlPayloads(), ids=ids, clock=clock)
    opportunity_events = HandleOpportunityEvent(
        leads=leads, opportunities=opportunities, crm=client, cipher=cipher
    )
    worker = InboxWorker(
        uow=uow,
        handlers=lambda _template: {
            EventKind.CONTACT_CREATED: contacts,
            EventKind.CONTACT_UPDATED: contacts,
            EventKind.CONTACT_DELETED: contacts,
            EventKind.APPOINTMENT_CREATED: appointments,
            EventKind.APPOINTMENT_UPDATED: appointments,
            EventKind.APPOINTMENT_DELETED: appointments,
            EventKind.OPPORTUNITY_STATUS_CHANGED: opportunity_events,
        },
        clock=SystemClock(),  # deliveries are due by the real time they were received at
    )
    yield SyncStack(
        engine=engine,
        worker=worker,
        uow=uow,
        clock=clock,
        client=client,
        fake=fake_server.app[FAKE_GHL],
        integration=integration,
        leases=leases,
        leads=leads,
        push=push,
        sync=sync,
        create_lead=CreateLead(uow=uow, leads=leads, ids=ids, clock=clock),
        update_lead=UpdateLead(uow=uow, ids=ids, clock=clock, crm_templates=GHL_TEMPLATE_NAMES),
        create_booking=CreateBooking(uow=uow, ids=ids, clock=clock),
        cancel_booking=CancelBooking(uow=uow, ids=ids, clock=clock),
    )
    await client.close()

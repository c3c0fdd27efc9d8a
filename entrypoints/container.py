"""The composition root: the only module that knows which adapter implements which port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.clock import SystemClock
from adapters.crypto.envelope import DataKeyCache, EnvelopeCipher
from adapters.crypto.key_manager import KeyManager
from adapters.crypto.master_keys import MasterKeyRing
from adapters.crypto.signatures import WebhookSignatureVerifier
from adapters.ghl.auth import rate_limit_key as ghl_rate_limit_key
from adapters.ghl.client import HttpGhlClient
from adapters.ghl.location_settings import CachedGhlLocationSettings
from adapters.ghl.payloads import GhlPayloads
from adapters.ghl.provider import GhlProvider
from adapters.ghl.templates import TEMPLATE_NAMES as GHL_TEMPLATE_NAMES
from adapters.ghl.webhooks import GhlWebhooks
from adapters.ids import Uuid7Generator
from adapters.persistence.data_keys import SqlAlchemyDataKeyStore
from adapters.persistence.directory import SqlAlchemyTenantDirectory
from adapters.persistence.driver_pool import driver_pool
from adapters.persistence.engine import (
    create_engine,
    create_read_session_factory,
    create_session_factory,
)
from adapters.persistence.event_feed import PollingOutboxFeed
from adapters.persistence.integration_reads import SqlAlchemyIntegrationReads
from adapters.persistence.oauth_tokens import SqlAlchemyTokenStore
from adapters.persistence.observability import (
    SqlAlchemyDatabaseProbe,
    SqlAlchemyInboxStats,
    SqlAlchemySyncHistory,
    SqlAlchemySyncStats,
    SqlAlchemyWebhookActivity,
)
from adapters.persistence.outbox import SqlAlchemyOutboxReader
from adapters.persistence.sync_repository import SqlAlchemySyncLeases
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.persistence.webhook_inbox import (
    SqlAlchemyInboxWriter,
    SqlAlchemyPlatformDeliveries,
    SqlAlchemyWebhookTargets,
)
from adapters.providers.registry import StaticProviderRegistry
from adapters.ratelimit import RedisRateLimiter, TokenBucketRateLimiter
from adapters.ratelimit.observed import ObservedRateLimiter
from adapters.salesbot import HttpSalesBot
from adapters.schema import JsonSchemaConfigValidator
from adapters.timezone import StaticTimezoneResolver
from application.booking_sync import BookingSync
from application.calendar_access import CalendarAccess
from application.connection import ConnectionTester
from application.delivery_handlers import handlers_by_kind
from application.delivery_policy import BackoffPolicy
from application.lead_sync import LeadSync
from application.opportunity_sync import OpportunitySync
from application.ports import (
    Cipher,
    Clock,
    EventHandler,
    IdGenerator,
    InboxWriter,
    PlatformDeliveries,
    SignatureVerifier,
    UnitOfWorkFactory,
    WebhookSender,
    WebhookTargets,
)
from application.ports.oauth import TokenStore
from application.ports.rate_limits import RateLimiter
from application.sync_records import SyncLeases
from application.use_cases.cancel_booking import CancelBooking
from application.use_cases.create_block_slot import CreateBlockSlot
from application.use_cases.create_booking import CreateBooking
from application.use_cases.create_integration import CreateIntegration
from application.use_cases.create_lead import CreateLead
from application.use_cases.create_template import CreateTemplate
from application.use_cases.delete_integration import DeleteIntegration
from application.use_cases.directory_users import ListDirectoryUsers, ReplaceDirectoryUsers
from application.use_cases.get_free_slots import GetFreeSlots
from application.use_cases.get_integration import GetIntegration, ListIntegrations
from application.use_cases.get_integration_health import GetIntegrationHealth
from application.use_cases.get_lead import GetLead, ListLeads
from application.use_cases.get_template import GetTemplate, ListTemplates
from application.use_cases.handle_app_lifecycle import HandleAppLifecycleEvent
from application.use_cases.handle_appointment import HandleAppointmentEvent
from application.use_cases.handle_contact import HandleContactEvent
from application.use_cases.handle_message import HandleMessageEvent
from application.use_cases.handle_opportunity import HandleOpportunityEvent
from application.use_cases.list_bookings import ListBookings
from application.use_cases.push_changes import PushPendingChanges
from application.use_cases.rotate_data_keys import RotateDataKeys
from application.use_cases.run_connection_test import TestIntegration
from application.use_cases.seed_templates import SeedTemplates
from application.use_cases.send_replies import SendPendingReplies
from application.use_cases.stream_events import StreamEvents
from application.use_cases.switch_integration import DeactivateIntegration, ReactivateIntegration
from application.use_cases.sync_integration import SyncIntegration
from application.use_cases.update_integration import UpdateIntegration
from application.use_cases.update_lead import UpdateLead
from application.use_cases.update_template import UpdateTemplate
from application.use_cases.webhook_deliveries import ListWebhookDeliveries, ReplayWebhookDelivery
from application.webhooks import ReceiveWebhook
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from entrypoints.auth import JwtAuthenticator
from entrypoints.catalogue import BUILT_IN_TEMPLATES
from entrypoints.config import Settings
from entrypoints.grpc.directory_servicer import DirectoryUseCases
from entrypoints.grpc.lead_servicer import LeadUseCases
from entrypoints.grpc.servicers import GrpcUseCases
from entrypoints.grpc.webhook_servicer import WebhookUseCases
from entrypoints.in_flight import InFlight
from entrypoints.trace_context import traceparent_source
from entrypoints.webhooks.metrics import IngressObserver, SignatureFailureLog
from entrypoints.webhooks.ops import CachedSyncStats, Operations, Readiness
from entrypoints.worker.inbox_worker import InboxWorker
from entrypoints.worker.replies import ReplySender
from entrypoints.worker.sync_scheduler import SyncScheduler


def _keyring(settings: Settings) -> MasterKeyRing:
    if settings.master_keys_file is not None:
        return MasterKeyRing.from_file(settings.master_keys_file)
    return MasterKeyRing.parse(settings.master_keys)


async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    yield engine
    await engine.dispose()


async def _ghl_client(
    *, rate_limiter: RateLimiter, token_store: TokenStore, base_url: str, clock: Clock
) -> AsyncIterator[HttpGhlClient]:
    client = HttpGhlClient(
        rate_limiter=rate_limiter, token_store=token_store, base_url=base_url, clock=clock
    )
    yield client
    await client.close()


async def _rate_limiter(
    settings: Settings,
) -> AsyncIterator[TokenBucketRateLimiter | RedisRateLimiter]:
    """GHL's budget per integration: shared by every copy through Redis when REDIS_URL is set,
    else an in-process bucket, which is right for one copy only."""
    if settings.redis_url is None:
        yield TokenBucketRateLimiter()
        return
    limiter = RedisRateLimiter.from_url(settings.redis_url, copies=settings.rate_limit_copies)
    yield limiter
    await limiter.aclose()


async def _sales_bot(settings: Settings) -> AsyncIterator[HttpSalesBot | None]:
    """The sales bot at SALESBOT_URL; None when unset (messages are recorded, not answered)."""
    if settings.salesbot_url is None:
        yield None
        return
    bot = HttpSalesBot(
        settings.salesbot_url,
        token=SecretStr(settings.salesbot_token) if settings.salesbot_token else None,
        timeout_seconds=settings.salesbot_timeout_seconds,
    )
    yield bot
    await bot.close()


def _readiness(probe: SqlAlchemyDatabaseProbe) -> Readiness:
    return Readiness(probe.ping)


def _webhook_verifier(settings: Settings) -> WebhookSignatureVerifier:
    return WebhookSignatureVerifier.from_files(
        ghl_ed25519_pem=settings.ghl_webhook_ed25519_key_file,
        ghl_rsa_pem=settings.ghl_webhook_rsa_key_file,
    )


def _receive_webhook(
    *,
    targets: WebhookTargets,
    sender: WebhookSender,
    verifier: SignatureVerifier,
    inbox: InboxWriter,
    platform: PlatformDeliveries,
    cipher: Cipher,
    ids: IdGenerator,
    clock: Clock,
    settings: Settings,
) -> ReceiveWebhook:
    return ReceiveWebhook(
        sender=sender,
        targets=targets,
        verifier=verifier,
        inbox=inbox,
        platform=platform,
        cipher=cipher,
        ids=ids,
        clock=clock,
        timestamp_tolerance=timedelta(seconds=settings.webhook_timestamp_tolerance_seconds),
    )


def _inbox_worker(
    *,
    uow: UnitOfWorkFactory,
    handlers: Mapping[EventKind, EventHandler],
    clock: Clock,
    settings: Settings,
    wakeup: asyncio.Event,
) -> InboxWorker:
    return InboxWorker(
        uow=uow,
        handlers=handlers,
        clock=clock,
        backoff=BackoffPolicy(max_attempts=settings.inbox_max_attempts),
        payload_retention=timedelta(days=settings.webhook_payload_retention_days),
        lease=timedelta(seconds=settings.inbox_lease_seconds),
        wakeup=wakeup,
    )


def _sync_scheduler(
    *,
    sync: SyncIntegration,
    push: PushPendingChanges,
    leases: SyncLeases,
    clock: Clock,
    settings: Settings,
) -> SyncScheduler:
    return SyncScheduler(
        sync=sync,
        push=push,
        leases=leases,
        clock=clock,
        interval=timedelta(seconds=settings.sync_interval_seconds),
        push_interval=settings.sync_push_interval_seconds,
    )


class Container(containers.DeclarativeContainer):
    """`await container.init_resources()` before use, `shutdown_resources()` after."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator)
    validator = providers.Singleton(JsonSchemaConfigValidator)

    engine = providers.Resource(_engine, url=settings.provided.database_url)
    session_factory = providers.Singleton(create_session_factory, engine)
    uow = providers.Singleton(SqlAlchemyUnitOfWorkFactory, session_factory)
    # For the use cases that only read: no transaction, one round trip per query on Postgres.
    read_uow = providers.Singleton(
        SqlAlchemyUnitOfWorkFactory, providers.Singleton(create_read_session_factory, engine)
    )
    # GetIntegration and ListIntegrations: views straight from rows, no unit of work.
    # On PostgreSQL, on a pool of its own (READ_POOL_SIZE connections at most), cheaper per read.
    read_pool = providers.Resource(
        driver_pool, url=settings.provided.database_url, size=settings.provided.read_pool_size
    )
    integration_reads = providers.Singleton(SqlAlchemyIntegrationReads, engine, read_pool)

    keyring = providers.Singleton(_keyring, settings)
    data_keys = providers.Singleton(SqlAlchemyDataKeyStore, session_factory)
    # One cache, so that keys the KeyManager deletes stop decrypting in this process at once.
    data_key_cache = providers.Singleton(DataKeyCache)
    cipher = providers.Singleton(
        EnvelopeCipher, store=data_keys, keyring=keyring, ids=ids, clock=clock, cache=data_key_cache
    )
    key_manager = providers.Singleton(
        KeyManager, store=data_keys, keyring=keyring, ids=ids, clock=clock, cache=data_key_cache
    )

    rate_limiter = providers.Resource(_rate_limiter, settings)
    # The limiter the GHL client calls: it also remembers GHL's X-RateLimit-* answers (health).
    observed_rate_limiter = providers.Singleton(ObservedRateLimiter, rate_limiter, clock=clock)
    token_store = providers.Singleton(SqlAlchemyTokenStore, session_factory, cipher, clock)
    ghl = providers.Resource(
        _ghl_client,
        rate_limiter=observed_rate_limiter,
        token_store=token_store,
        base_url=settings.provided.ghl_api_base_url,
        clock=clock,
    )
    # Connection tests ask GHL every time; leads read the location's settings kept a while.
    ghl_provider = providers.Singleton(GhlProvider, ghl)
    ghl_location_settings = providers.Singleton(CachedGhlLocationSettings, ghl, clock=clock)
    provider_registry = providers.Singleton(
        StaticProviderRegistry,
        providers.Dict(gohighlevel=ghl_provider, gohighlevel_oauth=ghl_provider),
    )
    tester = providers.Singleton(
        ConnectionTester, uow_factory=uow, providers=provider_registry, cipher=cipher, clock=clock
    )

    calendar_access = providers.Singleton(
        CalendarAccess,
        uow_factory=uow,
        cipher=cipher,
        tester=tester,
        crm_templates=GHL_TEMPLATE_NAMES,
    )

    seed_templates = providers.Factory(
        SeedTemplates,
        uow=uow,
        validator=validator,
        ids=ids,
        clock=clock,
        templates=BUILT_IN_TEMPLATES,
    )
    rotate_data_keys = providers.Factory(
        RotateDataKeys, uow=uow, cipher=cipher, keys=key_manager, clock=clock
    )

    grpc_use_cases = providers.Singleton(
        GrpcUseCases,
        list_templates=providers.Factory(ListTemplates, uow=read_uow),
        get_template=providers.Factory(GetTemplate, uow=read_uow),
        create_template=providers.Factory(
            CreateTemplate, uow=uow, validator=validator, ids=ids, clock=clock
        ),
        update_template=providers.Factory(
            UpdateTemplate, uow=uow, validator=validator, clock=clock
        ),
        list_integrations=providers.Factory(ListIntegrations, reads=integration_reads),
        get_integration=providers.Factory(GetIntegration, reads=integration_reads),
        create_integration=providers.Factory(
            CreateIntegration,
            uow=uow,
            validator=validator,
            cipher=cipher,
            tester=tester,
            ids=ids,
            clock=clock,
        ),
        update_integration=providers.Factory(
            UpdateIntegration,
            uow=uow,
            validator=validator,
            cipher=cipher,
            tester=tester,
            clock=clock,
        ),
        test_integration=providers.Factory(TestIntegration, uow=uow, tester=tester),
        deactivate_integration=providers.Factory(DeactivateIntegration, uow=uow, clock=clock),
        reactivate_integration=providers.Factory(
            ReactivateIntegration, uow=uow, tester=tester, clock=clock
        ),
        get_free_slots=providers.Factory(GetFreeSlots, access=calendar_access, crm=ghl),
        create_block_slot=providers.Factory(CreateBlockSlot, access=calendar_access, crm=ghl),
    )

    # --- webhooks: receiving (the aiohttp app), the inbox over gRPC, processing (the worker) ---
    webhook_targets = providers.Singleton(SqlAlchemyWebhookTargets, engine)
    webhook_verifier = providers.Singleton(_webhook_verifier, settings)
    # Wakes the inbox worker of this process as soon as a delivery is stored.
    inbox_wakeup = providers.Singleton(asyncio.Event)
    # One batch is written at a time: one connection of its own on PostgreSQL.
    inbox_pool = providers.Resource(driver_pool, url=settings.provided.database_url, size=1)
    inbox_writer = providers.Singleton(
        SqlAlchemyInboxWriter,
        engine,
        inbox_pool,
        on_stored=inbox_wakeup.provided.set,
        # With tracing on, each delivery keeps its request's trace context (trace_context.py).
        trace_context=providers.Callable(traceparent_source, settings.provided.trace_exporters),
    )
    ghl_webhooks = providers.Singleton(GhlWebhooks)
    # How stored deliveries and the CRM's record values read in the platform's terms.
    crm_reader = providers.Singleton(GhlPayloads)
    receive_webhook = providers.Singleton(
        _receive_webhook,
        sender=ghl_webhooks,
        targets=webhook_targets,
        verifier=webhook_verifier,
        inbox=inbox_writer,
        platform=providers.Singleton(SqlAlchemyPlatformDeliveries, engine),
        cipher=cipher,
        ids=ids,
        clock=clock,
        settings=settings,
    )
    webhook_use_cases = providers.Singleton(
        WebhookUseCases,
        list_deliveries=providers.Factory(ListWebhookDeliveries, uow=uow),
        replay_delivery=providers.Factory(ReplayWebhookDelivery, uow=uow, clock=clock),
    )
    # --- processing: leads, bookings, lead status, sales-bot replies, install/uninstall -------
    tenant_directory = providers.Singleton(SqlAlchemyTenantDirectory, session_factory, clock=clock)
    # --- leads, bookings and the tenant directory over gRPC ------------------------------------
    lead_use_cases = providers.Singleton(
        LeadUseCases,
        list_leads=providers.Factory(ListLeads, uow=uow),
        get_lead=providers.Factory(GetLead, uow=uow),
        list_bookings=providers.Factory(ListBookings, uow=uow),
    )
    directory_use_cases = providers.Singleton(
        DirectoryUseCases,
        list_users=providers.Factory(ListDirectoryUsers, directory=tenant_directory),
        replace_users=providers.Factory(ReplaceDirectoryUsers, directory=tenant_directory),
    )
    timezones = providers.Singleton(StaticTimezoneResolver)
    sales_bot = providers.Resource(_sales_bot, settings)
    lead_sync = providers.Singleton(
        LeadSync,
        directory=tenant_directory,
        timezones=timezones,
        accounts=ghl_location_settings,
        cipher=cipher,
        ids=ids,
        clock=clock,
        reader=crm_reader,
    )
    contact_events = providers.Singleton(HandleContactEvent, leads=lead_sync)
    message_events = providers.Singleton(
        HandleMessageEvent, bot=sales_bot, ids=ids, clock=clock, reader=crm_reader
    )
    appointment_events = providers.Singleton(
        HandleAppointmentEvent, ids=ids, clock=clock, reader=crm_reader
    )
    opportunity_sync = providers.Singleton(OpportunitySync, ids=ids, clock=clock, reader=crm_reader)
    opportunity_events = providers.Singleton(
        HandleOpportunityEvent,
        leads=lead_sync,
        opportunities=opportunity_sync,
        crm=ghl,
        cipher=cipher,
    )
    lifecycle_events = providers.Singleton(HandleAppLifecycleEvent, clock=clock)
    event_handlers = providers.Singleton(
        handlers_by_kind,
        contacts=contact_events,
        messages=message_events,
        appointments=appointment_events,
        opportunities=opportunity_events,
        app_lifecycle=lifecycle_events,
    )
    reply_sender = providers.Singleton(
        ReplySender,
        providers.Singleton(SendPendingReplies, uow=uow, crm=ghl, cipher=cipher, clock=clock),
    )
    inbox_worker = providers.Singleton(
        _inbox_worker,
        uow=uow,
        handlers=event_handlers,
        clock=clock,
        settings=settings,
        wakeup=inbox_wakeup,
    )

    authenticator = providers.Singleton(
        JwtAuthenticator,
        hs256_secret=settings.provided.jwt_secret,
        jwks_file=settings.provided.jwt_jwks_file,
        issuer=settings.provided.jwt_issuer,
        audience=settings.provided.jwt_audience,
    )

    # --- observability: health, metrics and readiness, the event stream ------------------------
    signature_failures = providers.Singleton(SignatureFailureLog)
    in_flight = providers.Singleton(InFlight)
    readiness = providers.Singleton(
        _readiness, providers.Singleton(SqlAlchemyDatabaseProbe, engine)
    )
    operations = providers.Singleton(
        Operations,
        readiness=readiness,
        inbox_stats=providers.Singleton(SqlAlchemyInboxStats, engine),
        ingress=providers.Singleton(
            IngressObserver,
            targets=webhook_targets,
            failures=signature_failures,
            clock=clock,
            sender=ghl_webhooks,
        ),
        sync_stats=providers.Singleton(
            CachedSyncStats, providers.Singleton(SqlAlchemySyncStats, engine)
        ),
    )
    grpc_use_cases.add_kwargs(
        get_integration_health=providers.Factory(
            GetIntegrationHealth,
            uow=uow,
            tester=tester,
            webhooks=providers.Singleton(SqlAlchemyWebhookActivity, engine),
            unverified=signature_failures,
            rate_limits=observed_rate_limiter,
            rate_limit_key=providers.Object(ghl_rate_limit_key),
            sync=providers.Singleton(SqlAlchemySyncHistory, engine),
            clock=clock,
        )
    )
    stream_events = providers.Singleton(
        StreamEvents,
        feed=providers.Singleton(
            PollingOutboxFeed, engine, providers.Singleton(SqlAlchemyOutboxReader, session_factory)
        ),
    )

    # --- two-way sync: on demand (gRPC), on a schedule, and local changes pushed (worker) ------
    sync_leases = providers.Singleton(SqlAlchemySyncLeases, session_factory)
    booking_sync = providers.Singleton(BookingSync, ids=ids, clock=clock, reader=crm_reader)
    push_changes = providers.Singleton(
        PushPendingChanges,
        uow=uow,
        crm=ghl,
        cipher=cipher,
        leads=lead_sync,
        bookings=booking_sync,
        opportunities=opportunity_sync,
        leases=sync_leases,
        ids=ids,
        clock=clock,
    )
    sync_integration = providers.Singleton(
        SyncIntegration,
        uow=uow,
        crm=ghl,
        cipher=cipher,
        leads=lead_sync,
        bookings=booking_sync,
        opportunities=opportunity_sync,
        push=push_changes,
        leases=sync_leases,
        ids=ids,
        clock=clock,
    )
    sync_scheduler = providers.Singleton(
        _sync_scheduler,
        sync=sync_integration,
        push=push_changes,
        leases=sync_leases,
        clock=clock,
        settings=settings,
    )
    grpc_use_cases.add_kwargs(
        sync_integration=sync_integration,
        # Changes accepted before a delete are pushed before the integration goes.
        delete_integration=providers.Factory(
            DeleteIntegration, uow=uow, clock=clock, pending=push_changes
        ),
    )
    lead_use_cases.add_kwargs(
        create_lead=providers.Factory(CreateLead, uow=uow, leads=lead_sync, ids=ids, clock=clock),
        update_lead=providers.Factory(UpdateLead, uow=uow, ids=ids, clock=clock),
        create_booking=providers.Factory(CreateBooking, uow=uow, ids=ids, clock=clock),
        cancel_booking=providers.Factory(CancelBooking, uow=uow, ids=ids, clock=clock),
    )

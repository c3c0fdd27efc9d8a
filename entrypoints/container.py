"""The composition root: the only module that knows which adapter implements which port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.clock import SystemClock
from adapters.crypto.envelope import DataKeyCache, EnvelopeCipher
from adapters.crypto.key_manager import KeyManager
from adapters.crypto.master_keys import MasterKeyRing
from adapters.crypto.signatures import WebhookSignatureVerifier
from adapters.ga4.client import Ga4Http
from adapters.ga4.connect import Ga4ConnectFlow
from adapters.ga4.google_oauth import GoogleOAuth, GoogleOAuthApp
from adapters.ga4.measurement import Ga4Measurement
from adapters.ga4.provider import Ga4Provider
from adapters.ga4.settings import Ga4Settings
from adapters.ga4.template import TEMPLATES as GA4_TEMPLATES
from adapters.ghl.agency_tokens import AgencyGrantStore
from adapters.ghl.app_events import GhlAgencyUninstall, GhlAppEvents
from adapters.ghl.auth import OAuthClient
from adapters.ghl.auth import rate_limit_key as ghl_rate_limit_key
from adapters.ghl.client import HttpGhlClient
from adapters.ghl.connect import GhlConnectFlow
from adapters.ghl.location_settings import CachedGhlLocationSettings
from adapters.ghl.payloads import GhlPayloads
from adapters.ghl.provider import GhlProvider
from adapters.ghl.templates import TEMPLATE_NAMES as GHL_TEMPLATE_NAMES
from adapters.ghl.templates import TEMPLATES as GHL_TEMPLATES
from adapters.ghl.webhooks import GhlWebhooks
from adapters.ids import Uuid7Generator
from adapters.meta.auth import rate_limit_key as meta_rate_limit_key
from adapters.meta.connect import MetaConnectFlow
from adapters.meta.conversions import MetaConversions
from adapters.meta.graph import MetaGraph
from adapters.meta.leads import MetaLeads
from adapters.meta.provider import MetaProvider
from adapters.meta.settings import MetaSettings
from adapters.meta.template import TEMPLATES as META_TEMPLATES
from adapters.meta.webhooks import MetaWebhooks
from adapters.persistence.agency_grants import SqlAlchemyAgencyGrants
from adapters.persistence.connection_sessions import SqlAlchemyConnectionSessions
from adapters.persistence.data_keys import SqlAlchemyDataKeyStore
from adapters.persistence.directory import SqlAlchemyTenantDirectory
from adapters.persistence.driver_pool import driver_pool
from adapters.persistence.engine import (
    create_engine,
    create_read_session_factory,
    create_session_factory,
)
from adapters.persistence.event_feed import PollingOutboxFeed
from adapters.persistence.funnel_queue import SqlAlchemyFunnelQueue
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
from adapters.ratelimit import RedisRateLimiter, TokenBucketRateLimiter
from adapters.ratelimit.observed import ObservedRateLimiter
from adapters.salesbot import HttpSalesBot
from adapters.schema import JsonSchemaConfigValidator
from adapters.timezone import StaticTimezoneResolver
from application.account_linking import AccountLinker
from application.booking_sync import BookingSync
from application.calendar_access import CalendarAccess
from application.connect_policy import ConnectPolicy
from application.connection import ConnectionTester
from application.delivery_handlers import handlers_by_kind
from application.delivery_policy import BackoffPolicy
from application.funnel import DispatchFunnelEvents, SendFunnelEvents
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
    WebhookHandshake,
    WebhookSender,
    WebhookTargets,
)
from application.ports.oauth import TokenStore
from application.ports.rate_limits import RateLimiter
from application.provider_registry import ProviderBundle, ProviderRegistry
from application.sync_records import SyncLeases
from application.use_cases.backfill_submitted_leads import BackfillSubmittedLeads
from application.use_cases.cancel_booking import CancelBooking
from application.use_cases.capture_submitted_lead import CaptureSubmittedLead
from application.use_cases.choose_connection_accounts import ChooseConnectionAccounts
from application.use_cases.complete_connection import CompleteConnection
from application.use_cases.create_block_slot import CreateBlockSlot
from application.use_cases.create_booking import CreateBooking
from application.use_cases.create_integration import CreateIntegration
from application.use_cases.create_lead import CreateLead
from application.use_cases.create_template import CreateTemplate
from application.use_cases.delete_integration import DeleteIntegration
from application.use_cases.directory_users import ListDirectoryUsers, ReplaceDirectoryUsers
from application.use_cases.get_connection_session import GetConnectionSession
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
from application.use_cases.start_connection import StartConnection
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
from entrypoints.grpc.connection_servicer import ConnectionUseCases
from entrypoints.grpc.directory_servicer import DirectoryUseCases
from entrypoints.grpc.lead_servicer import LeadUseCases
from entrypoints.grpc.servicers import GrpcUseCases
from entrypoints.grpc.webhook_servicer import WebhookUseCases
from entrypoints.in_flight import InFlight
from entrypoints.trace_context import traceparent_source
from entrypoints.webhooks.metrics import IngressObserver, SignatureFailureLog
from entrypoints.webhooks.ops import CachedSyncStats, Operations, Readiness
from entrypoints.worker.funnel_worker import FunnelWorker
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
    *,
    rate_limiter: RateLimiter,
    token_store: TokenStore,
    agency_grants: AgencyGrantStore,
    base_url: str,
    clock: Clock,
    app_client: OAuthClient | None,
) -> AsyncIterator[HttpGhlClient]:
    client = HttpGhlClient(
        rate_limiter=rate_limiter,
        token_store=token_store,
        agency_grants=agency_grants,
        base_url=base_url,
        clock=clock,
        app_client=app_client,
    )
    yield client
    await client.close()


def _ghl_app(settings: Settings) -> OAuthClient | None:
    """The service's GHL Marketplace app; None when GHL_OAUTH_CLIENT_ID is unset."""
    if not settings.ghl_oauth_client_id:
        return None
    return OAuthClient(
        SecretStr(settings.ghl_oauth_client_id), SecretStr(settings.ghl_oauth_client_secret)
    )


async def _ghl_connect(
    *,
    settings: Settings,
    app_client: OAuthClient | None,
    agency_grants: AgencyGrantStore,
    clock: Clock,
) -> AsyncIterator[GhlConnectFlow | None]:
    """The sign-in through the service's GHL app; None (not offered) without the app."""
    if app_client is None:
        yield None
        return
    flow = GhlConnectFlow(
        client=app_client,
        authorize_url=settings.ghl_oauth_authorize_url,
        api_base_url=settings.ghl_api_base_url,
        clock=clock,
        agency_grants=agency_grants,
    )
    yield flow
    await flow.close()


async def _ga4_http(*, rate_limiter: RateLimiter, settings: Settings) -> AsyncIterator[Ga4Http]:
    defaults = Ga4Settings()
    http = Ga4Http(
        rate_limiter=rate_limiter,
        settings=Ga4Settings(
            mp_base_url=settings.ga4_mp_base_url or defaults.mp_base_url,
            mp_eu_base_url=settings.ga4_mp_base_url or defaults.mp_eu_base_url,
            admin_base_url=settings.ga4_admin_base_url or defaults.admin_base_url,
            token_url=settings.ga4_token_url or defaults.token_url,
        ),
    )
    yield http
    await http.close()


async def _google_oauth(settings: Settings) -> AsyncIterator[GoogleOAuth | None]:
    """The platform's Google app, if configured: the GA4 sign-in, and the Admin API token of an
    integration connected by it."""
    if not settings.google_oauth_client_id:
        yield None
        return
    oauth = GoogleOAuth(
        GoogleOAuthApp(
            client_id=settings.google_oauth_client_id,
            client_secret=SecretStr(settings.google_oauth_client_secret),
            authorize_url=settings.google_oauth_authorize_url,
            token_url=settings.google_oauth_token_url,
        )
    )
    yield oauth
    await oauth.close()


def _ga4_connect(http: Ga4Http, oauth: GoogleOAuth | None, clock: Clock) -> Ga4ConnectFlow | None:
    return None if oauth is None else Ga4ConnectFlow(http, oauth, clock=clock)


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
        app_secret=SecretStr(settings.meta_app_secret),
    )


def _meta_settings(settings: Settings) -> MetaSettings:
    return MetaSettings(
        app_id=settings.meta_app_id,
        app_secret=SecretStr(settings.meta_app_secret),
        webhook_verify_token=SecretStr(settings.meta_webhook_verify_token),
        graph_base_url=settings.meta_graph_api_base_url,
        graph_version=settings.meta_graph_api_version,
    )


async def _meta_graph(
    *, settings: MetaSettings, rate_limiter: RateLimiter
) -> AsyncIterator[MetaGraph]:
    graph = MetaGraph(settings, rate_limiter=rate_limiter)
    yield graph
    await graph.close()


def _lead_forms(capture: CaptureSubmittedLead) -> Mapping[EventKind, EventHandler]:
    return {EventKind.LEAD_SUBMITTED: capture}


def _receive_webhooks(
    *,
    registry: ProviderRegistry,
    targets: WebhookTargets,
    verifier: SignatureVerifier,
    inbox: InboxWriter,
    platform: PlatformDeliveries,
    cipher: Cipher,
    ids: IdGenerator,
    clock: Clock,
    settings: Settings,
) -> list[ReceiveWebhook]:
    """One ReceiveWebhook per provider that sends webhooks (its route: /webhooks/{name})."""
    return [
        ReceiveWebhook(
            sender=bundle.webhooks,
            targets=targets,
            verifier=verifier,
            inbox=inbox,
            platform=platform,
            cipher=cipher,
            ids=ids,
            clock=clock,
            timestamp_tolerance=timedelta(seconds=settings.webhook_timestamp_tolerance_seconds),
        )
        for bundle in registry.bundles
        if bundle.webhooks is not None
    ]


def _webhook_senders(registry: ProviderRegistry) -> dict[str, WebhookSender]:
    return {b.webhooks.name: b.webhooks for b in registry.bundles if b.webhooks is not None}


def _handshakes(registry: ProviderRegistry) -> dict[str, WebhookHandshake]:
    return {
        b.webhooks.name: b.handshake
        for b in registry.bundles
        if b.webhooks is not None and b.handshake is not None
    }


def _connect_providers(registry: ProviderRegistry) -> tuple[str, ...]:
    """The providers whose sign-in is offered: each has a callback route."""
    return tuple(b.name for b in registry.bundles if b.connect is not None)


def _connect_policy(settings: Settings) -> ConnectPolicy:
    return ConnectPolicy(
        public_base_url=settings.public_base_url,
        return_urls=settings.connect_return_urls,
        session_ttl=timedelta(seconds=settings.connect_session_ttl_seconds),
    )


def _takes_funnel(registry: ProviderRegistry) -> Callable[[str], bool]:
    return _funnel_templates(registry).__contains__


def _funnel_templates(registry: ProviderRegistry) -> frozenset[str]:
    return frozenset(
        name for b in registry.bundles if b.funnel is not None for name in b.template_names
    )


def _inbox_worker(
    *,
    uow: UnitOfWorkFactory,
    handlers: Callable[[str], Mapping[EventKind, EventHandler]],
    clock: Clock,
    settings: Settings,
    wakeup: asyncio.Event,
    tester: ConnectionTester,
) -> InboxWorker:
    return InboxWorker(
        uow=uow,
        handlers=handlers,
        clock=clock,
        backoff=BackoffPolicy(max_attempts=settings.inbox_max_attempts),
        payload_retention=timedelta(days=settings.webhook_payload_retention_days),
        lease=timedelta(seconds=settings.inbox_lease_seconds),
        wakeup=wakeup,
        credentials_refused=tester.credentials_refused,
    )


def _sync_scheduler(
    *,
    sync: SyncIntegration,
    push: PushPendingChanges,
    leases: SyncLeases,
    backfill: BackfillSubmittedLeads,
    registry: ProviderRegistry,
    clock: Clock,
    settings: Settings,
) -> SyncScheduler:
    return SyncScheduler(
        sync=sync,
        push=push,
        leases=leases,
        clock=clock,
        crm_templates=GHL_TEMPLATE_NAMES,
        backfill=backfill.execute,
        backfill_templates=registry.backfill_templates(),
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
    # Agency installs' token chains, shared by the locations connected through them.
    agency_grants = providers.Singleton(SqlAlchemyAgencyGrants, session_factory, cipher, clock)
    ghl_app = providers.Singleton(_ghl_app, settings)
    ghl = providers.Resource(
        _ghl_client,
        rate_limiter=observed_rate_limiter,
        token_store=token_store,
        agency_grants=agency_grants,
        base_url=settings.provided.ghl_api_base_url,
        clock=clock,
        app_client=ghl_app,
    )
    # Connection tests ask GHL every time; leads read the location's settings kept a while.
    ghl_provider = providers.Singleton(GhlProvider, ghl)
    ghl_location_settings = providers.Singleton(CachedGhlLocationSettings, ghl, clock=clock)
    # --- applying webhook deliveries: what the providers' handlers share ---------------------
    ghl_webhooks = providers.Singleton(GhlWebhooks)
    # How stored deliveries and the CRM's record values read in the platform's terms.
    crm_reader = providers.Singleton(GhlPayloads)
    tenant_directory = providers.Singleton(SqlAlchemyTenantDirectory, session_factory, clock=clock)
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
    lifecycle_events = providers.Singleton(
        HandleAppLifecycleEvent,
        clock=clock,
        concerns=providers.Singleton(GhlAppEvents, ghl_app),
        uninstalled=providers.Singleton(GhlAgencyUninstall, agency_grants),
    )
    event_handlers = providers.Singleton(
        handlers_by_kind,
        contacts=contact_events,
        messages=message_events,
        appointments=appointment_events,
        opportunities=opportunity_events,
        app_lifecycle=lifecycle_events,
    )
    # --- the providers: each a bundle of the capabilities it has, by template --------------------
    ghl_bundle = providers.Singleton(
        ProviderBundle,
        name=ghl_webhooks.provided.name,
        templates=providers.Object(GHL_TEMPLATES),
        connection=ghl_provider,
        webhooks=ghl_webhooks,
        handlers=event_handlers,
        rate_limit_key=providers.Object(ghl_rate_limit_key),
        connect=providers.Resource(
            _ghl_connect,
            settings=settings,
            app_client=ghl_app,
            agency_grants=agency_grants,
            clock=clock,
        ),
    )
    meta_settings = providers.Singleton(_meta_settings, settings)
    meta_graph = providers.Resource(
        _meta_graph, settings=meta_settings, rate_limiter=observed_rate_limiter
    )
    meta_webhooks = providers.Singleton(
        MetaWebhooks, verify_token=meta_settings.provided.webhook_verify_token
    )
    meta_leads = providers.Singleton(MetaLeads, meta_graph)
    meta_bundle = providers.Singleton(
        ProviderBundle,
        name=meta_webhooks.provided.name,
        templates=providers.Object(META_TEMPLATES),
        connection=providers.Singleton(MetaProvider, meta_graph, clock=clock),
        webhooks=meta_webhooks,
        handshake=meta_webhooks,
        handlers=providers.Singleton(
            _lead_forms,
            providers.Singleton(
                CaptureSubmittedLead,
                fetcher=meta_leads,
                leads=lead_sync,
                cipher=cipher,
            ),
        ),
        funnel=providers.Singleton(MetaConversions, meta_graph, clock=clock),
        backfill=meta_leads,
        rate_limit_key=providers.Object(meta_rate_limit_key),
        connect=providers.Singleton(
            MetaConnectFlow, meta_graph, authorize_url=settings.provided.meta_oauth_authorize_url
        ),
    )
    ga4_http = providers.Resource(_ga4_http, rate_limiter=rate_limiter, settings=settings)
    google_oauth = providers.Resource(_google_oauth, settings)
    ga4_bundle = providers.Singleton(
        ProviderBundle,
        name="ga4",
        templates=providers.Object(GA4_TEMPLATES),
        connection=providers.Singleton(Ga4Provider, ga4_http, clock=clock, oauth=google_oauth),
        funnel=providers.Singleton(Ga4Measurement, ga4_http, clock=clock),
        connect=providers.Singleton(_ga4_connect, ga4_http, google_oauth, clock),
    )
    provider_registry = providers.Singleton(
        ProviderRegistry, providers.List(ghl_bundle, meta_bundle, ga4_bundle)
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
    receive_webhooks = providers.Singleton(
        _receive_webhooks,
        registry=provider_registry,
        targets=webhook_targets,
        verifier=webhook_verifier,
        inbox=inbox_writer,
        platform=providers.Singleton(SqlAlchemyPlatformDeliveries, engine),
        cipher=cipher,
        ids=ids,
        clock=clock,
        settings=settings,
    )
    webhook_handshakes = providers.Singleton(_handshakes, provider_registry)
    webhook_use_cases = providers.Singleton(
        WebhookUseCases,
        list_deliveries=providers.Factory(ListWebhookDeliveries, uow=uow),
        replay_delivery=providers.Factory(ReplayWebhookDelivery, uow=uow, clock=clock),
    )
    # --- connecting an account by signing in at its provider (OAuth 2.0) ------------------------
    connect_policy = providers.Singleton(_connect_policy, settings)
    connection_sessions = providers.Singleton(SqlAlchemyConnectionSessions, session_factory)
    connect_providers = providers.Singleton(_connect_providers, provider_registry)
    account_linker = providers.Singleton(
        AccountLinker,
        uow=uow,
        sessions=connection_sessions,
        validator=validator,
        cipher=cipher,
        tester=tester,
        tokens=token_store,
        ids=ids,
        clock=clock,
        policy=connect_policy,
    )
    complete_connection = providers.Singleton(
        CompleteConnection,
        sessions=connection_sessions,
        providers=provider_registry,
        linker=account_linker,
        cipher=cipher,
        clock=clock,
        policy=connect_policy,
    )
    connection_use_cases = providers.Singleton(
        ConnectionUseCases,
        start=providers.Factory(
            StartConnection,
            uow=uow,
            sessions=connection_sessions,
            providers=provider_registry,
            validator=validator,
            cipher=cipher,
            clock=clock,
            policy=connect_policy,
        ),
        get=providers.Factory(GetConnectionSession, sessions=connection_sessions, clock=clock),
        choose=providers.Factory(
            ChooseConnectionAccounts,
            sessions=connection_sessions,
            providers=provider_registry,
            linker=account_linker,
            cipher=cipher,
            clock=clock,
        ),
    )
    # --- leads, bookings and the tenant directory over gRPC ------------------------------------
    directory_use_cases = providers.Singleton(
        DirectoryUseCases,
        list_users=providers.Factory(ListDirectoryUsers, directory=tenant_directory),
        replace_users=providers.Factory(ReplaceDirectoryUsers, directory=tenant_directory),
    )
    reply_sender = providers.Singleton(
        ReplySender,
        providers.Singleton(SendPendingReplies, uow=uow, crm=ghl, cipher=cipher, clock=clock),
    )
    # --- the lead funnel sent out: the outbox's funnel steps, to each integration's sink -------
    funnel_queue = providers.Singleton(SqlAlchemyFunnelQueue, engine)
    funnel_worker = providers.Singleton(
        FunnelWorker,
        dispatch=providers.Singleton(
            DispatchFunnelEvents,
            outbox=providers.Singleton(SqlAlchemyOutboxReader, session_factory),
            queue=funnel_queue,
            funnel_templates=providers.Singleton(_funnel_templates, provider_registry),
            clock=clock,
        ),
        send=providers.Singleton(
            SendFunnelEvents,
            queue=funnel_queue,
            uow=uow,
            cipher=cipher,
            sinks=provider_registry.provided.funnel_sink,
            clock=clock,
            credentials_refused=tester.provided.credentials_refused,
        ),
        queue=funnel_queue,
        clock=clock,
    )
    inbox_worker = providers.Singleton(
        _inbox_worker,
        uow=uow,
        handlers=provider_registry.provided.handlers,
        clock=clock,
        settings=settings,
        wakeup=inbox_wakeup,
        tester=tester,
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
            senders=providers.Singleton(_webhook_senders, provider_registry),
        ),
        sync_stats=providers.Singleton(
            CachedSyncStats, providers.Singleton(SqlAlchemySyncStats, engine)
        ),
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
        crm_templates=GHL_TEMPLATE_NAMES,
    )
    sync_scheduler = providers.Singleton(
        _sync_scheduler,
        sync=sync_integration,
        push=push_changes,
        leases=sync_leases,
        backfill=providers.Singleton(
            BackfillSubmittedLeads,
            uow=uow,
            cipher=cipher,
            leads=lead_sync,
            sources=provider_registry.provided.lead_backfill,
            clock=clock,
        ),
        registry=provider_registry,
        clock=clock,
        settings=settings,
    )

    # --- the use cases over gRPC, last: they use every part above ----------------------------
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
        get_integration_health=providers.Factory(
            GetIntegrationHealth,
            uow=uow,
            tester=tester,
            webhooks=providers.Singleton(SqlAlchemyWebhookActivity, engine),
            unverified=signature_failures,
            rate_limits=observed_rate_limiter,
            rate_limit_key=provider_registry.provided.rate_limit_key,
            sync=providers.Singleton(SqlAlchemySyncHistory, engine),
            clock=clock,
            funnel=funnel_queue,
            takes_funnel=providers.Singleton(_takes_funnel, provider_registry),
        ),
        sync_integration=sync_integration,
        # Changes accepted before a delete are pushed before the integration goes.
        delete_integration=providers.Factory(
            DeleteIntegration, uow=uow, clock=clock, pending=push_changes
        ),
    )
    lead_use_cases = providers.Singleton(
        LeadUseCases,
        list_leads=providers.Factory(ListLeads, uow=uow),
        get_lead=providers.Factory(GetLead, uow=uow),
        list_bookings=providers.Factory(ListBookings, uow=uow),
        create_lead=providers.Factory(CreateLead, uow=uow, leads=lead_sync, ids=ids, clock=clock),
        update_lead=providers.Factory(
            UpdateLead, uow=uow, ids=ids, clock=clock, crm_templates=GHL_TEMPLATE_NAMES
        ),
        create_booking=providers.Factory(CreateBooking, uow=uow, ids=ids, clock=clock),
        cancel_booking=providers.Factory(CancelBooking, uow=uow, ids=ids, clock=clock),
    )

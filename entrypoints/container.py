"""The composition root: the only module that knows which adapter implements which port."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.clock import SystemClock
from adapters.crypto.envelope import DataKeyCache, EnvelopeCipher
from adapters.crypto.key_manager import KeyManager
from adapters.crypto.master_keys import MasterKeyRing
from adapters.ghl.client import HttpGhlClient
from adapters.ghl.provider import GhlProvider
from adapters.ids import Uuid7Generator
from adapters.persistence.data_keys import SqlAlchemyDataKeyStore
from adapters.persistence.engine import create_engine, create_session_factory
from adapters.persistence.oauth_tokens import SqlAlchemyTokenStore
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from adapters.providers.registry import StaticProviderRegistry
from adapters.ratelimit import TokenBucketRateLimiter
from adapters.schema import JsonSchemaConfigValidator
from application.calendar_access import GhlCalendarAccess
from application.connection import ConnectionTester
from application.ghl import RateLimiter, TokenStore
from application.ports import Clock
from application.use_cases.create_block_slot import CreateBlockSlot
from application.use_cases.create_integration import CreateIntegration
from application.use_cases.create_template import CreateTemplate
from application.use_cases.delete_integration import DeleteIntegration
from application.use_cases.get_free_slots import GetFreeSlots
from application.use_cases.get_integration import GetIntegration, ListIntegrations
from application.use_cases.get_template import GetTemplate, ListTemplates
from application.use_cases.rotate_data_keys import RotateDataKeys
from application.use_cases.seed_templates import SeedTemplates
from application.use_cases.switch_integration import DeactivateIntegration, ReactivateIntegration
from application.use_cases.test_integration import TestIntegration
from application.use_cases.update_integration import UpdateIntegration
from application.use_cases.update_template import UpdateTemplate
from entrypoints.auth import JwtAuthenticator
from entrypoints.config import Settings
from entrypoints.grpc.servicers import GrpcUseCases


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


class Container(containers.DeclarativeContainer):
    """`await container.init_resources()` before use, `shutdown_resources()` after."""

    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator)
    validator = providers.Singleton(JsonSchemaConfigValidator)

    engine = providers.Resource(_engine, url=settings.provided.database_url)
    session_factory = providers.Singleton(create_session_factory, engine)
    uow = providers.Singleton(SqlAlchemyUnitOfWorkFactory, session_factory)

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

    # In-process buckets: right for one copy; several copies share one through Redis.
    rate_limiter = providers.Singleton(TokenBucketRateLimiter)
    token_store = providers.Singleton(SqlAlchemyTokenStore, session_factory, cipher, clock)
    ghl = providers.Resource(
        _ghl_client,
        rate_limiter=rate_limiter,
        token_store=token_store,
        base_url=settings.provided.ghl_api_base_url,
        clock=clock,
    )
    ghl_provider = providers.Singleton(GhlProvider, ghl)
    provider_registry = providers.Singleton(
        StaticProviderRegistry,
        providers.Dict(gohighlevel=ghl_provider, gohighlevel_oauth=ghl_provider),
    )
    tester = providers.Singleton(
        ConnectionTester, uow_factory=uow, providers=provider_registry, cipher=cipher, clock=clock
    )

    calendar_access = providers.Singleton(
        GhlCalendarAccess, uow_factory=uow, cipher=cipher, tester=tester
    )

    seed_templates = providers.Factory(
        SeedTemplates, uow=uow, validator=validator, ids=ids, clock=clock
    )
    rotate_data_keys = providers.Factory(
        RotateDataKeys, uow=uow, cipher=cipher, keys=key_manager, clock=clock
    )

    grpc_use_cases = providers.Singleton(
        GrpcUseCases,
        list_templates=providers.Factory(ListTemplates, uow=uow),
        get_template=providers.Factory(GetTemplate, uow=uow),
        create_template=providers.Factory(
            CreateTemplate, uow=uow, validator=validator, ids=ids, clock=clock
        ),
        update_template=providers.Factory(
            UpdateTemplate, uow=uow, validator=validator, clock=clock
        ),
        list_integrations=providers.Factory(ListIntegrations, uow=uow),
        get_integration=providers.Factory(GetIntegration, uow=uow),
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
        delete_integration=providers.Factory(DeleteIntegration, uow=uow, clock=clock),
        test_integration=providers.Factory(TestIntegration, uow=uow, tester=tester),
        deactivate_integration=providers.Factory(DeactivateIntegration, uow=uow, clock=clock),
        reactivate_integration=providers.Factory(
            ReactivateIntegration, uow=uow, tester=tester, clock=clock
        ),
        get_free_slots=providers.Factory(GetFreeSlots, access=calendar_access, ghl=ghl),
        create_block_slot=providers.Factory(CreateBlockSlot, access=calendar_access, ghl=ghl),
    )

    authenticator = providers.Singleton(
        JwtAuthenticator,
        hs256_secret=settings.provided.jwt_secret,
        jwks_file=settings.provided.jwt_jwks_file,
        issuer=settings.provided.jwt_issuer,
        audience=settings.provided.jwt_audience,
    )

"""Helpers for the crypto tests, and the rotation-under-concurrent-writes scenario that runs on
the fakes here and on the real databases in tests/integration/crypto."""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from adapters.crypto.envelope import DataKeyCache, EnvelopeCipher
from adapters.crypto.key_manager import KeyManager
from adapters.crypto.master_keys import MasterKeyRing, generate_master_key
from adapters.ids import Uuid7Generator
from application.connection import ConnectionTester
from application.ports import (
    DataKeyRotation,
    DataKeyStore,
    IdGenerator,
    IntegrationFilter,
    PageRequest,
    SecretBinding,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.use_cases.create_integration import CreateIntegration, CreateIntegrationCommand
from application.use_cases.rotate_data_keys import (
    RotateDataKeys,
    RotateDataKeysCommand,
    RotateDataKeysResult,
)
from application.use_cases.update_integration import UpdateIntegration, UpdateIntegrationCommand
from domain.errors import ConcurrencyError, FieldViolation
from domain.integration import Integration
from domain.template import ConfigSchema, IntegrationTemplate
from domain.values import Principal, Role
from tests.fakes import FakeProvider, FakeProviderRegistry, FakeUnitOfWorkFactory

ADMIN = Principal("admin-1", Role.ADMIN)
SCHEMA = {
    "type": "object",
    "properties": {
        "apiKey": {"type": "string", "required": True, "encrypted": True},
        "webhookSecret": {"type": "string", "encrypted": True},
        "locationId": {"type": "string"},
    },
}
T = TypeVar("T")


class TickingClock:
    """A clock that moves one millisecond per reading, so every data key is strictly newer."""

    def __init__(self) -> None:
        self._current = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self._current += timedelta(milliseconds=1)
        return self._current


class AcceptingValidator:
    """Accepts every config: these tests are about secrets, not schemas."""

    def check_schema(self, schema: ConfigSchema) -> list[FieldViolation]:
        return []

    def validate(
        self, template: IntegrationTemplate, config: dict[str, Any]
    ) -> list[FieldViolation]:
        return []


class Yielding:
    """Proxies an object whose coroutine methods first yield to the event loop, so that
    concurrent tasks interleave at every storage call, as they would on a real database."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return await attr(*args, **kwargs)

        return call


class YieldingUnitOfWork:
    """A FakeUnitOfWork whose repository calls yield first. Nothing yields between a repository
    write and the commit that follows it: the fake checks versions when writing, not when
    committing, so a yield there would let two writers both pass the check (a real database
    holds the row lock until commit instead)."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner
        self.templates: Any = Yielding(inner.templates)
        self.integrations: Any = Yielding(inner.integrations)

    async def __aenter__(self) -> Self:
        await asyncio.sleep(0)
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await self._inner.commit()

    async def rollback(self) -> None:
        await self._inner.rollback()


class YieldingUnitOfWorkFactory:
    def __init__(self, inner: FakeUnitOfWorkFactory | None = None) -> None:
        self.inner = inner or FakeUnitOfWorkFactory()

    def __call__(self) -> YieldingUnitOfWork:
        return YieldingUnitOfWork(self.inner())


@dataclass
class Crypto:
    """The crypto adapters of one process, sharing one data key cache."""

    store: DataKeyStore
    keyring: MasterKeyRing
    cipher: EnvelopeCipher
    keys: KeyManager

    @classmethod
    def over(
        cls,
        store: DataKeyStore,
        *,
        keyring: MasterKeyRing | None = None,
        ids: IdGenerator | None = None,
        clock: TickingClock | None = None,
        cache: DataKeyCache | None = None,
    ) -> Crypto:
        keyring = keyring or MasterKeyRing.parse(generate_master_key())
        ids = ids or Uuid7Generator()
        clock = clock or TickingClock()
        cache = cache if cache is not None else DataKeyCache()
        return cls(
            store=store,
            keyring=keyring,
            cipher=EnvelopeCipher(store, keyring, ids, clock, cache=cache),
            keys=KeyManager(store, keyring, ids=ids, clock=clock, cache=cache),
        )

    def fresh_process(self) -> Crypto:
        """The same store and keys as seen by another process: an empty cache."""
        return Crypto.over(self.store, keyring=self.keyring)


async def add_template(uow: UnitOfWorkFactory, ids: IdGenerator) -> IntegrationTemplate:
    template = IntegrationTemplate.create(
        id=ids.new_id(),
        name="gohighlevel",
        display_name="GoHighLevel",
        config_schema=ConfigSchema.from_source(SCHEMA),
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    async with uow() as tx:
        await tx.templates.add(template)
        await tx.commit()
    return template


async def all_integrations(uow: UnitOfWorkFactory) -> list[Integration]:
    found: list[Integration] = []
    page = PageRequest(100)
    while True:
        async with uow() as tx:
            result = await tx.integrations.list_page(IntegrationFilter(), page)
        found.extend(result.items)
        if result.next_after_id is None:
            return found
        page = PageRequest(100, result.next_after_id)


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """Call until no ConcurrencyError: a client retrying after ABORTED."""
    while True:
        try:
            return await call()
        except ConcurrencyError:
            await asyncio.sleep(0)


async def rotation_under_concurrent_writes(
    uow: UnitOfWorkFactory,
    store: DataKeyStore,
    *,
    seed: int,
    sub_accounts: tuple[str, ...] = ("sub-a", "sub-b"),
    integrations_per_sub_account: int = 3,
    settle_seconds: float = 0.05,
    jitter_seconds: float = 0.002,
) -> RotateDataKeysResult:
    """Writers update secrets (UpdateIntegration) and create integrations (CreateIntegration)
    while RotateDataKeys runs; afterwards, read by a process with a cold cache, every secret
    holds the latest value written, no secret is sealed under a deleted key and every key that
    existed before the rotation is gone."""
    rng = random.Random(seed)
    ids = Uuid7Generator()
    clock = TickingClock()
    crypto = Crypto.over(store, ids=ids, clock=clock)
    template = await add_template(uow, ids)
    tester = ConnectionTester(
        uow, FakeProviderRegistry({template.name: FakeProvider()}), crypto.cipher, clock
    )
    create = CreateIntegration(
        uow=uow,
        validator=AcceptingValidator(),
        cipher=crypto.cipher,
        tester=tester,
        ids=ids,
        clock=clock,
    )
    update = UpdateIntegration(
        uow=uow, validator=AcceptingValidator(), cipher=crypto.cipher, tester=tester, clock=clock
    )
    latest: dict[tuple[str, str], str] = {}

    async def create_one(sub_account_id: str, label: str) -> str:
        config = {
            "apiKey": f"api-key-{label}-initial-value",
            "webhookSecret": f"webhook-secret-{label}-value",
            "locationId": f"location-{label}",
        }
        result = await create.execute(
            CreateIntegrationCommand(
                actor=ADMIN,
                sub_account_id=sub_account_id,
                template=template.name,
                name=f"integration {label}",
                config=config,
            )
        )
        integration_id = result.integration.id
        latest[(integration_id, "apiKey")] = config["apiKey"]
        latest[(integration_id, "webhookSecret")] = config["webhookSecret"]
        return integration_id

    existing = [
        await create_one(sub, f"{sub}-{n}")
        for sub in sub_accounts
        for n in range(integrations_per_sub_account)
    ]
    keys_before = {key.key_id for key in await store.list_all()}
    # The writers must get going while the rotation runs: on a slow machine it could otherwise
    # end before they did. The old keys are deleted only once they have.
    overlapped = asyncio.Event()
    rotate = RotateDataKeys(
        uow=uow,
        cipher=crypto.cipher,
        keys=_DeletesOnce(crypto.keys, overlapped),
        clock=clock,
        settle_seconds=settle_seconds,
    )
    rotation = asyncio.create_task(rotate.execute(RotateDataKeysCommand()))
    writes_during_rotation = 0

    async def writer(integration_id: str) -> None:
        nonlocal writes_during_rotation
        n = 0
        # Keep writing until the rotation is over, then a few more times.
        while not rotation.done() or n < 3:
            n += 1
            value = f"api-key-{integration_id}-write-{n:04d}"
            command = UpdateIntegrationCommand(
                actor=ADMIN,
                integration_id=integration_id,
                update_mask=("config.apiKey",),
                config={"apiKey": value},
            )
            await retrying(functools.partial(update.execute, command))
            latest[(integration_id, "apiKey")] = value
            writes_during_rotation += not rotation.done()
            if writes_during_rotation > len(existing):
                overlapped.set()
            await asyncio.sleep(rng.uniform(0, jitter_seconds))

    async def creator(sub_account_id: str) -> None:
        n = 0
        while not rotation.done():
            n += 1
            await create_one(sub_account_id, f"{sub_account_id}-new-{n}")
            await asyncio.sleep(rng.uniform(0, jitter_seconds * 5))

    await asyncio.gather(
        rotation,
        *(writer(integration_id) for integration_id in existing),
        *(creator(sub) for sub in sub_accounts),
    )
    result = rotation.result()

    assert writes_during_rotation > len(existing)
    cold = crypto.fresh_process()
    keys_after = {key.key_id for key in await store.list_all()}
    integrations = await all_integrations(uow)
    assert len(integrations) > len(existing)
    for integration in integrations:
        for field, secret in integration.secrets.items():
            assert secret.key_id in keys_after
            binding = SecretBinding(integration.sub_account_id, integration.id, field)
            plaintext = await cold.cipher.decrypt(binding, secret)
            assert plaintext.reveal() == latest[(integration.id, field)]
    assert keys_before.isdisjoint(keys_after)
    assert result.keys_deleted == len(keys_before)
    assert result.secrets_skipped == 0
    assert result.sub_accounts == len(sub_accounts)
    return result


class _DeletesOnce:
    """A DataKeyRotation whose deletions of old keys wait (a generous bound) for `ready`."""

    def __init__(self, inner: DataKeyRotation, ready: asyncio.Event) -> None:
        self._inner = inner
        self._ready = ready

    async def create_data_key(self, sub_account_id: str) -> str:
        return await self._inner.create_data_key(sub_account_id)

    async def delete_unused_data_keys(self, sub_account_id: str, in_use: AbstractSet[str]) -> int:
        await asyncio.wait_for(self._ready.wait(), timeout=120)
        return await self._inner.delete_unused_data_keys(sub_account_id, in_use)

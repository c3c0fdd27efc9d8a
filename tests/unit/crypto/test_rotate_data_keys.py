"""RotateDataKeys on the fakes: re-encryption under fresh data keys while writers keep writing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from application.connection import ConnectionTester
from application.ports import SecretBinding, WrappedDataKey
from application.use_cases.rotate_data_keys import RotateDataKeys, RotateDataKeysCommand
from application.use_cases.update_integration import UpdateIntegration, UpdateIntegrationCommand
from domain.integration import Integration
from domain.values import EncryptedSecret, SecretStr
from tests.fakes import (
    FakeProviderRegistry,
    FakeUnitOfWork,
    FakeUnitOfWorkFactory,
    InMemoryDataKeyStore,
    SequentialIds,
)
from tests.unit.crypto.support import (
    ADMIN,
    AcceptingValidator,
    Crypto,
    TickingClock,
    Yielding,
    YieldingUnitOfWorkFactory,
    add_template,
    all_integrations,
    rotation_under_concurrent_writes,
)

FIELDS = ("apiKey", "webhookSecret")


class HookedCipher:
    """The cipher, with a one-shot hook run before the next encryption: to interleave another
    writer at an exact point of the rotation."""

    def __init__(self, crypto: Crypto) -> None:
        self._inner = crypto.cipher
        self.before_encrypt: Callable[[], Awaitable[None]] | None = None

    async def encrypt(self, binding: SecretBinding, plaintext: SecretStr) -> EncryptedSecret:
        hook, self.before_encrypt = self.before_encrypt, None
        if hook is not None:
            await hook()
        return await self._inner.encrypt(binding, plaintext)

    async def decrypt(self, binding: SecretBinding, secret: EncryptedSecret) -> SecretStr:
        return await self._inner.decrypt(binding, secret)

    async def needs_reencryption(self, sub_account_id: str, secret: EncryptedSecret) -> bool:
        return await self._inner.needs_reencryption(sub_account_id, secret)


class HookedUnitOfWorkFactory:
    """Units of work whose next integration update first runs a one-shot hook: to land another
    writer's commit between the rotation's read and its write."""

    def __init__(self, inner: FakeUnitOfWorkFactory) -> None:
        self._inner = inner
        self.before_update: Callable[[], Awaitable[None]] | None = None
        self.updates = 0

    def __call__(self) -> FakeUnitOfWork:
        uow = self._inner()
        write = uow.integrations.update

        async def update(integration: Integration) -> None:
            self.updates += 1
            hook, self.before_update = self.before_update, None
            if hook is not None:
                await hook()
            await write(integration)

        uow.integrations.update = update  # type: ignore[method-assign]
        return uow


class NotifyingStore(InMemoryDataKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.added = asyncio.Event()

    async def add(self, key: WrappedDataKey) -> None:
        await super().add(key)
        self.added.set()


async def _add_integration(
    uow: FakeUnitOfWorkFactory,
    crypto: Crypto,
    sub_account_id: str,
    integration_id: str,
    *,
    template_id: str = "tpl-1",
) -> None:
    secrets = {
        field: await crypto.cipher.encrypt(
            SecretBinding(sub_account_id, integration_id, field),
            SecretStr(f"{integration_id}-{field}-value"),
        )
        for field in FIELDS
    }
    integration = Integration.create(
        id=integration_id,
        sub_account_id=sub_account_id,
        template_id=template_id,
        template_name="gohighlevel",
        name=integration_id,
        secrets=secrets,
        now=TickingClock().now(),
    )
    async with uow() as tx:
        await tx.integrations.add(integration)
        await tx.commit()


async def _plaintexts(uow: FakeUnitOfWorkFactory, crypto: Crypto) -> dict[tuple[str, str], str]:
    cold = crypto.fresh_process()
    return {
        (i.id, field): (
            await cold.cipher.decrypt(SecretBinding(i.sub_account_id, i.id, field), secret)
        ).reveal()
        for i in await all_integrations(uow)
        for field, secret in i.secrets.items()
    }


async def test_rotation_reencrypts_every_secret_under_fresh_keys_and_deletes_the_old_ones(
    store: InMemoryDataKeyStore, crypto: Crypto
) -> None:
    uow = FakeUnitOfWorkFactory()
    for sub in ("sub-a", "sub-b"):
        await _add_integration(uow, crypto, sub, f"{sub}-int-1")
        await crypto.keys.create_data_key(sub)  # the second integration: a newer key
        await _add_integration(uow, crypto, sub, f"{sub}-int-2")
    old_keys = set(store.keys)
    before = await _plaintexts(uow, crypto)
    rotate = RotateDataKeys(
        uow=uow, cipher=crypto.cipher, keys=crypto.keys, clock=TickingClock(), settle_seconds=0
    )

    result = await rotate.execute(RotateDataKeysCommand())

    assert (result.sub_accounts, result.secrets_reencrypted) == (2, 8)
    assert (result.keys_deleted, result.secrets_skipped) == (4, 0)
    assert old_keys.isdisjoint(store.keys)
    assert len(store.keys) == 2
    for integration in await all_integrations(uow):
        newest = await store.newest(integration.sub_account_id)
        assert newest is not None
        assert {s.key_id for s in integration.secrets.values()} == {newest.key_id}
    assert await _plaintexts(uow, crypto) == before


async def test_rotation_can_be_limited_to_some_sub_accounts(
    store: InMemoryDataKeyStore, crypto: Crypto
) -> None:
    uow = FakeUnitOfWorkFactory()
    for sub in ("sub-a", "sub-b"):
        await _add_integration(uow, crypto, sub, f"{sub}-int-1")
    untouched = await store.newest("sub-b")
    rotate = RotateDataKeys(
        uow=uow, cipher=crypto.cipher, keys=crypto.keys, clock=TickingClock(), settle_seconds=0
    )

    result = await rotate.execute(RotateDataKeysCommand(sub_account_ids=("sub-a",)))

    assert (result.sub_accounts, result.secrets_reencrypted, result.keys_deleted) == (1, 2, 1)
    assert await store.newest("sub-b") == untouched


async def test_an_unreadable_secret_is_skipped_and_keeps_its_key(
    store: InMemoryDataKeyStore, crypto: Crypto
) -> None:
    uow = FakeUnitOfWorkFactory()
    await _add_integration(uow, crypto, "sub-a", "int-1")
    async with uow() as tx:
        integration = await tx.integrations.get("int-1")
        assert integration is not None
        good = integration.secrets["apiKey"]
        integration.secrets["apiKey"] = EncryptedSecret(good.token[:-6] + "AAAAAA")
        await tx.integrations.update(integration)
        await tx.commit()
    rotate = RotateDataKeys(
        uow=uow, cipher=crypto.cipher, keys=crypto.keys, clock=TickingClock(), settle_seconds=0
    )

    result = await rotate.execute(RotateDataKeysCommand())

    assert (result.secrets_reencrypted, result.secrets_skipped, result.keys_deleted) == (1, 1, 0)
    assert good.key_id in store.keys


@pytest.mark.parametrize("moment", ["while it seals", "between its read and its write"])
async def test_a_concurrent_update_during_reencryption_wins_and_only_the_rest_is_redone(
    crypto: Crypto, moment: str
) -> None:
    uow = FakeUnitOfWorkFactory()
    clock = TickingClock()
    template = await add_template(uow, SequentialIds("tpl"))
    tester = ConnectionTester(uow, FakeProviderRegistry(), crypto.cipher, clock)
    update = UpdateIntegration(
        uow=uow, validator=AcceptingValidator(), cipher=crypto.cipher, tester=tester, clock=clock
    )
    await _add_integration(uow, crypto, "sub-a", "int-1", template_id=template.id)
    command = UpdateIntegrationCommand(
        actor=ADMIN,
        integration_id="int-1",
        update_mask=("config.apiKey",),
        config={"apiKey": "written-during-the-rotation"},
    )

    async def concurrent_update() -> None:
        await update.execute(command)

    hooked_cipher = HookedCipher(crypto)
    hooked_uow = HookedUnitOfWorkFactory(uow)
    if moment == "while it seals":
        hooked_cipher.before_encrypt = concurrent_update
    else:
        hooked_uow.before_update = concurrent_update
    rotate = RotateDataKeys(
        uow=hooked_uow, cipher=hooked_cipher, keys=crypto.keys, clock=clock, settle_seconds=0
    )

    result = await rotate.execute(RotateDataKeysCommand())

    plaintexts = await _plaintexts(uow, crypto)
    assert plaintexts[("int-1", "apiKey")] == "written-during-the-rotation"
    assert plaintexts[("int-1", "webhookSecret")] == "int-1-webhookSecret-value"
    assert hooked_cipher.before_encrypt is None
    assert hooked_uow.before_update is None
    assert hooked_uow.updates == (1 if moment == "while it seals" else 2)
    assert result.secrets_reencrypted == 1
    assert (result.keys_deleted, result.secrets_skipped) == (1, 0)


async def test_a_secret_sealed_under_the_old_key_just_before_rotation_is_not_lost() -> None:
    """A create seals under the old key, the rotation creates the fresh key, then the create
    commits: the settle wait lets the pass see it and re-encrypt it before the old key goes.
    (An update in the same position would fail its version check instead.)"""
    store = NotifyingStore()
    crypto = Crypto.over(store)
    uow = FakeUnitOfWorkFactory()
    clock = TickingClock()
    await _add_integration(uow, crypto, "sub-a", "int-1")
    store.added.clear()
    old_key = await store.newest("sub-a")
    assert old_key is not None
    sealed = asyncio.Event()
    fresh_key_created = asyncio.Event()

    async def slow_create() -> None:
        async with uow() as tx:
            secret = await crypto.cipher.encrypt(
                SecretBinding("sub-a", "int-2", "apiKey"), SecretStr("created-late")
            )
            sealed.set()
            await fresh_key_created.wait()
            await asyncio.sleep(0.02)  # well within the rotation's settle wait
            integration = Integration.create(
                id="int-2",
                sub_account_id="sub-a",
                template_id="tpl-1",
                template_name="gohighlevel",
                name="created late",
                secrets={"apiKey": secret},
                now=clock.now(),
            )
            await tx.integrations.add(integration)
            await tx.commit()

    async def rotation() -> int:
        await sealed.wait()
        rotate = RotateDataKeys(
            uow=uow, cipher=crypto.cipher, keys=crypto.keys, clock=clock, settle_seconds=0.2
        )
        task = asyncio.create_task(rotate.execute(RotateDataKeysCommand()))
        await store.added.wait()
        fresh_key_created.set()
        return (await task).secrets_reencrypted

    _, reencrypted = await asyncio.gather(slow_create(), rotation())

    assert reencrypted == 3
    assert old_key.key_id not in store.keys
    assert (await _plaintexts(uow, crypto))[("int-2", "apiKey")] == "created-late"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rotation_under_concurrent_writes_loses_nothing(seed: int) -> None:
    store = InMemoryDataKeyStore()

    result = await rotation_under_concurrent_writes(
        YieldingUnitOfWorkFactory(), Yielding(store), seed=seed
    )

    assert result.secrets_reencrypted > 0

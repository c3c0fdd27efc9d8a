"""KeyManager: master-key rotation by re-wrapping, fresh data keys, deletion, crypto-shredding."""

from __future__ import annotations

import pytest

from adapters.crypto.master_keys import MasterKeyRing, generate_master_key
from application.ports import SecretBinding, WrappedDataKey
from domain.errors import NotFoundError, SecretUnreadableError
from domain.values import EncryptedSecret, SecretStr
from tests.fakes import InMemoryDataKeyStore
from tests.unit.crypto.support import Crypto

OLD_MASTER = generate_master_key()
NEW_MASTER = generate_master_key()


async def _seal_some(crypto: Crypto) -> dict[SecretBinding, tuple[str, EncryptedSecret]]:
    sealed = {}
    for sub in ("sub-a", "sub-b", "sub-c"):
        for field in ("apiKey", "webhookSecret"):
            binding = SecretBinding(sub, f"{sub}-int", field)
            value = f"{sub}-{field}-plaintext"
            sealed[binding] = (value, await crypto.cipher.encrypt(binding, SecretStr(value)))
    return sealed


async def _assert_readable(
    crypto: Crypto, sealed: dict[SecretBinding, tuple[str, EncryptedSecret]]
) -> None:
    for binding, (value, secret) in sealed.items():
        assert (await crypto.cipher.decrypt(binding, secret)).reveal() == value


async def test_rewrapping_moves_every_data_key_to_the_newest_master_key() -> None:
    store = InMemoryDataKeyStore()
    before = Crypto.over(store, keyring=MasterKeyRing.parse(OLD_MASTER))
    sealed = await _seal_some(before)
    rotated = Crypto.over(store, keyring=MasterKeyRing.parse(f"{NEW_MASTER},{OLD_MASTER}"))
    raw_before = {k.key_id: before.keyring.unwrap(k) for k in await store.list_all()}

    moved = await rotated.keys.rewrap_all()

    assert moved == 3
    after = await store.list_all()
    assert {k.master_key_id for k in after} == {rotated.keyring.newest_id}
    assert {k.key_id: rotated.keyring.unwrap(k) for k in after} == raw_before
    await _assert_readable(rotated.fresh_process(), sealed)


async def test_rewrapping_again_skips_keys_already_under_the_newest_master_key() -> None:
    store = InMemoryDataKeyStore()
    await _seal_some(Crypto.over(store, keyring=MasterKeyRing.parse(OLD_MASTER)))
    rotated = Crypto.over(store, keyring=MasterKeyRing.parse(f"{NEW_MASTER},{OLD_MASTER}"))
    await rotated.keys.rewrap_all()
    wrapped = {k.key_id: k.wrapped for k in await store.list_all()}

    assert await rotated.keys.rewrap_all() == 0
    assert {k.key_id: k.wrapped for k in await store.list_all()} == wrapped


class StaleListingStore(InMemoryDataKeyStore):
    """Lists keys as they were before a concurrent shredding; rewrap reports a missing key."""

    def __init__(self) -> None:
        super().__init__()
        self.listed: list[WrappedDataKey] = []

    async def list_all(self) -> list[WrappedDataKey]:
        return self.listed or await super().list_all()

    async def rewrap(self, key_id: str, *, wrapped: bytes, master_key_id: str) -> None:
        if key_id not in self.keys:
            raise NotFoundError("data key", key_id)
        await super().rewrap(key_id, wrapped=wrapped, master_key_id=master_key_id)


async def test_rewrapping_skips_a_data_key_shredded_meanwhile() -> None:
    store = StaleListingStore()
    await _seal_some(Crypto.over(store, keyring=MasterKeyRing.parse(OLD_MASTER)))
    store.listed = await store.list_all()
    rotated = Crypto.over(store, keyring=MasterKeyRing.parse(f"{NEW_MASTER},{OLD_MASTER}"))
    await rotated.keys.shred("sub-b")

    assert await rotated.keys.rewrap_all() == 2
    assert {k.master_key_id for k in store.keys.values()} == {rotated.keyring.newest_id}


async def test_the_old_master_key_can_be_removed_once_every_data_key_is_rewrapped() -> None:
    store = InMemoryDataKeyStore()
    sealed = await _seal_some(Crypto.over(store, keyring=MasterKeyRing.parse(OLD_MASTER)))
    await Crypto.over(
        store, keyring=MasterKeyRing.parse(f"{NEW_MASTER},{OLD_MASTER}")
    ).keys.rewrap_all()

    new_only = Crypto.over(store, keyring=MasterKeyRing.parse(NEW_MASTER))

    await _assert_readable(new_only, sealed)


async def test_without_rewrapping_a_ring_missing_the_old_master_key_cannot_decrypt() -> None:
    store = InMemoryDataKeyStore()
    sealed = await _seal_some(Crypto.over(store, keyring=MasterKeyRing.parse(OLD_MASTER)))
    new_only = Crypto.over(store, keyring=MasterKeyRing.parse(NEW_MASTER))
    binding, (value, secret) = next(iter(sealed.items()))

    with pytest.raises(SecretUnreadableError, match="not configured") as excinfo:
        await new_only.cipher.decrypt(binding, secret)
    with pytest.raises(SecretUnreadableError):
        await new_only.keys.rewrap_all()

    assert value not in str(excinfo.value)
    assert OLD_MASTER.split(":")[1][:8] not in str(excinfo.value)


async def test_shredding_a_sub_account_makes_its_secrets_unreadable_and_spares_the_others(
    crypto: Crypto,
) -> None:
    sealed = await _seal_some(crypto)
    for binding, (_, secret) in sealed.items():
        await crypto.cipher.decrypt(binding, secret)  # every key now cached

    assert await crypto.keys.shred("sub-a") == 1

    for binding, (value, secret) in sealed.items():
        if binding.sub_account_id == "sub-a":
            with pytest.raises(SecretUnreadableError):
                await crypto.cipher.decrypt(binding, secret)
        else:
            assert (await crypto.cipher.decrypt(binding, secret)).reveal() == value
    assert {k.sub_account_id for k in await crypto.store.list_all()} == {"sub-b", "sub-c"}


async def test_a_fresh_data_key_becomes_the_one_new_secrets_are_sealed_under(
    crypto: Crypto,
) -> None:
    binding = SecretBinding("sub-a", "int-1", "apiKey")
    await crypto.cipher.encrypt(binding, SecretStr("value"))

    key_id = await crypto.keys.create_data_key("sub-a")

    newest = await crypto.store.newest("sub-a")
    assert newest is not None
    assert newest.key_id == key_id
    assert (await crypto.cipher.encrypt(binding, SecretStr("value"))).key_id == key_id


async def test_deleting_unused_data_keys_keeps_the_newest_and_those_in_use(
    crypto: Crypto, store: InMemoryDataKeyStore
) -> None:
    binding = SecretBinding("sub-a", "int-1", "apiKey")
    in_use = await crypto.cipher.encrypt(binding, SecretStr("value"))
    unused = await crypto.keys.create_data_key("sub-a")
    newest = await crypto.keys.create_data_key("sub-a")
    other_tenant = await crypto.keys.create_data_key("sub-b")

    deleted = await crypto.keys.delete_unused_data_keys("sub-a", {in_use.key_id})

    assert deleted == 1
    assert set(store.keys) == {in_use.key_id, newest, other_tenant}
    assert unused not in store.keys
    assert (await crypto.cipher.decrypt(binding, in_use)).reveal() == "value"


async def test_a_deleted_data_key_stops_decrypting_in_the_process_that_deleted_it(
    crypto: Crypto,
) -> None:
    binding = SecretBinding("sub-a", "int-1", "apiKey")
    old = await crypto.cipher.encrypt(binding, SecretStr("value"))
    await crypto.cipher.decrypt(binding, old)  # cached
    await crypto.keys.create_data_key("sub-a")

    assert await crypto.keys.delete_unused_data_keys("sub-a", set()) == 1

    with pytest.raises(SecretUnreadableError, match="no longer exists"):
        await crypto.cipher.decrypt(binding, old)

"""EnvelopeCipher: AES-256-GCM under per-sub-account data keys, bound to integration and field."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import pytest

from adapters.crypto.envelope import DataKeyCache, EnvelopeCipher
from adapters.crypto.key_manager import KeyManager
from adapters.crypto.master_keys import MasterKeyRing, generate_master_key
from application.ports import SecretBinding, WrappedDataKey
from domain.errors import SecretUnreadableError
from domain.values import EncryptedSecret, SecretStr
from tests.fakes import InMemoryDataKeyStore
from tests.unit.crypto.support import Crypto, Yielding

API_KEY = SecretStr("pit-5f3c9a1e-7b2d-4e8a-1a2b")
BINDING = SecretBinding("sub-a", "int-1", "apiKey")


def _payload(token: str) -> bytes:
    encoded = token.split(".")[2]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


class CountingStore(InMemoryDataKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, key_id: str) -> WrappedDataKey | None:
        self.gets += 1
        return await super().get(key_id)


class ManualMonotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_secret_decrypts_to_what_was_encrypted(cipher: EnvelopeCipher) -> None:
    secret = await cipher.encrypt(BINDING, API_KEY)

    assert (await cipher.decrypt(BINDING, secret)).reveal() == API_KEY.reveal()


async def test_a_token_names_its_data_key_and_hides_the_plaintext(
    cipher: EnvelopeCipher, store: InMemoryDataKeyStore
) -> None:
    secret = await cipher.encrypt(BINDING, API_KEY)

    newest = await store.newest("sub-a")
    assert newest is not None
    assert secret.token.startswith(f"v1.{newest.key_id}.")
    assert secret.key_id == newest.key_id
    assert API_KEY.reveal() not in secret.token
    assert len(_payload(secret.token)) == 12 + len(API_KEY.reveal()) + 16
    assert secret.hint == "1a2b"


@pytest.mark.parametrize(
    "moved",
    [
        SecretBinding("sub-a", "int-2", "apiKey"),
        SecretBinding("sub-a", "int-1", "webhookSecret"),
        SecretBinding("sub-b", "int-1", "apiKey"),
    ],
    ids=["another integration", "another field", "another sub-account"],
)
async def test_a_ciphertext_moved_elsewhere_fails_to_decrypt(
    cipher: EnvelopeCipher, moved: SecretBinding
) -> None:
    await cipher.encrypt(SecretBinding("sub-b", "int-9", "apiKey"), SecretStr("other tenant"))
    secret = await cipher.encrypt(BINDING, API_KEY)

    with pytest.raises(SecretUnreadableError):
        await cipher.decrypt(moved, secret)


async def test_the_binding_encoding_is_unambiguous(cipher: EnvelopeCipher) -> None:
    # Plain concatenation would make these two bindings' associated data equal.
    secret = await cipher.encrypt(SecretBinding("sub-a", "int-1", "x"), API_KEY)

    with pytest.raises(SecretUnreadableError):
        await cipher.decrypt(SecretBinding("sub-a", "int-1x", ""), secret)


def _flip_payload_byte(token: str) -> str:
    head, _ = token.rsplit(".", 1)
    raw = bytearray(_payload(token))
    raw[20] ^= 0x01
    return f"{head}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def _flip_nonce_byte(token: str) -> str:
    head, _ = token.rsplit(".", 1)
    raw = bytearray(_payload(token))
    raw[0] ^= 0x80
    return f"{head}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_payload_byte,
        _flip_nonce_byte,
        lambda t: t[:-4],
        lambda t: t.rsplit(".", 1)[0] + ".AAAA",
        lambda t: "v2" + t[2:],
        lambda t: t.replace(".", "!", 1),
        lambda t: t + "=",
        lambda t: "",
    ],
    ids=[
        "ciphertext bit",
        "nonce bit",
        "truncated",
        "too short",
        "unknown version",
        "malformed",
        "padding",
        "empty",
    ],
)
async def test_a_tampered_token_fails_to_decrypt(
    cipher: EnvelopeCipher, tamper: Callable[[str], str]
) -> None:
    secret = await cipher.encrypt(BINDING, API_KEY)

    with pytest.raises(SecretUnreadableError) as excinfo:
        await cipher.decrypt(BINDING, EncryptedSecret(tamper(secret.token), secret.hint))

    assert API_KEY.reveal() not in str(excinfo.value)
    assert secret.token.split(".")[2][:12] not in str(excinfo.value)


async def test_a_token_relabelled_with_another_data_key_of_the_same_tenant_fails(
    cipher: EnvelopeCipher, keys: KeyManager
) -> None:
    secret = await cipher.encrypt(BINDING, API_KEY)
    other_key = await keys.create_data_key("sub-a")
    relabelled = secret.token.replace(secret.key_id, other_key)

    with pytest.raises(SecretUnreadableError):
        await cipher.decrypt(BINDING, EncryptedSecret(relabelled, secret.hint))


async def test_a_token_naming_another_tenants_data_key_is_refused(
    cipher: EnvelopeCipher,
) -> None:
    theirs = await cipher.encrypt(SecretBinding("sub-b", "int-1", "apiKey"), API_KEY)
    ours = await cipher.encrypt(BINDING, API_KEY)
    relabelled = ours.token.replace(ours.key_id, theirs.key_id)

    with pytest.raises(SecretUnreadableError, match="another sub-account"):
        await cipher.decrypt(BINDING, EncryptedSecret(relabelled))


async def test_the_same_plaintext_encrypts_differently_each_time(cipher: EnvelopeCipher) -> None:
    secrets = [await cipher.encrypt(BINDING, API_KEY) for _ in range(200)]

    assert len({s.token for s in secrets}) == 200
    assert len({_payload(s.token)[:12] for s in secrets}) == 200
    for secret in secrets[:3]:
        assert (await cipher.decrypt(BINDING, secret)).reveal() == API_KEY.reveal()


async def test_each_sub_account_gets_one_data_key_on_first_use(
    cipher: EnvelopeCipher, store: InMemoryDataKeyStore, crypto: Crypto
) -> None:
    for n in range(3):
        await cipher.encrypt(SecretBinding("sub-a", f"int-{n}", "apiKey"), API_KEY)
        await cipher.encrypt(SecretBinding("sub-b", f"int-{n}", "apiKey"), API_KEY)

    stored = await store.list_all()
    assert sorted(k.sub_account_id for k in stored) == ["sub-a", "sub-b"]
    for key in stored:
        assert key.master_key_id == crypto.keyring.newest_id
        assert len(key.wrapped) == 12 + 32 + 16


async def test_concurrent_first_secrets_of_a_sub_account_share_one_data_key() -> None:
    store = InMemoryDataKeyStore()
    cipher = Crypto.over(Yielding(store)).cipher

    secrets = await asyncio.gather(
        *(cipher.encrypt(SecretBinding("sub-a", f"int-{n}", "apiKey"), API_KEY) for n in range(10))
    )

    assert len(store.keys) == 1
    assert {s.key_id for s in secrets} == set(store.keys)


async def test_a_secret_needs_reencryption_once_a_newer_data_key_exists(
    cipher: EnvelopeCipher, keys: KeyManager
) -> None:
    old = await cipher.encrypt(BINDING, API_KEY)
    assert not await cipher.needs_reencryption("sub-a", old)

    await keys.create_data_key("sub-a")
    new = await cipher.encrypt(BINDING, API_KEY)

    assert await cipher.needs_reencryption("sub-a", old)
    assert not await cipher.needs_reencryption("sub-a", new)
    assert new.key_id != old.key_id
    assert (await cipher.decrypt(BINDING, old)).reveal() == API_KEY.reveal()


async def test_decrypting_reuses_the_unwrapped_data_key() -> None:
    store = CountingStore()
    crypto = Crypto.over(store)
    secret = await crypto.cipher.encrypt(BINDING, API_KEY)
    reader = crypto.fresh_process().cipher

    for _ in range(5):
        await reader.decrypt(BINDING, secret)

    assert store.gets == 1


async def test_the_data_key_cache_is_bounded_and_refills_from_the_store() -> None:
    store = CountingStore()
    cache = DataKeyCache(max_entries=2)
    cipher = Crypto.over(store, cache=cache).cipher
    bindings = [SecretBinding(f"sub-{n}", "int-1", "apiKey") for n in range(3)]
    secrets = [await cipher.encrypt(b, API_KEY) for b in bindings]

    assert len(cache) == 2
    for binding, secret in zip(bindings, secrets, strict=True):
        assert (await cipher.decrypt(binding, secret)).reveal() == API_KEY.reveal()
    assert len(cache) == 2
    assert store.gets >= 1


async def test_another_process_stops_decrypting_a_shredded_key_when_its_cache_entry_expires(
    store: InMemoryDataKeyStore,
) -> None:
    keyring = MasterKeyRing.parse(generate_master_key())
    monotonic = ManualMonotonic()
    server = Crypto.over(
        store, keyring=keyring, cache=DataKeyCache(ttl_seconds=60, monotonic=monotonic)
    )
    operator = Crypto.over(store, keyring=keyring)
    secret = await server.cipher.encrypt(BINDING, API_KEY)

    assert await operator.keys.shred("sub-a") == 1
    monotonic.now = 59.0
    assert (await server.cipher.decrypt(BINDING, secret)).reveal() == API_KEY.reveal()
    monotonic.now = 61.0

    with pytest.raises(SecretUnreadableError, match="no longer exists"):
        await server.cipher.decrypt(BINDING, secret)


async def test_a_keyring_without_the_master_key_of_a_data_key_cannot_decrypt(
    crypto: Crypto,
) -> None:
    secret = await crypto.cipher.encrypt(BINDING, API_KEY)
    stranger = Crypto.over(crypto.store, keyring=MasterKeyRing.parse(generate_master_key()))

    with pytest.raises(SecretUnreadableError) as excinfo:
        await stranger.cipher.decrypt(BINDING, secret)

    assert API_KEY.reveal() not in str(excinfo.value)
    assert excinfo.value.__cause__ is None


async def test_a_secret_under_an_unknown_data_key_is_unreadable(cipher: EnvelopeCipher) -> None:
    secret = await cipher.encrypt(BINDING, API_KEY)

    with pytest.raises(SecretUnreadableError, match="no longer exists"):
        await cipher.decrypt(
            BINDING, EncryptedSecret(secret.token.replace(secret.key_id, "no-such-key"))
        )


def test_a_data_key_cache_needs_room_and_a_lifetime() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        DataKeyCache(max_entries=0)

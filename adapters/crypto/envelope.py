"""EnvelopeCipher: secrets sealed with AES-256-GCM under per-sub-account data keys."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.crypto.master_keys import NONCE_BYTES, MasterKeyRing, length_prefixed
from application.ports import Clock, DataKeyStore, IdGenerator, SecretBinding, WrappedDataKey
from domain.errors import SecretUnreadableError
from domain.values import EncryptedSecret, SecretStr

FORMAT_VERSION = "v1"
_TAG_BYTES = 16
_TOKEN = re.compile(r"^v1\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]+)$")
_SECRET_CONTEXT = b"integrations/secret/v1"


@dataclass(frozen=True, slots=True)
class _CachedKey:
    sub_account_id: str
    aead: AESGCM
    expires_at: float


class DataKeyCache:
    """Unwrapped data keys as ready AESGCM objects (rebuilding one per call doubles the cost of
    a decrypt), least recently used first out beyond `max_entries`.

    Entries live `ttl_seconds`: that is how a process learns that another process deleted or
    shredded a key, it stops decrypting with it within one TTL. In the process that deletes,
    KeyManager evicts the key at once. Share one cache between the cipher and the KeyManager.
    """

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("a data key cache needs max_entries >= 1 and ttl_seconds > 0")
        self._entries: OrderedDict[str, _CachedKey] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._monotonic = monotonic

    def get(self, key_id: str) -> _CachedKey | None:
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        if entry.expires_at <= self._monotonic():
            del self._entries[key_id]
            return None
        self._entries.move_to_end(key_id)
        return entry

    def put(self, key_id: str, sub_account_id: str, aead: AESGCM) -> None:
        self._entries[key_id] = _CachedKey(sub_account_id, aead, self._monotonic() + self._ttl)
        self._entries.move_to_end(key_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def evict(self, key_id: str) -> None:
        self._entries.pop(key_id, None)

    def evict_sub_account(self, sub_account_id: str) -> None:
        for key_id in [k for k, e in self._entries.items() if e.sub_account_id == sub_account_id]:
            del self._entries[key_id]

    def __len__(self) -> int:
        return len(self._entries)


class EnvelopeCipher:
    """Implements application.ports.Cipher.

    A token reads ``v1.<data_key_id>.<base64url(nonce12 || ciphertext+tag)>``. The associated
    data binds it to its sub-account, integration and field, so a token copied anywhere else
    fails to open. The sub-account's newest data key is read from the store on every encrypt,
    never cached: once a rotation has created a fresh key, every writer seals under it.
    """

    def __init__(
        self,
        store: DataKeyStore,
        keyring: MasterKeyRing,
        ids: IdGenerator,
        clock: Clock,
        *,
        cache: DataKeyCache | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._ids = ids
        self._clock = clock
        self._cache = cache if cache is not None else DataKeyCache()
        self._creating = asyncio.Lock()

    async def encrypt(self, binding: SecretBinding, plaintext: SecretStr) -> EncryptedSecret:
        key_id, aead = await self._newest(binding.sub_account_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, plaintext.reveal().encode("utf-8"), _associated(binding))
        payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return EncryptedSecret(token=f"{FORMAT_VERSION}.{key_id}.{payload}", hint=plaintext.hint())

    async def decrypt(self, binding: SecretBinding, secret: EncryptedSecret) -> SecretStr:
        key_id, nonce, sealed = _parse(binding, secret.token)
        aead = await self._data_key(binding, key_id)
        try:
            plaintext = aead.decrypt(nonce, sealed, _associated(binding))
        except InvalidTag:
            raise _unreadable(
                binding, "the secret was tampered with or belongs to another integration or field"
            ) from None
        return SecretStr(plaintext.decode("utf-8"))

    async def needs_reencryption(self, sub_account_id: str, secret: EncryptedSecret) -> bool:
        newest = await self._store.newest(sub_account_id)
        return newest is None or secret.key_id != newest.key_id

    async def _newest(self, sub_account_id: str) -> tuple[str, AESGCM]:
        wrapped = await self._store.newest(sub_account_id)
        if wrapped is not None:
            return wrapped.key_id, self._unwrapped(wrapped)
        # First secret of this sub-account. The lock stops concurrent tasks of this process from
        # each making a key; a key made meanwhile by another process is merely older, and the
        # next RotateDataKeys retires it.
        async with self._creating:
            wrapped = await self._store.newest(sub_account_id)
            if wrapped is not None:
                return wrapped.key_id, self._unwrapped(wrapped)
            key, raw = self._keyring.new_data_key(
                key_id=self._ids.new_id(),
                sub_account_id=sub_account_id,
                created_at=self._clock.now(),
            )
            await self._store.add(key)
        aead = AESGCM(raw)
        self._cache.put(key.key_id, sub_account_id, aead)
        return key.key_id, aead

    async def _data_key(self, binding: SecretBinding, key_id: str) -> AESGCM:
        cached = self._cache.get(key_id)
        if cached is not None:
            owner, aead = cached.sub_account_id, cached.aead
        else:
            wrapped = await self._store.get(key_id)
            if wrapped is None:
                raise _unreadable(binding, "its data key no longer exists (deleted or shredded)")
            owner, aead = wrapped.sub_account_id, self._unwrapped(wrapped)
        if owner != binding.sub_account_id:
            raise _unreadable(binding, "it is sealed under another sub-account's data key")
        return aead

    def _unwrapped(self, wrapped: WrappedDataKey) -> AESGCM:
        cached = self._cache.get(wrapped.key_id)
        if cached is not None:
            return cached.aead
        aead = AESGCM(self._keyring.unwrap(wrapped))
        self._cache.put(wrapped.key_id, wrapped.sub_account_id, aead)
        return aead


def _associated(binding: SecretBinding) -> bytes:
    return _SECRET_CONTEXT + length_prefixed(
        binding.sub_account_id, binding.integration_id, binding.field
    )


def _parse(binding: SecretBinding, token: str) -> tuple[str, bytes, bytes]:
    """Key id, nonce and sealed bytes of a token."""
    match = _TOKEN.match(token)
    if match is None:
        raise _unreadable(binding, "the token is malformed")
    key_id, payload = match.groups()
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raise _unreadable(binding, "the token is malformed") from None
    if len(raw) < NONCE_BYTES + _TAG_BYTES:
        raise _unreadable(binding, "the token is truncated")
    return key_id, raw[:NONCE_BYTES], raw[NONCE_BYTES:]


def _unreadable(binding: SecretBinding, reason: str) -> SecretUnreadableError:
    return SecretUnreadableError(
        f"secret {binding.field!r} of integration {binding.integration_id!r} cannot be "
        f"decrypted: {reason}",
        metadata={"integration_id": binding.integration_id, "field": binding.field},
    )

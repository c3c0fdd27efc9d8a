"""Secrets at rest: the envelope cipher and the data keys it wraps."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain.values import EncryptedSecret, SecretStr


@dataclass(frozen=True, slots=True)
class SecretBinding:
    """What a ciphertext is bound to: its integration and field (the AEAD associated data),
    and the sub-account whose data key seals it."""

    sub_account_id: str
    integration_id: str
    field: str


class Cipher(Protocol):
    """Envelope encryption of secrets: one data key per sub-account, wrapped by a master key."""

    async def encrypt(self, binding: SecretBinding, plaintext: SecretStr) -> EncryptedSecret:
        """Seal under the sub-account's newest data key (created on first use)."""
        ...

    async def decrypt(self, binding: SecretBinding, secret: EncryptedSecret) -> SecretStr:
        """Open a secret; raises SecretUnreadableError if it was sealed for another binding,
        was tampered with, or its data key was shredded."""
        ...

    async def needs_reencryption(self, sub_account_id: str, secret: EncryptedSecret) -> bool:
        """Whether `secret` is sealed under a data key other than the sub-account's newest."""
        ...


@dataclass(frozen=True, slots=True)
class WrappedDataKey:
    """A sub-account's data key as stored: sealed by the master key `master_key_id`."""

    key_id: str
    sub_account_id: str
    wrapped: bytes = field(repr=False)
    master_key_id: str
    created_at: datetime


class DataKeyStore(Protocol):
    """Where wrapped data keys live (this service's database). Each call is its own transaction:
    a data key is committed before anything is sealed with it."""

    async def newest(self, sub_account_id: str) -> WrappedDataKey | None:
        """The sub-account's newest data key: the one new secrets are sealed under."""
        ...

    async def get(self, key_id: str) -> WrappedDataKey | None: ...

    async def add(self, key: WrappedDataKey) -> None: ...

    async def list_all(self) -> list[WrappedDataKey]: ...

    async def rewrap(self, key_id: str, *, wrapped: bytes, master_key_id: str) -> None:
        """Replace a key's wrapping (master-key rotation); the data key itself is unchanged."""
        ...

    async def delete(self, key_id: str) -> None: ...

    async def delete_sub_account(self, sub_account_id: str) -> int:
        """Crypto-shred: forget every data key of a sub-account; returns how many went."""
        ...


class DataKeyRotation(Protocol):
    """Sub-accounts' data keys, as re-encrypting secrets under fresh ones needs them."""

    async def create_data_key(self, sub_account_id: str) -> str:
        """Store a fresh data key; from now on it is the sub-account's newest, the one every new
        secret is sealed under. Returns its id."""
        ...

    async def delete_unused_data_keys(self, sub_account_id: str, in_use: AbstractSet[str]) -> int:
        """Delete the sub-account's data keys whose ids are not in `in_use`, never its newest;
        returns how many went. Secrets sealed under a deleted key are unreadable for good."""
        ...

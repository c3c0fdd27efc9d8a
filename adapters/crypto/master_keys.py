"""Master keys from the environment or a file; they wrap data keys and never reach the database."""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.ports import WrappedDataKey
from domain.errors import SecretUnreadableError

KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WRAP_CONTEXT = b"integrations/data-key/v1"


class MasterKeyError(ValueError):
    """A master key setting is malformed. Messages name positions, never key material."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    key_id: str
    material: bytes = field(repr=False)


class MasterKeyRing:
    """The master keys this process knows, newest first. The newest wraps new data keys; the
    others only unwrap data keys not yet re-wrapped (`integrations keys rotate`)."""

    __slots__ = ("_by_id", "_keys")

    def __init__(self, keys: Sequence[MasterKey]) -> None:
        if not keys:
            raise MasterKeyError("at least one master key is required")
        self._keys = tuple(keys)
        self._by_id = {k.key_id: AESGCM(k.material) for k in self._keys}
        if len(self._by_id) != len(self._keys):
            raise MasterKeyError("master key ids must be unique")

    @classmethod
    def parse(cls, value: str) -> MasterKeyRing:
        """`INTEGRATIONS_MASTER_KEYS`: comma-separated ``<key_id>:<base64 of 32 bytes>``,
        newest first."""
        return cls._from_entries(
            (f"entry {n}", entry) for n, entry in enumerate(value.split(","), start=1)
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> MasterKeyRing:
        """The same entries one per line, newest first; blank lines and ``#`` comments skipped."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise MasterKeyError(
                f"cannot read the master key file {str(path)!r}: {err.strerror}"
            ) from None
        except UnicodeDecodeError:
            # Not chained: the decode error quotes the offending bytes.
            raise MasterKeyError(f"the master key file {str(path)!r} is not UTF-8 text") from None
        return cls._from_entries(
            (f"line {n}", line)
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        )

    @classmethod
    def _from_entries(cls, entries: Iterable[tuple[str, str]]) -> MasterKeyRing:
        keys: list[MasterKey] = []
        first_seen: dict[str, str] = {}
        for where, entry in entries:
            key = _parse_entry(where, entry.strip())
            if key.key_id in first_seen:
                raise MasterKeyError(f"{where}: key id already used by {first_seen[key.key_id]}")
            first_seen[key.key_id] = where
            keys.append(key)
        return cls(keys)

    @property
    def newest_id(self) -> str:
        return self._keys[0].key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self._keys)

    def wrap(self, *, key_id: str, sub_account_id: str, data_key: bytes) -> tuple[bytes, str]:
        """Seal a data key under the newest master key: ``nonce12 || ciphertext+tag`` and the
        master key's id."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._by_id[self.newest_id].encrypt(
            nonce, data_key, _wrap_context(key_id, sub_account_id)
        )
        return nonce + sealed, self.newest_id

    def unwrap(self, key: WrappedDataKey) -> bytes:
        """The raw data key; SecretUnreadableError if its master key is not in this ring or the
        wrapping does not belong to this key id and sub-account."""
        master = self._by_id.get(key.master_key_id)
        if master is None:
            raise SecretUnreadableError(
                "the master key that wraps this data key is not configured",
                metadata={"data_key_id": key.key_id, "master_key_id": key.master_key_id},
            )
        try:
            data_key = master.decrypt(
                key.wrapped[:NONCE_BYTES],
                key.wrapped[NONCE_BYTES:],
                _wrap_context(key.key_id, key.sub_account_id),
            )
        except (InvalidTag, ValueError):
            raise SecretUnreadableError(
                "a data key cannot be unwrapped", metadata={"data_key_id": key.key_id}
            ) from None
        if len(data_key) != KEY_BYTES:
            raise SecretUnreadableError(
                "a data key has the wrong length", metadata={"data_key_id": key.key_id}
            )
        return data_key

    def new_data_key(
        self, *, key_id: str, sub_account_id: str, created_at: datetime
    ) -> tuple[WrappedDataKey, bytes]:
        """A fresh random data key: as stored (wrapped) and raw."""
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        wrapped, master_key_id = self.wrap(
            key_id=key_id, sub_account_id=sub_account_id, data_key=data_key
        )
        return WrappedDataKey(key_id, sub_account_id, wrapped, master_key_id, created_at), data_key

    def __repr__(self) -> str:
        return f"MasterKeyRing(key_ids={self.key_ids!r})"


def generate_master_key(now: datetime | None = None) -> str:
    """A new ``<key_id>:<base64>`` entry; the id is the UTC date and time plus 4 random hex
    digits, so ids are unique, short and say when the key was made."""
    moment = now or datetime.now(UTC)
    key_id = f"{moment.astimezone(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def length_prefixed(*parts: str) -> bytes:
    """An unambiguous encoding of several strings: each is preceded by its 4-byte length."""
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def _wrap_context(key_id: str, sub_account_id: str) -> bytes:
    return _WRAP_CONTEXT + length_prefixed(key_id, sub_account_id)


def _parse_entry(where: str, entry: str) -> MasterKey:
    key_id, sep, encoded = entry.partition(":")
    key_id, encoded = key_id.strip(), encoded.strip()
    if not sep or not key_id or not encoded:
        raise MasterKeyError(f"{where}: expected <key_id>:<base64 of {KEY_BYTES} bytes>")
    if not _KEY_ID.match(key_id):
        raise MasterKeyError(f"{where}: a key id is 1-64 letters, digits, '-' or '_'")
    try:
        material = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{where}: the key is not valid base64") from None
    if len(material) != KEY_BYTES:
        raise MasterKeyError(f"{where}: the key must be {KEY_BYTES} bytes, got {len(material)}")
    return MasterKey(key_id, material)

"""KeyManager: data keys' lifecycle: master-key rotation, fresh keys, deletion, crypto-shredding."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from adapters.clock import SystemClock
from adapters.crypto.envelope import DataKeyCache
from adapters.crypto.master_keys import MasterKeyRing
from adapters.ids import Uuid7Generator
from application.ports import Clock, DataKeyStore, IdGenerator
from domain.errors import NotFoundError


class KeyManager:
    """Implements application.ports.DataKeyRotation, plus the operator's key commands.

    Pass it the DataKeyCache of this process's EnvelopeCipher, so that keys it deletes stop
    decrypting here at once (other processes drop them when their cache entries expire).
    """

    def __init__(
        self,
        store: DataKeyStore,
        keyring: MasterKeyRing,
        *,
        ids: IdGenerator | None = None,
        clock: Clock | None = None,
        cache: DataKeyCache | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._ids = ids or Uuid7Generator()
        self._clock = clock or SystemClock()
        self._cache = cache

    async def rewrap_all(self) -> int:
        """Re-wrap every data key under the newest master key; returns how many moved.

        Online and cheap: the data keys, hence every secret, stay as they are, and a key reads
        the same under either wrapping. Keys already under the newest master key are skipped,
        so it is safe to re-run. Retire an old master key only once every process runs with the
        new ring and a last run moved nothing: a process with the old ring may still have
        wrapped a new data key under the old master key.
        """
        moved = 0
        for key in await self._store.list_all():
            if key.master_key_id == self._keyring.newest_id:
                continue
            wrapped, master_key_id = self._keyring.wrap(
                key_id=key.key_id,
                sub_account_id=key.sub_account_id,
                data_key=self._keyring.unwrap(key),
            )
            try:
                await self._store.rewrap(key.key_id, wrapped=wrapped, master_key_id=master_key_id)
            except NotFoundError:
                continue  # deleted or shredded since it was listed
            moved += 1
        return moved

    async def create_data_key(self, sub_account_id: str) -> str:
        key, _ = self._keyring.new_data_key(
            key_id=self._ids.new_id(), sub_account_id=sub_account_id, created_at=self._clock.now()
        )
        await self._store.add(key)
        return key.key_id

    async def delete_unused_data_keys(self, sub_account_id: str, in_use: AbstractSet[str]) -> int:
        newest = await self._store.newest(sub_account_id)
        doomed = [
            key.key_id
            for key in await self._store.list_all()
            if key.sub_account_id == sub_account_id
            and key.key_id not in in_use
            and (newest is None or key.key_id != newest.key_id)
        ]
        for key_id in doomed:
            await self._store.delete(key_id)
            if self._cache is not None:
                self._cache.evict(key_id)
        return len(doomed)

    async def shred(self, sub_account_id: str) -> int:
        """Crypto-shredding: delete every data key of the sub-account, so that its secrets can
        never be decrypted again. Returns how many went. Database backups still hold the wrapped
        keys until they expire, or until the master keys that wrapped them are retired."""
        deleted = await self._store.delete_sub_account(sub_account_id)
        if self._cache is not None:
            self._cache.evict_sub_account(sub_account_id)
        return deleted

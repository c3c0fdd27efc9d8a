"""RotateDataKeys: re-encrypt every secret under fresh data keys while the service keeps writing."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from application.ports import (
    Cipher,
    Clock,
    DataKeyRotation,
    IntegrationFilter,
    PageRequest,
    SecretBinding,
    UnitOfWorkFactory,
)
from domain.errors import ConcurrencyError, SecretUnreadableError
from domain.integration import Integration
from domain.values import EncryptedSecret


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateDataKeysCommand:
    sub_account_ids: tuple[str, ...] = ()
    """The sub-accounts to rotate; empty means every sub-account with integrations."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateDataKeysResult:
    sub_accounts: int
    secrets_reencrypted: int
    keys_deleted: int
    secrets_skipped: int
    """Unreadable secrets, and those of integrations that kept changing; their keys are kept."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    reencrypted: int = 0
    skipped: int = 0


class RotateDataKeys:
    """Rules:
    - every sub-account first gets a fresh data key; from then on the cipher seals every new
      secret under it;
    - then it waits `settle_seconds`, so that writes which picked the previous key before the
      fresh one existed have committed and are seen by the pass (writers seal and commit in one
      short transaction; `settle_seconds` must outlast one). An update that commits later
      still fails its version check, as the pass rewrites every integration holding an old
      key; the wait is what protects creates, and updates that add an integration's first
      secret;
    - each integration's stale secrets are sealed afresh, then swapped in by a short unit of
      work under the optimistic version check; on a conflict it reloads and retries: secrets a
      concurrent writer replaced are already under the fresh key, only the others are redone;
    - last, the keys that no stored secret references any more are deleted, never the newest.
      A secret that could not be re-encrypted keeps its key alive, so nothing is lost: at worst
      an old key waits for the next rotation.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        cipher: Cipher,
        keys: DataKeyRotation,
        clock: Clock,
        settle_seconds: float = 5.0,
        page_size: int = 100,
        max_attempts: int = 20,
    ) -> None:
        self._uow = uow
        self._cipher = cipher
        self._keys = keys
        self._clock = clock
        self._settle_seconds = settle_seconds
        self._page_size = page_size
        self._max_attempts = max_attempts

    async def execute(self, cmd: RotateDataKeysCommand) -> RotateDataKeysResult:
        sub_account_ids = list(cmd.sub_account_ids)
        if not sub_account_ids:
            async with self._uow() as uow:
                sub_account_ids = await uow.integrations.list_sub_account_ids()
        for sub_account_id in sub_account_ids:
            await self._keys.create_data_key(sub_account_id)
        if sub_account_ids:
            await asyncio.sleep(self._settle_seconds)
        reencrypted = skipped = deleted = 0
        for sub_account_id in sub_account_ids:
            async for integration in self._integrations(sub_account_id):
                outcome = await self._reencrypt(integration)
                reencrypted += outcome.reencrypted
                skipped += outcome.skipped
            in_use: set[str] = set()
            async for integration in self._integrations(sub_account_id):
                in_use.update(secret.key_id for secret in integration.secrets.values())
            deleted += await self._keys.delete_unused_data_keys(sub_account_id, in_use)
        return RotateDataKeysResult(
            sub_accounts=len(sub_account_ids),
            secrets_reencrypted=reencrypted,
            keys_deleted=deleted,
            secrets_skipped=skipped,
        )

    async def _integrations(self, sub_account_id: str) -> AsyncIterator[Integration]:
        """The sub-account's integrations, one short read transaction per page."""
        page = PageRequest(self._page_size)
        while True:
            async with self._uow() as uow:
                result = await uow.integrations.list_page(
                    IntegrationFilter(sub_account_id=sub_account_id), page
                )
            for integration in result.items:
                yield integration
            if result.next_after_id is None:
                return
            page = PageRequest(self._page_size, result.next_after_id)

    async def _reencrypt(self, snapshot: Integration) -> _Outcome:
        """Seal the stale secrets afresh outside any transaction, then swap them in with a short
        one (load, swap, versioned update), so that a busy integration still gets a turn. After
        a conflict it reloads: a secret whose token is unchanged takes the replacement already
        made; one that a writer replaced meanwhile is looked at again."""
        tokens = _Tokens()
        secrets = dict(snapshot.secrets)
        reencrypted = 0
        for attempt in range(self._max_attempts):
            await self._seal_stale(snapshot, secrets, tokens)
            async with self._uow() as uow:
                integration = await uow.integrations.get(snapshot.id)
                if integration is None:
                    return _Outcome(reencrypted=reencrypted)
                secrets = dict(integration.secrets)
                now = self._clock.now()
                swapped = 0
                for name, secret in secrets.items():
                    sealed = tokens.replacements.get((name, secret.token))
                    if sealed is not None:
                        integration.replace_secret(name, sealed, now=now)
                        swapped += 1
                if swapped:
                    try:
                        await uow.integrations.update(integration)
                        await uow.commit()
                    except ConcurrencyError:
                        await _back_off(attempt)
                        continue
                    reencrypted += swapped
                    secrets = dict(integration.secrets)
            if all(tokens.known(name, secret) for name, secret in secrets.items()):
                unreadable = sum(s.token in tokens.unreadable for s in secrets.values())
                return _Outcome(reencrypted=reencrypted, skipped=unreadable)
        left = sum(s.token not in tokens.fresh for s in secrets.values())
        return _Outcome(reencrypted=reencrypted, skipped=left)

    async def _seal_stale(
        self, integration: Integration, secrets: dict[str, EncryptedSecret], tokens: _Tokens
    ) -> None:
        """Classify the secrets not seen yet: fresh, unreadable, or stale and sealed afresh."""
        for name, secret in secrets.items():
            if tokens.known(name, secret):
                continue
            if not await self._cipher.needs_reencryption(integration.sub_account_id, secret):
                tokens.fresh.add(secret.token)
                continue
            binding = SecretBinding(integration.sub_account_id, integration.id, name)
            try:
                plaintext = await self._cipher.decrypt(binding, secret)
            except SecretUnreadableError:
                tokens.unreadable.add(secret.token)
                continue
            sealed = await self._cipher.encrypt(binding, plaintext)
            tokens.replacements[(name, secret.token)] = sealed
            tokens.fresh.add(sealed.token)


@dataclass(slots=True)
class _Tokens:
    """What one integration's re-encryption has learnt about the tokens it has met."""

    fresh: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)
    replacements: dict[tuple[str, str], EncryptedSecret] = field(default_factory=dict)
    """(field, stale token) -> the same plaintext sealed under the newest key."""

    def known(self, name: str, secret: EncryptedSecret) -> bool:
        return (
            secret.token in self.fresh
            or secret.token in self.unreadable
            or (name, secret.token) in self.replacements
        )


async def _back_off(attempt: int) -> None:
    """A random pause growing with the attempts, so that retries do not run in step with the
    writer they collided with."""
    await asyncio.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))  # noqa: S311 - jitter

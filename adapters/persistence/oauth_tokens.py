"""OAuth tokens rotated by a provider, sealed like every secret, in this service's database."""

from __future__ import annotations

import hashlib
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.errors import translated
from adapters.persistence.models import INTEGRATIONS, OAUTH_TOKENS
from adapters.persistence.refresh_locks import lock_key, refresh_lock
from application.ports import Cipher, Clock, SecretBinding
from application.ports.oauth import OAuthTokens
from domain.values import EncryptedSecret, SecretStr

# The config field holding the refresh token an admin configured (gohighlevel_oauth).
CONFIGURED_REFRESH_TOKEN = "refreshToken"  # noqa: S105 - a field name

# The refresh lock is a PostgreSQL advisory lock on (this class, a 32-bit hash of the
# integration id): two integrations that share a hash only take turns. The two-key form never
# meets the outbox's one-key lock.
_REFRESH_LOCK_CLASS: Final = 0x6F617574  # "oaut"


class SqlAlchemyTokenStore:
    """Implements application.ports.oauth.TokenStore. A save commits before it returns. The stored chain
    remembers which configured refresh token it grew from, so that an admin who re-authorises
    (puts a new refresh token in the config) starts a new chain instead of reviving the old."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], cipher: Cipher, clock: Clock
    ) -> None:
        self._session_factory = session_factory
        self._cipher = cipher
        self._clock = clock

    @translated
    async def load_tokens(self, integration_id: str) -> OAuthTokens | None:
        async with self._session_factory() as session:
            integration = (
                await session.execute(
                    select(INTEGRATIONS).where(INTEGRATIONS.c.id == integration_id)
                )
            ).first()
            tokens = (
                await session.execute(
                    select(OAUTH_TOKENS).where(OAUTH_TOKENS.c.integration_id == integration_id)
                )
            ).first()
        if integration is None or tokens is None:
            return None
        sub_account_id = integration.sub_account_id
        if tokens.origin != await self._origin(integration_id, sub_account_id, integration.secrets):
            return None
        return OAuthTokens(
            access_token=await self._open(
                integration_id, sub_account_id, "oauth.access_token", tokens.access_token
            ),
            refresh_token=await self._open(
                integration_id, sub_account_id, "oauth.refresh_token", tokens.refresh_token
            ),
            expires_at=tokens.expires_at,
        )

    @translated
    async def save_rotated_tokens(
        self,
        integration_id: str,
        *,
        refresh_token: SecretStr,
        access_token: SecretStr,
        expires_at: datetime,
    ) -> None:
        async with self._session_factory() as session:
            integration = (
                await session.execute(
                    select(INTEGRATIONS).where(INTEGRATIONS.c.id == integration_id)
                )
            ).first()
        if integration is None:
            return  # deleted meanwhile: its tokens go with it
        sub_account_id = integration.sub_account_id
        values = {
            "integration_id": integration_id,
            "refresh_token": await self._seal(
                integration_id, sub_account_id, "oauth.refresh_token", refresh_token
            ),
            "access_token": await self._seal(
                integration_id, sub_account_id, "oauth.access_token", access_token
            ),
            "expires_at": expires_at,
            "origin": await self._origin(integration_id, sub_account_id, integration.secrets),
            "updated_at": self._clock.now(),
        }
        async with self._session_factory() as session, session.begin():
            await session.execute(
                delete(OAUTH_TOKENS).where(OAUTH_TOKENS.c.integration_id == integration_id)
            )
            await session.execute(insert(OAUTH_TOKENS).values(values))

    def refresh_lock(self, integration_id: str) -> AbstractAsyncContextManager[None]:
        """Across the copies sharing the database (refresh_locks.py); on SQLite, the token
        manager's own lock is enough."""
        return refresh_lock(
            self._session_factory,
            _REFRESH_LOCK_CLASS,
            lock_key(integration_id),
            what="the integration",
        )

    async def _origin(self, integration_id: str, sub_account_id: str, secrets: Any) -> str:
        stored = secrets.get(CONFIGURED_REFRESH_TOKEN) if isinstance(secrets, dict) else None
        if not stored:
            return ""
        configured = await self._open(
            integration_id, sub_account_id, CONFIGURED_REFRESH_TOKEN, stored["token"]
        )
        return hashlib.sha256(configured.reveal().encode()).hexdigest()

    async def _seal(
        self, integration_id: str, sub_account_id: str, field: str, value: SecretStr
    ) -> str:
        sealed = await self._cipher.encrypt(
            SecretBinding(sub_account_id, integration_id, field), value
        )
        return sealed.token

    async def _open(
        self, integration_id: str, sub_account_id: str, field: str, token: str
    ) -> SecretStr:
        return await self._cipher.decrypt(
            SecretBinding(sub_account_id, integration_id, field), EncryptedSecret(token)
        )

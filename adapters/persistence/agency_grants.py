"""Agency grants: an agency install's OAuth token chain, sealed like every secret, in this
service's database, per (sub-account, agency)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import ColumnElement, and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.errors import translated
from adapters.persistence.models import AGENCY_GRANTS
from adapters.persistence.refresh_locks import lock_key, refresh_lock
from application.ports import Cipher, Clock, SecretBinding
from application.ports.oauth import OAuthTokens
from domain.values import EncryptedSecret, SecretStr

# A PostgreSQL advisory lock on (this class, a 32-bit hash of the grant's key); the class is
# not the integrations' token lock's, so the two never meet.
_REFRESH_LOCK_CLASS: Final = 0x61676E74  # "agnt"


@dataclass(frozen=True, slots=True)
class StoredAgencyGrant:
    tokens: OAuthTokens = field(repr=False)
    origin: str
    """Which install the chain grew from (a digest of that install's first refresh token)."""


class SqlAlchemyAgencyGrants:
    """Implements adapters.ghl.agency_tokens.AgencyGrantStore. Each write commits before it
    returns. The tokens are sealed with the sub-account's key, bound to the agency."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], cipher: Cipher, clock: Clock
    ) -> None:
        self._session_factory = session_factory
        self._cipher = cipher
        self._clock = clock

    @translated
    async def load(self, sub_account_id: str, company_id: str) -> StoredAgencyGrant | None:
        async with self._session_factory() as session:
            row = (
                await session.execute(select(AGENCY_GRANTS).where(_key(sub_account_id, company_id)))
            ).first()
        if row is None:
            return None
        return StoredAgencyGrant(
            OAuthTokens(
                access_token=await self._open(
                    sub_account_id, company_id, "oauth.access_token", row.access_token
                ),
                refresh_token=await self._open(
                    sub_account_id, company_id, "oauth.refresh_token", row.refresh_token
                ),
                expires_at=row.expires_at,
            ),
            origin=row.origin,
        )

    @translated
    async def install(
        self, sub_account_id: str, company_id: str, tokens: OAuthTokens, *, origin: str
    ) -> None:
        """Store an install's chain in place of any earlier one."""
        values = {
            "sub_account_id": sub_account_id,
            "company_id": company_id,
            **await self._sealed(sub_account_id, company_id, tokens),
            "origin": origin,
        }
        async with self._session_factory() as session, session.begin():
            await session.execute(delete(AGENCY_GRANTS).where(_key(sub_account_id, company_id)))
            await session.execute(insert(AGENCY_GRANTS).values(values))

    @translated
    async def save_rotated(self, sub_account_id: str, company_id: str, tokens: OAuthTokens) -> None:
        """Replace the chain's tokens; nothing when the grant was deleted meanwhile (its
        agency uninstalled the app)."""
        values = await self._sealed(sub_account_id, company_id, tokens)
        async with self._session_factory() as session, session.begin():
            await session.execute(
                update(AGENCY_GRANTS).where(_key(sub_account_id, company_id)).values(values)
            )

    @translated
    async def delete(self, sub_account_id: str, company_id: str) -> None:
        async with self._session_factory() as session, session.begin():
            await session.execute(delete(AGENCY_GRANTS).where(_key(sub_account_id, company_id)))

    def refresh_lock(
        self, sub_account_id: str, company_id: str
    ) -> AbstractAsyncContextManager[None]:
        """Across the copies sharing the database (refresh_locks.py); on SQLite, the caller's
        in-process lock is enough."""
        return refresh_lock(
            self._session_factory,
            _REFRESH_LOCK_CLASS,
            lock_key(sub_account_id, company_id),
            what="the agency",
        )

    async def _sealed(
        self, sub_account_id: str, company_id: str, tokens: OAuthTokens
    ) -> dict[str, object]:
        return {
            "refresh_token": await self._seal(
                sub_account_id, company_id, "oauth.refresh_token", tokens.refresh_token
            ),
            "access_token": await self._seal(
                sub_account_id, company_id, "oauth.access_token", tokens.access_token
            ),
            "expires_at": tokens.expires_at,
            "updated_at": self._clock.now(),
        }

    async def _seal(
        self, sub_account_id: str, company_id: str, field: str, value: SecretStr
    ) -> str:
        sealed = await self._cipher.encrypt(_binding(sub_account_id, company_id, field), value)
        return sealed.token

    async def _open(
        self, sub_account_id: str, company_id: str, field: str, token: str
    ) -> SecretStr:
        return await self._cipher.decrypt(
            _binding(sub_account_id, company_id, field), EncryptedSecret(token)
        )


def _binding(sub_account_id: str, company_id: str, field: str) -> SecretBinding:
    """Sealed with the sub-account's key and bound to the agency: a row copied under another
    sub-account or agency does not open."""
    return SecretBinding(sub_account_id, f"agency-grant:{company_id}", field)


def _key(sub_account_id: str, company_id: str) -> ColumnElement[bool]:
    return and_(
        AGENCY_GRANTS.c.sub_account_id == sub_account_id,
        AGENCY_GRANTS.c.company_id == company_id,
    )

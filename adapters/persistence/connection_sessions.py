"""Connection sessions in this service's database; a claim is a compare-and-set on the status,
so that of two callbacks for one session (a double click) one wins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, exc, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.errors import is_unique_violation, translated
from adapters.persistence.models import CONNECTION_SESSIONS
from domain.connection_session import (
    AccountChoice,
    ConnectFailure,
    ConnectionSession,
    SessionStatus,
)
from domain.errors import AlreadyExistsError
from domain.values import EncryptedSecret

# Ended and expired sessions are kept this long past their expiry, for pollers, then dropped.
_KEPT_AFTER_EXPIRY = timedelta(days=1)


class SqlAlchemyConnectionSessions:
    """Implements application.ports.ConnectionSessions."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @translated
    async def add(self, session: ConnectionSession) -> None:
        async with self._session_factory() as db, db.begin():
            await db.execute(
                delete(CONNECTION_SESSIONS).where(
                    CONNECTION_SESSIONS.c.expires_at < session.created_at - _KEPT_AFTER_EXPIRY
                )
            )
            try:
                await db.execute(insert(CONNECTION_SESSIONS).values(_row(session)))
            except exc.IntegrityError as err:
                if is_unique_violation(err):
                    raise AlreadyExistsError("the connection session exists") from err
                raise

    @translated
    async def get(self, session_id: str) -> ConnectionSession | None:
        return await self._one(CONNECTION_SESSIONS.c.id == session_id)

    @translated
    async def by_state(self, provider: str, state_digest: str) -> ConnectionSession | None:
        return await self._one(
            (CONNECTION_SESSIONS.c.provider == provider)
            & (CONNECTION_SESSIONS.c.state_digest == state_digest)
        )

    @translated
    async def save(self, session: ConnectionSession, *, expected: str) -> bool:
        row = _row(session)
        del row["id"]
        async with self._session_factory() as db, db.begin():
            result = await db.execute(
                update(CONNECTION_SESSIONS)
                .where(
                    (CONNECTION_SESSIONS.c.id == session.id)
                    & (CONNECTION_SESSIONS.c.status == expected)
                )
                .values(row)
            )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _one(self, where: Any) -> ConnectionSession | None:
        async with self._session_factory() as db:
            row = (await db.execute(select(CONNECTION_SESSIONS).where(where))).first()
        return None if row is None else _session(row)


def _row(session: ConnectionSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "provider": session.provider,
        "state_digest": session.state_digest,
        "sub_account_id": session.sub_account_id,
        "template_name": session.template_name,
        "display_name": session.display_name,
        "return_url": session.return_url,
        "integration_id": session.integration_id,
        "account_ids": list(session.account_ids),
        "config": session.config,
        "code_verifier": None if session.code_verifier is None else session.code_verifier.token,
        "status": session.status.value,
        "failure": None if session.failure is None else session.failure.value,
        "failure_detail": session.failure_detail,
        "choices": [{"id": c.id, "name": c.name} for c in session.choices],
        "grant": {name: secret.token for name, secret in session.grant.items()},
        "integration_ids": list(session.integration_ids),
        "created_by": session.created_by,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "completed_at": session.completed_at,
    }


def _session(row: Any) -> ConnectionSession:
    return ConnectionSession(
        id=row.id,
        provider=row.provider,
        state_digest=row.state_digest,
        sub_account_id=row.sub_account_id,
        template_name=row.template_name,
        display_name=row.display_name,
        return_url=row.return_url,
        integration_id=row.integration_id,
        account_ids=tuple(row.account_ids),
        config=dict(row.config),
        code_verifier=None if row.code_verifier is None else EncryptedSecret(row.code_verifier),
        status=SessionStatus(row.status),
        failure=None if row.failure is None else ConnectFailure(row.failure),
        failure_detail=row.failure_detail,
        choices=tuple(AccountChoice(c["id"], c["name"]) for c in row.choices),
        grant={name: EncryptedSecret(token) for name, token in row.grant.items()},
        integration_ids=tuple(row.integration_ids),
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        completed_at=row.completed_at,
    )

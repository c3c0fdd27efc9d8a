"""GetConnectionSession: where a sign-in stands, for a front end that polls."""

from __future__ import annotations

from application.ports import ConnectionSessions
from domain.connection_session import ConnectionSession
from domain.errors import NotFoundError
from domain.values import Principal


class GetConnectionSession:
    """Rules: visible to admins and the people of its sub-account; to anyone else it does not
    exist."""

    def __init__(self, *, sessions: ConnectionSessions) -> None:
        self._sessions = sessions

    async def execute(self, actor: Principal, session_id: str) -> ConnectionSession:
        session = await self._sessions.get(session_id)
        if session is None or not actor.can_access(session.sub_account_id):
            raise NotFoundError("connection session", session_id)
        return session

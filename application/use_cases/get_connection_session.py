"""GetConnectionSession: where a sign-in stands, for a front end that polls."""

from __future__ import annotations

from datetime import timedelta

from application.ports import Clock, ConnectionSessions
from domain.connection_session import ConnectionSession, SessionStatus
from domain.errors import NotFoundError
from domain.values import Principal

# Past its expiry, a session still exchanging has outlived every deadline of its callback.
STALLED_AFTER = timedelta(minutes=5)


class GetConnectionSession:
    """Rules: visible to admins and the people of its sub-account; to anyone else it does not
    exist. A session whose callback was interrupted is reported failed (and stored so)."""

    def __init__(self, *, sessions: ConnectionSessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def execute(self, actor: Principal, session_id: str) -> ConnectionSession:
        session = await self._sessions.get(session_id)
        if session is None or not actor.can_access(session.sub_account_id):
            raise NotFoundError("connection session", session_id)
        if session.give_up_if_stalled(self._clock.now(), grace=STALLED_AFTER) and not (
            await self._sessions.save(session, expected=SessionStatus.EXCHANGING)
        ):
            return await self.execute(actor, session_id)  # it moved on meanwhile
        return session

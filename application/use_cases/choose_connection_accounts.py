"""ChooseConnectionAccounts: the person picks, among the accounts their sign-in reaches, the
ones to connect."""

from __future__ import annotations

from dataclasses import dataclass

from application.account_linking import AccountLinker, session_binding
from application.ports import Cipher, Clock, ConnectionSessions
from application.provider_registry import ProviderRegistry
from domain.connection_session import ConnectionSession, SessionStatus
from domain.errors import (
    ConcurrencyError,
    FieldViolation,
    InvalidArgumentError,
    InvalidTransitionError,
    NotFoundError,
    ProviderNotSupportedError,
)
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class ChooseConnectionAccountsCommand:
    actor: Principal
    session_id: str
    account_ids: tuple[str, ...]


class ChooseConnectionAccounts:
    """Rules: the caller may see the session's sub-account; the session is choosing and not
    expired; the ids are among its choices; it connects once (a second pick is refused)."""

    def __init__(
        self,
        *,
        sessions: ConnectionSessions,
        providers: ProviderRegistry,
        linker: AccountLinker,
        cipher: Cipher,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._providers = providers
        self._linker = linker
        self._cipher = cipher
        self._clock = clock

    async def execute(self, cmd: ChooseConnectionAccountsCommand) -> ConnectionSession:
        session = await self._sessions.get(cmd.session_id)
        if session is None or not cmd.actor.can_access(session.sub_account_id):
            raise NotFoundError("connection session", cmd.session_id)
        chosen = tuple(dict.fromkeys(cmd.account_ids))
        offered = {choice.id for choice in session.choices}
        if not chosen or not set(chosen) <= offered:
            raise InvalidArgumentError(
                "account_ids must name accounts among the session's choices",
                (FieldViolation("account_ids", "must be non-empty, among the choices"),),
            )
        found = self._providers.connect_flow(session.template_name)
        if found is None:
            raise ProviderNotSupportedError("the template offers no sign-in here any more")
        grant = {
            name: await self._cipher.decrypt(session_binding(session, f"grant.{name}"), sealed)
            for name, sealed in session.grant.items()
        }
        session.begin_choice(self._clock.now())  # raises unless choosing
        if not await self._sessions.save(session, expected=SessionStatus.CHOOSING):
            raise ConcurrencyError("the accounts of this session were chosen already")
        if session.ended:
            raise InvalidTransitionError("the connection session has expired")
        return await self._linker.connect(session, found[1], grant, chosen)

"""CompleteConnection: the provider sends the browser back to the service's callback; the
service checks the state, exchanges the code and connects the account, then sends the browser
to the session's return URL with the outcome."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from application.account_linking import AccountLinker, fail_session, session_binding
from application.connect_policy import ConnectPolicy, with_outcome
from application.connect_security import state_digest
from application.ports import (
    Cipher,
    Clock,
    ConnectFlow,
    ConnectFlowError,
    ConnectGrant,
    ConnectionSessions,
)
from application.provider_registry import ProviderRegistry
from domain.connection_session import ConnectFailure, ConnectionSession, SessionStatus

log = logging.getLogger(__name__)

# A second callback for a session being exchanged (a double click) waits for the first one's
# outcome this long, checking every `_POLL`.
_AWAIT_FIRST_SECONDS = 30.0
_POLL = 0.2
_MAX_STATE_LENGTH = 512
# An error code a provider put in the callback is echoed only if it reads like one.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


@dataclass(frozen=True, slots=True)
class CallbackOutcome:
    """Where the browser goes: the return URL with the outcome, or None when there is nowhere
    safe to send it (no session and no allow-list), and the outcome itself."""

    redirect_url: str | None
    state: str
    error: str = ""


class CompleteConnection:
    """Rules (RFC 9700 §2.1, §4.7): the state must match a session of this provider, which is
    claimed once (a second callback waits for the first's outcome and exchanges nothing), before
    its expiry; an error from the provider fails the session; the code is exchanged with the
    session's PKCE verifier, at the callback URL the session was started with; one account is
    connected at once, several wait for the person's choice; every outcome redirects to the
    session's return URL, never with a token or a code."""

    def __init__(
        self,
        *,
        sessions: ConnectionSessions,
        providers: ProviderRegistry,
        linker: AccountLinker,
        cipher: Cipher,
        clock: Clock,
        policy: ConnectPolicy,
    ) -> None:
        self._sessions = sessions
        self._providers = providers
        self._linker = linker
        self._cipher = cipher
        self._clock = clock
        self._policy = policy

    async def execute(self, provider: str, params: Mapping[str, str]) -> CallbackOutcome:
        state = params.get("state", "")
        session = None
        if 0 < len(state) <= _MAX_STATE_LENGTH:
            session = await self._sessions.by_state(provider, state_digest(state))
        if session is None:
            log.warning("connect_callback_unknown_state: %s", provider)
            return self._unknown()
        flow = self._flow(session)
        expected = session.status
        refused = session.claim(self._clock.now())
        if refused is ConnectFailure.SESSION_USED:
            return await self._reused(
                session.id, in_flight=session.status is SessionStatus.EXCHANGING
            )
        if refused is None and flow is None:  # the provider's app was unconfigured meanwhile
            session.fail(ConnectFailure.INTERNAL, now=self._clock.now())
        elif refused is None and (error := params.get("error")):
            session.fail(
                ConnectFailure.ACCESS_DENIED,
                detail=error if _ERROR_CODE.fullmatch(error) else "",
                now=self._clock.now(),
            )
        elif refused is None and not params.get("code"):
            session.fail(ConnectFailure.CODE_REJECTED, detail="no code", now=self._clock.now())
        if not await self._sessions.save(session, expected=expected):
            return await self._reused(session.id, in_flight=True)  # another claimed it first
        if session.ended or flow is None:
            return self._outcome(session)
        # Shielded: a browser that goes away (a second click) does not stop the exchange.
        return await asyncio.shield(self._exchange(session, flow, params))

    async def _exchange(
        self, session: ConnectionSession, flow: ConnectFlow, params: Mapping[str, str]
    ) -> CallbackOutcome:
        try:
            verifier = None
            if session.code_verifier is not None:
                verifier = await self._cipher.decrypt(
                    session_binding(session, "pkce_verifier"), session.code_verifier
                )
            async with asyncio.timeout(self._policy.provider_seconds):
                grant = await flow.exchange(
                    code=params["code"],
                    redirect_uri=self._policy.callback_url(session.provider),
                    code_verifier=None if verifier is None else verifier.reveal(),
                    callback={k: v for k, v in params.items() if k not in ("code", "state")},
                )
            chosen = _chosen(session, grant)
        except Exception as err:  # every failure ends the session, named
            fail_session(session, err, now=self._clock.now())
            await self._sessions.save(session, expected=SessionStatus.EXCHANGING)
            return self._outcome(session)
        if chosen is None:
            sealed = {
                name: await self._cipher.encrypt(session_binding(session, f"grant.{name}"), value)
                for name, value in grant.secrets.items()
            }
            session.await_choice(grant.accounts, sealed)
            await self._sessions.save(session, expected=SessionStatus.EXCHANGING)
            return self._outcome(session)
        session = await self._linker.connect(session, flow, grant.secrets, chosen)
        return self._outcome(session)

    def _flow(self, session: ConnectionSession) -> ConnectFlow | None:
        found = self._providers.connect_flow(session.template_name)
        return None if found is None or found[0] != session.provider else found[1]

    async def _reused(self, session_id: str, *, in_flight: bool) -> CallbackOutcome:
        """A callback for a session already claimed exchanges nothing. One that came while the
        first was in flight (a double click) waits for its outcome and shows the same page; one
        that came after the session had moved on is told the session was used."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _AWAIT_FIRST_SECONDS
        current = await self._sessions.get(session_id)
        while (
            current is not None
            and current.status is SessionStatus.EXCHANGING
            and loop.time() < deadline
        ):
            await asyncio.sleep(_POLL)
            current = await self._sessions.get(session_id)
        if current is None:
            return self._unknown()
        if in_flight:
            return self._outcome(current)
        params = {**_params(current), "error": ConnectFailure.SESSION_USED.value}
        return CallbackOutcome(
            with_outcome(current.return_url, params), params["state"], params["error"]
        )

    def _outcome(self, session: ConnectionSession) -> CallbackOutcome:
        params = _params(session)
        return CallbackOutcome(
            with_outcome(session.return_url, params), params["state"], params.get("error", "")
        )

    def _unknown(self) -> CallbackOutcome:
        params = {"state": "failed", "error": ConnectFailure.INVALID_STATE.value}
        url = self._policy.fallback_url
        return CallbackOutcome(
            None if url is None else with_outcome(url, params), "failed", params["error"]
        )


def _params(session: ConnectionSession) -> dict[str, str]:
    state = "pending" if session.status is SessionStatus.EXCHANGING else session.status.value
    params = {"connection_session": session.id, "state": state}
    if session.failure is not None:
        params["error"] = session.failure.value
    return params


def _chosen(session: ConnectionSession, grant: ConnectGrant) -> tuple[str, ...] | None:
    """The accounts to connect now, or None when the person must choose among several."""
    reachable = {account.id for account in grant.accounts}
    if session.account_ids:
        if not set(session.account_ids) <= reachable:
            raise ConnectFlowError(
                ConnectFailure.ACCOUNT_MISMATCH, "an account given is not reachable"
            )
        return session.account_ids
    if not grant.accounts:
        raise ConnectFlowError(ConnectFailure.NO_ACCOUNTS, "the sign-in reaches no account")
    if len(grant.accounts) == 1:
        return (grant.accounts[0].id,)
    return None

"""What the core asks of a provider that people connect by signing in (OAuth 2.0, the
authorization-code grant), and where connection sessions are kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from application.ports.oauth import OAuthTokens
from domain.connection_session import AccountChoice, ConnectFailure, ConnectionSession
from domain.values import SecretStr


class ConnectFlowError(Exception):
    """The sign-in cannot go on: `failure` is what the person and the poller are told, `detail`
    a safe precision (the declined permissions' names); never a token, a code or a provider's
    own message."""

    def __init__(self, failure: ConnectFailure, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ConnectGrant:
    """What the code exchange gave: the accounts the sign-in reaches, and the secrets needed to
    connect any of them (a user, agency or refresh token), kept sealed in the session while
    the person chooses."""

    accounts: tuple[AccountChoice, ...]
    secrets: Mapping[str, SecretStr] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class AccountConnection:
    """One account connected: the integration's config fields and secrets for it (its
    template's names), and, for a provider that rotates refresh tokens, the tokens to store
    before the first call."""

    account: AccountChoice
    config: Mapping[str, Any]
    secrets: Mapping[str, SecretStr] = field(repr=False)
    tokens: OAuthTokens | None = field(default=None, repr=False)


class ConnectFlow(Protocol):
    """One provider's sign-in, for one template. Raises ConnectFlowError when the sign-in
    cannot go on, ConnectionFailedError when the provider is slow or down."""

    @property
    def template(self) -> str:
        """The catalogue template that the integrations it connects are instances of."""
        ...

    @property
    def pkce(self) -> bool:
        """Whether the provider takes a PKCE challenge (S256)."""
        ...

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None
    ) -> str:
        """Where the browser signs in: the provider's authorize endpoint, with the app's client
        id, the scopes, the state and the challenge."""
        ...

    async def exchange(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        callback: Mapping[str, str],
    ) -> ConnectGrant:
        """Exchange the code; `callback` holds the callback's other query parameters (some
        providers say there which account was chosen). Checks the granted permissions."""
        ...

    async def connect(
        self,
        grant: Mapping[str, SecretStr],
        account_id: str,
        config: Mapping[str, Any],
        *,
        sub_account_id: str,
    ) -> AccountConnection:
        """Connect one account the grant reaches (`config`: plain fields given up front), for
        the sub-account the sign-in is for: mint or fetch its own credentials (a provider may
        keep credentials several of the sub-account's accounts share, never another
        sub-account's), and subscribe to its events where the provider needs that."""
        ...


class ConnectionSessions(Protocol):
    """Where sessions are kept. Each method commits before it returns."""

    async def add(self, session: ConnectionSession) -> None: ...

    async def get(self, session_id: str) -> ConnectionSession | None: ...

    async def by_state(self, provider: str, state_digest: str) -> ConnectionSession | None:
        """The session of the provider whose state has this digest."""
        ...

    async def save(self, session: ConnectionSession, *, expected: str) -> bool:
        """Store the session's changes if its status is still `expected` (the status it was
        read with); False when another caller changed it first: that caller won the claim."""
        ...

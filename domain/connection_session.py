"""A connection session: one person's sign-in at a provider, from the authorization URL the
service hands out to the integration it ends with (OAuth 2.0, RFC 9700's rules on state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.errors import InvalidTransitionError
from domain.values import EncryptedSecret


class SessionStatus(StrEnum):
    PENDING = "pending"
    """Handed out; the person has not come back from the provider yet."""
    EXCHANGING = "exchanging"
    """The callback claimed the session and is exchanging the code (one callback only)."""
    CHOOSING = "choosing"
    """Signed in; the sign-in reaches several accounts and the person picks which to connect."""
    CONNECTED = "connected"
    FAILED = "failed"


class ConnectFailure(StrEnum):
    """Why a session failed: the code the browser is sent back with and the poller reads. Each
    says what happened without a token, a code or a provider's message in it."""

    ACCESS_DENIED = "access_denied"
    """The person declined at the provider (or the provider refused the request)."""
    MISSING_SCOPES = "missing_scopes"
    """Signed in, but without every permission the integration needs (named in the details)."""
    SESSION_EXPIRED = "session_expired"
    SESSION_USED = "session_used"
    """The session's state came back a second time."""
    INVALID_STATE = "invalid_state"
    """The state matches no session of this provider (forged, or for another provider)."""
    CODE_REJECTED = "code_rejected"
    """The provider refused the code (expired, used, or issued for another client)."""
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    """The provider was slow or down; a new session may succeed."""
    NO_ACCOUNTS = "no_accounts"
    """The sign-in reaches no account the integration could connect."""
    ACCOUNT_MISMATCH = "account_mismatch"
    """A re-connect signed in to another account than the integration's."""
    CONFIG_INVALID = "config_invalid"
    """The account's config does not satisfy the template (the fields are named)."""
    INTERNAL = "internal"
    """The service failed; nothing was connected."""
    CONNECTION_TEST_FAILED = "connection_test_failed"
    """Connected and stored, but the connection test failed (the integration is in error)."""


@dataclass(frozen=True, slots=True)
class AccountChoice:
    """An account a sign-in reaches (a CRM location, a Page, an analytics data stream)."""

    id: str
    name: str


@dataclass(slots=True, kw_only=True)
class ConnectionSession:
    """Rules: a session is claimed by one callback only, and only while pending and not expired;
    it ends connected or failed, once; choosing is a pause between the two, with the provider's
    grant sealed in `grant` until the person picks. The state itself is never kept, only its
    digest, so that the database cannot answer a callback."""

    id: str
    sub_account_id: str
    template_name: str
    provider: str
    """The provider's short name: its callback route is ``/oauth/{provider}/callback``."""
    display_name: str
    return_url: str
    state_digest: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    integration_id: str | None = None
    """Set when the session re-connects an existing integration."""
    account_ids: tuple[str, ...] = ()
    """Accounts chosen up front (a Page id, a location id, a data stream), if any."""
    config: dict[str, Any] = field(default_factory=dict)
    """Plain (not secret) config fields given up front, merged into the integration's."""
    code_verifier: EncryptedSecret | None = field(default=None, repr=False)
    """The PKCE verifier, sealed; None for a provider without PKCE."""
    status: SessionStatus = SessionStatus.PENDING
    failure: ConnectFailure | None = None
    failure_detail: str = ""
    """Safe detail of the failure (e.g. the missing permissions' names)."""
    choices: tuple[AccountChoice, ...] = ()
    grant: dict[str, EncryptedSecret] = field(default_factory=dict, repr=False)
    integration_ids: tuple[str, ...] = ()
    """The integrations the session created or re-connected."""
    completed_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    @property
    def ended(self) -> bool:
        return self.status in (SessionStatus.CONNECTED, SessionStatus.FAILED)

    def give_up_if_stalled(self, now: datetime, *, grace: timedelta) -> bool:
        """A session left exchanging `grace` past its expiry was interrupted (the copy serving
        its callback stopped): it fails, so that a poller is not told "pending" forever.
        Whether it did."""
        if self.status is not SessionStatus.EXCHANGING or now < self.expires_at + grace:
            return False
        self.fail(ConnectFailure.INTERNAL, detail="interrupted", now=now)
        return True

    def claim(self, now: datetime) -> ConnectFailure | None:
        """The callback takes the session to exchange its code; the failure if it may not."""
        if self.status is not SessionStatus.PENDING:
            return ConnectFailure.SESSION_USED
        if self.expired(now):
            self.fail(ConnectFailure.SESSION_EXPIRED, now=now)
            return ConnectFailure.SESSION_EXPIRED
        self.status = SessionStatus.EXCHANGING
        return None

    def await_choice(
        self, choices: tuple[AccountChoice, ...], grant: dict[str, EncryptedSecret]
    ) -> None:
        self._require(SessionStatus.EXCHANGING)
        self.status = SessionStatus.CHOOSING
        self.choices = choices
        self.grant = dict(grant)

    def begin_choice(self, now: datetime) -> None:
        """The person picked accounts: the session connects them (once; a second pick is an
        invalid transition), or fails if it has expired meanwhile."""
        self._require(SessionStatus.CHOOSING)
        if self.expired(now):
            self.fail(ConnectFailure.SESSION_EXPIRED, now=now)
        else:
            self.status = SessionStatus.EXCHANGING

    def connect(self, integration_ids: tuple[str, ...], *, now: datetime) -> None:
        self._require(SessionStatus.EXCHANGING)
        self.status = SessionStatus.CONNECTED
        self.integration_ids = integration_ids
        self._end(now)

    def fail(
        self,
        failure: ConnectFailure,
        *,
        now: datetime,
        detail: str = "",
        integration_ids: tuple[str, ...] = (),
    ) -> None:
        if self.ended:
            raise InvalidTransitionError(f"the connection session is already {self.status}")
        self.status = SessionStatus.FAILED
        self.failure = failure
        self.failure_detail = detail
        self.integration_ids = integration_ids
        self._end(now)

    def _end(self, now: datetime) -> None:
        self.completed_at = now
        self.grant = {}  # the provider's tokens are kept only while the person chooses
        self.code_verifier = None

    def _require(self, status: SessionStatus) -> None:
        if self.status is not status:
            raise InvalidTransitionError(f"the connection session is {self.status}, not {status}")

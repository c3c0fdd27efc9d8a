"""The fake GA4's state: properties, streams and secrets; the service accounts and OAuth clients it
trusts, the Google user who signs in, and the codes and tokens it issued; every Measurement
Protocol request it received; the faults a test asks for. Reachable in-process by tests."""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Collected:
    """One request to `/mp/collect` or `/debug/mp/collect`, as received. `accepted`: GA4 would
    record its events (a known measurement id with one of its stream's secrets, not the
    validation server)."""

    measurement_id: str
    api_secret: str
    body: Any
    debug: bool
    accepted: bool


@dataclass(slots=True)
class IssuedCode:
    """An authorization code, as the authorize page gave it: what the token request must match."""

    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    code_challenge: str | None
    user: str
    offline: bool
    expires_at: float
    """time.monotonic() past which the code is refused."""
    used: bool = False
    refresh_token: str | None = None
    """The refresh token its exchange issued (revoked if the code comes back)."""


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    client_id: str
    user: str
    scopes: frozenset[str]


@dataclass(slots=True)
class OAuthFaults:
    """What a test makes the sign-in do instead of succeeding."""

    deny_consent: bool = False
    """The person declines: the authorize page redirects back with error=access_denied."""
    granted_scopes: frozenset[str] | None = None
    """The person unticks the other scopes: only these of the requested ones are granted
    (None: every one requested)."""
    expired_codes: bool = False
    """Codes are issued already expired (invalid_grant at the token endpoint)."""
    token_statuses: deque[int] = field(default_factory=deque)
    """Statuses the next token requests get instead of an answer (nothing is issued)."""
    token_delay: float = 0.0
    """Seconds the token endpoint waits before answering (a slow Google)."""


@dataclass(slots=True)
class FakeGa4:
    properties: dict[str, Json]
    service_accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    """Trusted service accounts: e-mail -> public key of its key."""
    oauth_clients: dict[str, str] = field(default_factory=dict)
    """The web apps' OAuth clients: client id -> client secret."""
    user: str = ""
    """The Google user who signs in at the authorize page (an e-mail of the properties' users)."""
    oauth_faults: OAuthFaults = field(default_factory=OAuthFaults)
    code_lifetime: float = 600.0
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    """Access tokens issued: token -> service account or user e-mail."""
    token_scopes: dict[str, frozenset[str]] = field(default_factory=dict)
    """The scopes of each access token."""
    token_grants: dict[str, str] = field(default_factory=dict)
    """Access token -> the refresh token it was issued from (revoked with it)."""
    collected: list[Collected] = field(default_factory=list)
    collect_faults: deque[int] = field(default_factory=deque)
    """Statuses the next `/mp/collect` requests get instead of 204 (the request is not recorded)."""

    def issue_token(
        self, email: str, scopes: frozenset[str] = frozenset(), *, refresh_token: str | None = None
    ) -> str:
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.tokens[token] = email
        self.token_scopes[token] = scopes
        if refresh_token is not None:
            self.token_grants[token] = refresh_token
        return token

    def issue_code(self, code: IssuedCode) -> str:
        value = "4/0fake-" + secrets.token_urlsafe(24)
        self.codes[value] = code
        return value

    def new_code_expiry(self) -> float:
        return time.monotonic() + (-1.0 if self.oauth_faults.expired_codes else self.code_lifetime)

    def issue_refresh_token(self, grant: RefreshGrant) -> str:
        token = "1//fake-" + secrets.token_urlsafe(32)
        self.refresh_tokens[token] = grant
        return token

    def revoke(self, token: str) -> bool:
        """Revokes a refresh token with the access tokens issued from it, or one access token;
        False if it is neither."""
        if self.refresh_tokens.pop(token, None) is not None:
            for access in [a for a, r in self.token_grants.items() if r == token]:
                self._drop_access(access)
            return True
        if token in self.tokens:
            self._drop_access(token)
            return True
        return False

    def revoke_user(self, user: str) -> None:
        """The person removes the app's access in their Google account: every token of theirs."""
        for token in [t for t, g in self.refresh_tokens.items() if g.user == user]:
            self.revoke(token)

    def _drop_access(self, token: str) -> None:
        self.tokens.pop(token, None)
        self.token_scopes.pop(token, None)
        self.token_grants.pop(token, None)

    def fail_next_token_requests(self, status: int, times: int = 1) -> None:
        self.oauth_faults.token_statuses.extend([status] * times)

    def stream_by_measurement_id(self, measurement_id: str) -> Json | None:
        for prop in self.properties.values():
            for stream in prop["streams"]:
                if stream.get("measurementId") == measurement_id:
                    found: Json = stream
                    return found
        return None

    def accepts(self, measurement_id: str, api_secret: str) -> bool:
        stream = self.stream_by_measurement_id(measurement_id)
        return stream is not None and any(
            s["secretValue"] == api_secret for s in stream.get("secrets", [])
        )

    def recorded_events(self, measurement_id: str | None = None) -> list[Json]:
        """The events GA4 would have recorded, in arrival order, each with its request's
        `client_id`."""
        return [
            {**event, "client_id": c.body.get("client_id")}
            for c in self.collected
            if c.accepted and (measurement_id is None or c.measurement_id == measurement_id)
            for event in c.body.get("events", [])
        ]

    def fail_next_collects(self, status: int, times: int = 1) -> None:
        self.collect_faults.extend([status] * times)


FAKE_GA4 = web.AppKey("fake_ga4", FakeGa4)

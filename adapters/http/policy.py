"""What a provider tells the shared HTTP machinery: its headers, what it limits, how its answers
report limits and throttles, which failures are worth another attempt, and its error table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from application.ports.rate_limits import Priority, RateLimitObservation
from domain.errors import DomainError

CallT_contra = TypeVar("CallT_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One call to a provider, as the provider's client states it. `idempotent`: repeating it
    after a lost answer or a transient error does no harm. `resource` names what a 404 means
    was not found (kind, id)."""

    method: str
    path: str
    idempotent: bool
    params: Mapping[str, str] | None = None
    json: Any = None
    resource: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A provider's answer: its status, headers (read case-insensitively) and JSON body (None
    when it is empty or not JSON)."""

    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class RateLimitSlot:
    """The rate-limit slot a call asks for: the key of what the provider limits (a GHL location,
    a Meta page or app, a GA4 property), the caller's own limit per minute on that key, and the
    call's lane (live callers are served before background work)."""

    key: str
    limit_per_minute: int
    priority: Priority = Priority.LIVE


class Authorizer(Protocol):
    """The credentials of one call, asked for before each attempt."""

    async def headers(self) -> Mapping[str, str]:
        """The headers that authenticate the next attempt (for example `Authorization`)."""
        ...

    async def refresh(self) -> bool:
        """The provider answered 401 to the last headers: drop them, and say whether new ones
        can be had (an OAuth token to refresh). Asked at most once per call."""
        ...


class ProviderPolicy(Protocol[CallT_contra]):
    """One provider's rules for the shared HTTP machinery (adapters.http.ProviderHttpClient).
    `CallT_contra` is the provider's per-call context (its auth, account, lane)."""

    @property
    def name(self) -> str:
        """Lower-case identifier of the provider: metric names (`integrations_{name}_...`) and
        log events (`{name}_call_retried`, `{name}_call_failed`)."""
        ...

    @property
    def display_name(self) -> str:
        """The provider's name in error messages."""
        ...

    def rate_limit(self, call: CallT_contra, request: HttpRequest) -> RateLimitSlot:
        """The slot of what the provider limits for this call, so that every integration and
        every copy calling the same limited account draws on one budget."""
        ...

    def authorizer(self, call: CallT_contra) -> Authorizer:
        """The credentials of this call."""
        ...

    def log_fields(self, call: CallT_contra) -> Mapping[str, object]:
        """Fields identifying the call in log lines; never a secret or personal data."""
        ...

    def headers(self, request: HttpRequest) -> Mapping[str, str]:
        """Headers every request carries besides the credentials (API version, Accept)."""
        ...

    def endpoint(self, path: str) -> str:
        """The path's template for metric labels (`/contacts/{id}`): never an id."""
        ...

    def observe(self, answer: HttpAnswer) -> RateLimitObservation:
        """What the answer says about the provider's limits (headers or body), handed to the
        rate limiter. `throttled` on a failure: the provider refused the request for its rate,
        whatever the status (429, or Meta's 400 with a throttling code), and it is repeated once
        the limiter allows; on a success: the request was served but the key must pause (usage
        nearly spent). `retry_after_seconds`: how long the provider asked to wait."""
        ...

    def is_transient(self, answer: HttpAnswer) -> bool:
        """A failure worth another attempt if the request is idempotent (a gateway error)."""
        ...

    def error_for(
        self, answer: HttpAnswer, observed: RateLimitObservation, request: HttpRequest
    ) -> DomainError:
        """The service's error for a final non-2xx answer (DESIGN.md §5). A throttled answer
        must map to RateLimitExceededError with the wait it asked for."""
        ...

    def trace_id(self, answer: HttpAnswer) -> str | None:
        """The provider's id of the answer for its support (logged with failures), if any."""
        ...

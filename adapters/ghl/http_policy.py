"""GoHighLevel's rules for the shared HTTP machinery: the Version header of each endpoint family,
its limit per location, its X-RateLimit-* headers and 429s, its gateway errors, its bearer
credentials and its error table."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.ghl import dto, metrics
from adapters.ghl.agency_tokens import AgencyLocationTokens
from adapters.ghl.auth import (
    AgencyLocationCredentials,
    GhlAuth,
    OAuthClientCredentials,
    location_rate_limit_key,
)
from adapters.ghl.oauth import OAuthTokenManager
from adapters.http import Authorizer, HttpAnswer, HttpRequest, RateLimitSlot
from application.ports.rate_limits import RateLimitObservation
from domain.errors import (
    ConnectionFailedError,
    DomainError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)
from domain.values import SecretStr

# The `Version` header per endpoint family: the single enum value of each family's Version
# parameter in GHL's specs (reference/ghl/version-headers.json). /oauth/token declares none.
_VERSIONS = {
    "contacts": "2021-07-28",
    "locations": "2021-07-28",
    "opportunities": "2021-07-28",
    "calendars": "2021-04-15",
    "conversations": "2021-04-15",
}

_GATEWAY_ERRORS = frozenset({502, 503, 504})

# GHL documents no Retry-After and no interval for a 429 without headers: its burst window.
_DEFAULT_THROTTLE_SECONDS = 10.0


def version_for(path: str) -> str:
    family = path.lstrip("/").split("/", 1)[0]
    return _VERSIONS[family]


class GhlBearer:
    """The bearer of one call: the Private Integration token, the integration's OAuth access
    token or the location token minted from its agency's, dropped after a 401 so that the next
    attempt refreshes (or mints) another."""

    __slots__ = ("_agency", "_auth", "_bearer", "_oauth")

    def __init__(
        self,
        auth: GhlAuth,
        oauth: OAuthTokenManager | None,
        agency: AgencyLocationTokens | None = None,
    ) -> None:
        self._auth = auth
        self._oauth = oauth
        self._agency = agency
        self._bearer: SecretStr | None = None

    async def headers(self) -> Mapping[str, str]:
        credentials = self._auth.credentials
        if isinstance(credentials, AgencyLocationCredentials):
            if self._agency is None:
                raise InvalidCredentialsError("agency-connected credentials need a grant store")
            self._bearer = await self._agency.access_token(credentials, self._auth.location_id)
        elif isinstance(credentials, OAuthClientCredentials):
            if self._oauth is None:
                raise InvalidCredentialsError("OAuth credentials need a token store")
            self._bearer = await self._oauth.access_token(self._auth.integration_id, credentials)
        else:
            self._bearer = credentials.token
        return {"Authorization": f"Bearer {self._bearer.reveal()}"}

    async def refresh(self) -> bool:
        credentials = self._auth.credentials
        if isinstance(credentials, AgencyLocationCredentials):
            if self._agency is None or self._bearer is None:
                return False
            self._agency.reject(credentials, self._auth.location_id, self._bearer)
            return True
        if self._oauth is None or self._bearer is None:
            return False
        if not isinstance(credentials, OAuthClientCredentials):
            return False
        self._oauth.reject(self._auth.integration_id, self._bearer)
        return True


class GhlHttpPolicy:
    """ProviderPolicy of GoHighLevel's API v2; calls are keyed by location, GHL's unit of limit
    (100 requests per 10 s, shared by every integration on the location)."""

    name = "ghl"
    display_name = "GoHighLevel"

    def __init__(
        self, *, oauth: OAuthTokenManager | None, agency: AgencyLocationTokens | None = None
    ) -> None:
        self._oauth = oauth
        self._agency = agency

    def rate_limit(self, call: GhlAuth, request: HttpRequest) -> RateLimitSlot:
        return RateLimitSlot(
            location_rate_limit_key(call.location_id), call.rate_limit_per_minute, call.priority
        )

    def authorizer(self, call: GhlAuth) -> Authorizer:
        return GhlBearer(call, self._oauth, self._agency)

    def log_fields(self, call: GhlAuth) -> Mapping[str, object]:
        return {"integration_id": call.integration_id}

    def headers(self, request: HttpRequest) -> Mapping[str, str]:
        return {"Version": version_for(request.path), "Accept": "application/json"}

    def endpoint(self, path: str) -> str:
        return metrics.endpoint_of(path)

    def observe(self, answer: HttpAnswer) -> RateLimitObservation:
        return dto.rate_limit_observation(answer.headers, throttled=answer.status == 429)

    def is_transient(self, answer: HttpAnswer) -> bool:
        return answer.status in _GATEWAY_ERRORS

    def trace_id(self, answer: HttpAnswer) -> str | None:
        return dto.trace_id(answer.body)

    def error_for(
        self, answer: HttpAnswer, observed: RateLimitObservation, request: HttpRequest
    ) -> DomainError:
        """DESIGN.md §5, with GHL's traceId."""
        status, body = answer.status, answer.body
        trace_id = dto.trace_id(body)
        if status in (401, 403):
            # 403: the token lacks a scope or access to this location: a person must act, too.
            return InvalidCredentialsError(
                f"GoHighLevel refused the credentials (HTTP {status})", trace_id=trace_id
            )
        if status == 429:
            return RateLimitExceededError(
                "GoHighLevel's rate limit was still exceeded after retries",
                retry_after_seconds=observed.retry_after_seconds
                or observed.interval_seconds
                or _DEFAULT_THROTTLE_SECONDS,
                trace_id=trace_id,
            )
        if status >= 500:
            return ConnectionFailedError(f"GoHighLevel answered HTTP {status}", trace_id=trace_id)
        if status == 404 and request.resource is not None:
            not_found = NotFoundError(*request.resource)
            if trace_id:
                not_found.metadata["trace_id"] = trace_id
            return not_found
        return ProviderError(dto.error_message(body, status), trace_id=trace_id)

"""GA4's rules for the shared HTTP machinery: calls limited per property, Google's 429s and
gateway errors, the Admin API's bearer token, and Google's JSON errors mapped to the service's."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.http import Authorizer, HttpAnswer, HttpRequest, RateLimitSlot
from adapters.http.metrics import endpoint_template
from application.ports.rate_limits import Priority, RateLimitObservation
from domain.errors import (
    ConnectionFailedError,
    DomainError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)
from domain.values import SecretStr

_TRANSIENT = frozenset({500, 502, 503, 504})
_ROUTE_SEGMENTS = frozenset(
    {
        "mp",
        "debug",
        "collect",
        "v1beta",
        "accountSummaries",
        "properties",
        "dataStreams",
        "measurementProtocolSecrets",
    }
)
# Google documents no wait for a 429 without Retry-After: a minute, its quotas' shortest window.
_DEFAULT_THROTTLE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Ga4Call:
    """One call's context: the integration (for logs), the property's rate-limit key and the
    integration's limit on it, the lane, and the Admin API's bearer token (none for the
    Measurement Protocol, whose secret travels in the query)."""

    integration_id: str
    limit_key: str
    rate_limit_per_minute: int
    priority: Priority = Priority.LIVE
    bearer: SecretStr | None = field(default=None, repr=False)


class _Bearer:
    __slots__ = ("_bearer",)

    def __init__(self, bearer: SecretStr | None) -> None:
        self._bearer = bearer

    async def headers(self) -> Mapping[str, str]:
        if self._bearer is None:
            return {}
        return {"Authorization": f"Bearer {self._bearer.reveal()}"}

    async def refresh(self) -> bool:
        # A service-account token is minted for one connection test; a 401 means the key is bad.
        return False


class Ga4HttpPolicy:
    """ProviderPolicy of the Measurement Protocol and the Admin API."""

    name = "ga4"
    display_name = "Google Analytics"

    def rate_limit(self, call: Ga4Call, request: HttpRequest) -> RateLimitSlot:
        return RateLimitSlot(call.limit_key, call.rate_limit_per_minute, call.priority)

    def authorizer(self, call: Ga4Call) -> Authorizer:
        return _Bearer(call.bearer)

    def log_fields(self, call: Ga4Call) -> Mapping[str, object]:
        return {"integration_id": call.integration_id}

    def headers(self, request: HttpRequest) -> Mapping[str, str]:
        return {"Accept": "application/json"}

    def endpoint(self, path: str) -> str:
        return endpoint_template(path, _ROUTE_SEGMENTS)

    def observe(self, answer: HttpAnswer) -> RateLimitObservation:
        return RateLimitObservation(
            throttled=answer.status == 429,
            retry_after_seconds=_seconds(answer.headers.get("Retry-After")),
        )

    def is_transient(self, answer: HttpAnswer) -> bool:
        return answer.status in _TRANSIENT

    def trace_id(self, answer: HttpAnswer) -> str | None:
        return None

    def error_for(
        self, answer: HttpAnswer, observed: RateLimitObservation, request: HttpRequest
    ) -> DomainError:
        """DESIGN.md §5, from Google's ``{"error": {"code", "message", "status"}}``."""
        status = answer.status
        if status in (401, 403):
            # 403: the service account is not a user of the property: a person must act, too.
            return InvalidCredentialsError(
                f"Google Analytics refused the credentials ({_status_text(answer.body, status)})"
            )
        if status == 429:
            return RateLimitExceededError(
                "Google Analytics' quota was still exceeded after retries",
                retry_after_seconds=observed.retry_after_seconds or _DEFAULT_THROTTLE_SECONDS,
            )
        if status >= 500:
            return ConnectionFailedError(f"Google Analytics answered HTTP {status}")
        if status == 404 and request.resource is not None:
            return NotFoundError(*request.resource)
        return ProviderError(
            f"Google Analytics refused the request: {_message(answer.body, status)}"
        )


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _error(body: Any) -> Mapping[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _status_text(body: Any, status: int) -> str:
    name = _error(body).get("status")
    return f"HTTP {status} {name}" if isinstance(name, str) and name else f"HTTP {status}"


def _message(body: Any, status: int) -> str:
    message = _error(body).get("message")
    return message[:300] if isinstance(message, str) and message else f"HTTP {status}"

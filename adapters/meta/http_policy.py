"""Meta's rules for the shared HTTP machinery: Graph errors classified by ``error.code`` (its
throttles are HTTP 400/403 with codes 4, 17, 32, 613, 80000-80014, never 429 and never a
Retry-After), the waits and usage of its ``X-App-Usage`` / ``X-Business-Use-Case-Usage``
headers, limits keyed by app and by Page, and ``appsecret_proof`` on user and Page tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.http import Authorizer, HttpAnswer, HttpRequest, RateLimitSlot
from adapters.meta.auth import GraphAuth
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

THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
"""API-NOTES §6: app (4), user (17), Pages (32), application limit (341), per-endpoint (613) and
the Business-Use-Case throttles (80000-80014, 80005 being LeadGen's)."""
TOKEN_DEAD_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
TRANSIENT_CODES = frozenset({1, 2})
NOT_FOUND_CODE = 100

DEFAULT_THROTTLE_SECONDS = 300.0
"""Meta names no wait for its platform throttles (4, 17, 32, 613: usage over a rolling hour)
when no Business-Use-Case header says one: probe again after five minutes."""

_TOKEN_DEATHS: Mapping[int, str] = {
    458: "the app is no longer installed for the person who made it",
    459: "the person who made it must log in to Facebook to clear a checkpoint",
    460: "the password of the person who made it changed",
    463: "it has expired",
    464: "the person who made it has not confirmed their account",
    467: "it was invalidated (the person logged out or revoked it)",
}
_GATEWAY = frozenset({500, 502, 503, 504})
_ROUTES = frozenset(
    {
        "debug_token", "subscribed_apps", "events", "leads", "me", "oauth", "access_token",
        "accounts", "permissions",
    }
)  # fmt: skip
_VERSION_SEGMENT = re.compile(r"v[0-9]+\.[0-9]+")
_TOKEN_IN_TEXT = re.compile(r"EAA[A-Za-z0-9]{16,}")
_MESSAGE_MAX = 300


def appsecret_proof(app_secret: SecretStr, token: SecretStr) -> str:
    """HMAC-SHA256 of the access token keyed with the app secret, lowercase hex: sent beside a
    user or Page token, so that a token taken elsewhere is useless without the secret."""
    return hmac.new(
        app_secret.reveal().encode(), token.reveal().encode(), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class UsageThresholds:
    """How calls slow down as Meta's reported usage (the highest percentage of any usage header)
    nears its limit: from `slow_from` each answer pauses the key, from `min_pause` up to
    `slow_pause` just below `pause_at`; from `pause_at` the key pauses `pause_seconds`, or the
    Business-Use-Case header's wait if that is longer (the practice of Airbyte's connector,
    API-NOTES §7)."""

    slow_from: float = 80.0
    pause_at: float = 95.0
    min_pause: float = 1.0
    slow_pause: float = 60.0
    pause_seconds: float = 600.0


DEFAULT_USAGE = UsageThresholds()


@dataclass(frozen=True, slots=True)
class GraphUsage:
    """What one answer's usage headers say: the highest percentage used, and the longest wait
    until access is regained (seconds), when they say it."""

    percent: float | None = None
    regain_seconds: float | None = None


def graph_usage(headers: Mapping[str, str]) -> GraphUsage:
    """The usage headers of an answer (values are JSON strings); unreadable ones are skipped."""
    percents: list[float] = []
    regains: list[float] = []
    for name in ("X-App-Usage", "X-Page-Usage"):
        percents.extend(_percents(_json_header(headers, name)))
    ad_account = _json_header(headers, "X-Ad-Account-Usage")
    if isinstance(ad_account, dict):
        percents.extend(_number(ad_account.get("acc_id_util_pct")))
    buc = _json_header(headers, "X-Business-Use-Case-Usage")
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else ():
                percents.extend(_percents(entry))
                if isinstance(entry, dict):
                    minutes = _number(entry.get("estimated_time_to_regain_access"))
                    regains.extend(m * 60.0 for m in minutes if m > 0)
    return GraphUsage(
        percent=max(percents) if percents else None,
        regain_seconds=max(regains) if regains else None,
    )


@dataclass(frozen=True, slots=True)
class GraphError:
    """A Graph error body's fields (``{"error": {...}}``), as far as they are there."""

    code: int | None
    subcode: int | None
    message: str
    user_message: str | None
    trace_id: str | None

    @classmethod
    def of(cls, body: Any) -> GraphError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {}

        def integer(key: str) -> int | None:
            value = error.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        def text(key: str) -> str | None:
            value = error.get(key)
            return _clean(value) if isinstance(value, str) and value else None

        return cls(
            code=integer("code"),
            subcode=integer("error_subcode"),
            message=text("message") or "",
            user_message=text("error_user_msg"),
            trace_id=text("fbtrace_id"),
        )


class MetaBearer:
    """The token of one call, as a bearer header (never in the URL, which may reach logs); none
    for the OAuth token endpoint, which authenticates the app by its client id and secret. A
    Graph token cannot be refreshed by the service: a 401 is final."""

    __slots__ = ("_token",)

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    async def headers(self) -> Mapping[str, str]:
        token = self._token.reveal()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def refresh(self) -> bool:
        return False


class MetaHttpPolicy:
    """ProviderPolicy of Meta's Graph API. Each call names its limit key (GraphAuth): the app's
    for app-token calls, the Page's for calls with the Page's token."""

    name = "meta"
    display_name = "Meta"

    def __init__(self, *, usage: UsageThresholds = DEFAULT_USAGE) -> None:
        self._usage = usage

    def rate_limit(self, call: GraphAuth, request: HttpRequest) -> RateLimitSlot:
        return RateLimitSlot(call.rate_limit_key, call.rate_limit_per_minute, call.priority)

    def authorizer(self, call: GraphAuth) -> Authorizer:
        return MetaBearer(call.token)

    def log_fields(self, call: GraphAuth) -> Mapping[str, object]:
        return {"integration_id": call.integration_id, "rate_limit_key": call.rate_limit_key}

    def headers(self, request: HttpRequest) -> Mapping[str, str]:
        return {"Accept": "application/json"}

    def endpoint(self, path: str) -> str:
        segments = path.split("?", 1)[0].split("/")
        return "/".join(
            "{version}"
            if _VERSION_SEGMENT.fullmatch(s)
            else (s if s in _ROUTES or not s else "{id}")
            for s in segments
        )

    def observe(self, answer: HttpAnswer) -> RateLimitObservation:
        """Throttled when Meta refused the call for its rate (by code, whatever the status),
        waiting the Business-Use-Case header's time or DEFAULT_THROTTLE_SECONDS; on a success,
        a pause that grows with the usage reported (UsageThresholds). The usage is also reported
        as `remaining` of 100 (no interval: the limiters learn no window from it), so that
        health shows it."""
        usage = graph_usage(answer.headers)
        remaining = None if usage.percent is None else max(0, 100 - round(usage.percent))
        limit = None if remaining is None else 100
        if answer.status >= 300:
            if GraphError.of(answer.body).code in THROTTLE_CODES:
                return RateLimitObservation(
                    max_requests=limit,
                    remaining=remaining,
                    throttled=True,
                    retry_after_seconds=usage.regain_seconds or DEFAULT_THROTTLE_SECONDS,
                )
            return RateLimitObservation(max_requests=limit, remaining=remaining)
        pause = self._pause(usage)
        return RateLimitObservation(
            max_requests=limit,
            remaining=remaining,
            throttled=pause is not None,
            retry_after_seconds=pause,
        )

    def _pause(self, usage: GraphUsage) -> float | None:
        t, percent = self._usage, usage.percent
        if percent is None or percent < t.slow_from:
            return usage.regain_seconds
        if percent >= t.pause_at:
            return max(t.pause_seconds, usage.regain_seconds or 0.0)
        share = (percent - t.slow_from) / (t.pause_at - t.slow_from)
        return max(t.min_pause + share * (t.slow_pause - t.min_pause), usage.regain_seconds or 0.0)

    def is_transient(self, answer: HttpAnswer) -> bool:
        code = GraphError.of(answer.body).code
        return code in TRANSIENT_CODES or (code is None and answer.status in _GATEWAY)

    def trace_id(self, answer: HttpAnswer) -> str | None:
        return GraphError.of(answer.body).trace_id or answer.headers.get("x-fb-trace-id")

    def error_for(
        self, answer: HttpAnswer, observed: RateLimitObservation, request: HttpRequest
    ) -> DomainError:
        """DESIGN.md §5 by Graph error code (API-NOTES §6); messages never repeat a token."""
        error = GraphError.of(answer.body)
        code, status = error.code, answer.status
        trace_id = error.trace_id or answer.headers.get("x-fb-trace-id")
        if observed.throttled or code in THROTTLE_CODES:
            return RateLimitExceededError(
                f"Meta's rate limit was reached (code {code})",
                retry_after_seconds=observed.retry_after_seconds or DEFAULT_THROTTLE_SECONDS,
                trace_id=trace_id,
            )
        if code in TOKEN_DEAD_CODES or (code is None and status == 401):
            return InvalidCredentialsError(
                token_death_message(code, error.subcode), trace_id=trace_id
            )
        if code in PERMISSION_CODES:
            return InvalidCredentialsError(
                f"Meta refused a permission the access token lacks (code {code}): "
                f"{error.message or 'no detail'}. Grant it to the token and test again",
                trace_id=trace_id,
            )
        if code == NOT_FOUND_CODE and request.resource is not None:
            not_found = NotFoundError(*request.resource)
            if trace_id:
                not_found.metadata["trace_id"] = trace_id
            return not_found
        if code in TRANSIENT_CODES or (code is None and status >= 500):
            return ConnectionFailedError(
                f"Meta answered HTTP {status}{_code_part(code)}: temporarily unavailable",
                trace_id=trace_id,
            )
        detail = error.user_message or error.message or "no detail"
        return ProviderError(
            f"Meta refused the request (HTTP {status}{_code_part(code)}): {detail}",
            trace_id=trace_id,
        )


def token_death_message(code: int | None, subcode: int | None) -> str:
    """What to tell an admin whose token Meta refused (190 and its subcodes, 102)."""
    reason = _TOKEN_DEATHS.get(subcode or 0, "it is invalid or was revoked")
    where = f"code {code}" + (f"/{subcode}" if subcode is not None else "")
    return (
        f"Meta refused the access token ({where}): {reason}. Generate a new Page or "
        "system-user token and update the integration"
    )


def _code_part(code: int | None) -> str:
    return "" if code is None else f", code {code}"


def _clean(text: str) -> str:
    """A Graph message as it may be shown: any access token in it masked, bounded."""
    return _TOKEN_IN_TEXT.sub("[token]", text)[:_MESSAGE_MAX]


def _json_header(headers: Mapping[str, str], name: str) -> Any:
    value = headers.get(name)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _percents(entry: Any) -> Iterator[float]:
    if isinstance(entry, dict):
        for key in ("call_count", "total_cputime", "total_time"):
            yield from _number(entry.get(key))


def _number(value: Any) -> tuple[float, ...]:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        return (float(value),)
    return ()

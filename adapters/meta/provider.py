"""MetaProvider: the `facebook_ads` template's IntegrationProvider."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from adapters.meta.auth import PageAuth
from adapters.meta.graph import LEADGEN_FIELD, MetaGraph, TokenInfo
from adapters.meta.http_policy import token_death_message
from adapters.meta.webhooks import page_account
from application.call_budget import rate_limit_wait_at_most
from application.ports import Clock, ConnectionTestResult, ProviderCall, ProviderContext
from domain.errors import (
    ConfigSchemaInvalidError,
    ErrorCode,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)

REQUIRED_SCOPES = (
    "leads_retrieval",
    "pages_manage_metadata",
    "pages_show_list",
    "pages_read_engagement",
    "ads_management",
)
"""API-NOTES §2, §8: receive a Page's leadgen webhooks, subscribe the app to them, read the leads
and their ad fields."""
PAGE_SCOPES = frozenset(
    {"leads_retrieval", "pages_manage_metadata", "pages_show_list", "pages_read_engagement"}
)
"""The scopes that must be granted for the integration's Page itself, where the token's granular
scopes narrow them to some Pages (``target_ids``)."""

_TEST_RATE_LIMIT_WAIT = 1.0
"""How long a connection test waits for a rate-limit slot: a person waits on its answer, and a
throttled test concludes nothing anyway."""


@dataclass(frozen=True, slots=True)
class TokenVerdict:
    """Why debug_token's answer rules a token out for the integration (None: it does not)."""

    problem: str | None
    missing_scopes: tuple[str, ...] = ()


def check_token(info: TokenInfo, *, app_id: str, page_id: str, now: datetime) -> TokenVerdict:
    """The token must be valid, made for the platform's app, unexpired, a Page's (this Page) or
    a person's or system user's, with every REQUIRED_SCOPES, the Page scopes granted for this
    Page."""
    if not info.is_valid:
        return TokenVerdict(token_death_message(info.error_code or 190, info.error_subcode))
    if info.app_id != app_id:
        return TokenVerdict(
            f"The access token was made for another Meta app (id {info.app_id or 'unknown'}), "
            f"not the platform's (id {app_id}): create the token for the platform's app"
        )
    moment = int(now.timestamp())
    if info.expires_at and info.expires_at <= moment:
        return TokenVerdict(token_death_message(190, 463))
    if info.type == "APP":
        return TokenVerdict(
            "The access token is an app token, which cannot read a Page's leads: use a Page "
            "or system-user token"
        )
    if info.type == "PAGE" and info.profile_id not in (None, page_id):
        return TokenVerdict(
            f"The access token is Page {info.profile_id}'s, not Page {page_id}'s: use a token "
            "of this Page"
        )
    narrowed = {g.scope: g.target_ids for g in info.granular_scopes if g.target_ids is not None}
    missing = tuple(
        scope
        for scope in REQUIRED_SCOPES
        if scope not in info.scopes
        or (scope in PAGE_SCOPES and scope in narrowed and page_id not in narrowed[scope])
    )
    if missing:
        return TokenVerdict(
            f"The access token lacks {', '.join(missing)} for Page {page_id}: grant "
            "these permissions (for this Page) to the token and test again",
            missing,
        )
    return TokenVerdict(None)


class MetaProvider:
    """Tests a connection with debug_token (the app's view of the token) and the Page's
    subscribed apps, subscribing the platform's app to the Page's leads when it is not yet
    (API-NOTES §8). While Meta throttles, the test answers at once that it could not conclude,
    and when to try again."""

    def __init__(self, graph: MetaGraph, *, clock: Clock) -> None:
        self._graph = graph
        self._clock = clock

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        started = time.perf_counter()

        def failed(
            code: ErrorCode, message: str, trace_id: str | None = None, **details: str
        ) -> ConnectionTestResult:
            return _failed(started, code, message, trace_id, **details)

        settings = self._graph.settings
        try:
            page = PageAuth.from_call(ProviderCall.of(ctx))
        except ConfigSchemaInvalidError as err:
            return failed(ErrorCode.CONFIG_SCHEMA_INVALID, err.message)
        except InvalidCredentialsError as err:
            return failed(ErrorCode.INVALID_CREDENTIALS, err.message)
        try:
            with rate_limit_wait_at_most(_TEST_RATE_LIMIT_WAIT):
                info = await self._graph.debug_token(page.token)
        except InvalidCredentialsError as err:
            return failed(
                ErrorCode.CONNECTION_FAILED,
                "Meta refused the platform's app credentials (META_APP_ID / META_APP_SECRET) "
                "when checking the token: the platform's operators must fix them",
                err.trace_id,
            )
        except ProviderError as err:
            return _unavailable(started, err)
        verdict = check_token(
            info, app_id=settings.app_id, page_id=page.page_id, now=self._clock.now()
        )
        if verdict.problem is not None:
            missing = ",".join(verdict.missing_scopes)
            details = {"missing_scopes": missing} if missing else {}
            return failed(ErrorCode.INVALID_CREDENTIALS, verdict.problem, **details)
        try:
            with rate_limit_wait_at_most(_TEST_RATE_LIMIT_WAIT):
                subscription = await subscribe_to_leads(self._graph, page)
        except InvalidCredentialsError as err:
            return failed(ErrorCode.INVALID_CREDENTIALS, err.message, err.trace_id)
        except NotFoundError as err:
            return failed(
                ErrorCode.CONNECTION_FAILED,
                f"Meta has no Page {page.page_id} this token can reach: check the Page id",
                err.metadata.get("trace_id"),
            )
        except ProviderError as err:
            return _unavailable(started, err)
        if subscription is None:
            return failed(
                ErrorCode.CONNECTION_FAILED,
                f"Meta did not subscribe the platform's app to Page {page.page_id}'s leads: "
                "check that the Page has not turned off apps, then test again",
            )
        return ConnectionTestResult(
            success=True,
            message=f"Connected to Facebook Page {page.page_id}: its lead forms' submissions "
            "will arrive as leads",
            details={
                "page_id": page.page_id,
                "token_type": info.type or "unknown",
                "token_expires": _expiry(info.expires_at),
                "leadgen_subscription": subscription,
            },
            latency_ms=_elapsed_ms(started),
            accounts=frozenset({page_account(page.page_id)}),
        )


async def subscribe_to_leads(graph: MetaGraph, page: PageAuth) -> str | None:
    """Makes sure the platform's app hears of the Page's leads: 'existing' or 'created', None
    when Meta did not confirm the subscription."""
    app_id = graph.settings.app_id
    apps = await graph.subscribed_apps(page)
    fields = next((app.fields for app in apps if app.app_id == app_id), None)
    if fields is not None and LEADGEN_FIELD in fields:
        return "existing"
    # Meta replaces the app's fields with the list posted: keep any it already has.
    wanted = sorted((fields or frozenset()) | {LEADGEN_FIELD})
    return "created" if await graph.subscribe(page, wanted) else None


def _failed(
    started: float, code: ErrorCode, message: str, trace_id: str | None, **details: str
) -> ConnectionTestResult:
    if trace_id:
        details["trace_id"] = trace_id
    return ConnectionTestResult(
        success=False,
        message=message,
        details=details,
        error_code=code,
        latency_ms=_elapsed_ms(started),
    )


def _unavailable(started: float, err: ProviderError) -> ConnectionTestResult:
    """Meta throttled, could not be reached, or refused for another reason."""
    if isinstance(err, RateLimitExceededError):
        return replace(
            _failed(
                started,
                ErrorCode.RATE_LIMIT_EXCEEDED,
                "Meta's rate limit was reached",
                err.trace_id,
            ),
            retry_after_seconds=max(err.retry_after_seconds, 0.0),
        )
    return _failed(started, ErrorCode.CONNECTION_FAILED, err.message, err.trace_id)


def _expiry(expires_at: int | None) -> str:
    if not expires_at:
        return "never"
    return datetime.fromtimestamp(expires_at, UTC).isoformat()


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)

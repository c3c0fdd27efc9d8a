"""MetaGraph: the Graph API calls the service makes (debug_token, a Page's subscribed apps, a
lead, the Conversions API, Facebook Login's token exchanges and the signed-in person's Pages
and permissions) through the shared outbound HTTP machinery, rate-limited by app and
by Page and mapped to the domain's errors by MetaHttpPolicy."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.http import HttpRequest, HttpTimeouts, ProviderHttpClient, RetryPolicy
from adapters.meta.auth import GraphAuth, PageAuth, app_rate_limit_key
from adapters.meta.http_policy import (
    DEFAULT_USAGE,
    MetaHttpPolicy,
    UsageThresholds,
    appsecret_proof,
)
from adapters.meta.settings import MetaSettings
from adapters.meta.wire import exact_id
from application.ports.rate_limits import Priority, RateLimiter
from domain.errors import ProviderError
from domain.template import DEFAULT_RATE_LIMIT_PER_MINUTE
from domain.values import SecretStr

LEAD_FIELDS = (
    "id",
    "created_time",
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "form_id",
    "is_organic",
    "platform",
    "field_data",
)
"""API-NOTES §5: the lead, its answers and its ad attribution (the ad fields need
``ads_management``)."""
LEADGEN_FIELD = "leadgen"


@dataclass(frozen=True, slots=True)
class GrantedScope:
    scope: str
    target_ids: frozenset[str] | None
    """The objects (Pages) it is granted for; None: not narrowed to any."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """debug_token's verdict on a token (API-NOTES §8)."""

    is_valid: bool
    app_id: str | None
    type: str | None
    expires_at: int | None
    """Unix seconds; 0: never expires."""
    profile_id: str | None
    scopes: frozenset[str]
    granular_scopes: tuple[GrantedScope, ...]
    error_code: int | None = None
    error_subcode: int | None = None

    @classmethod
    def of(cls, body: Any) -> TokenInfo:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ProviderError("Meta's debug_token answered without data")
        error = data.get("error")
        if not isinstance(error, dict):
            error = {}
        scopes = data.get("scopes")
        granular = data.get("granular_scopes")
        return cls(
            is_valid=data.get("is_valid") is True,
            app_id=exact_id(data.get("app_id")),
            type=data.get("type") if isinstance(data.get("type"), str) else None,
            expires_at=_integer(data.get("expires_at")),
            profile_id=exact_id(data.get("profile_id")),
            scopes=frozenset(s for s in scopes if isinstance(s, str))
            if isinstance(scopes, list)
            else frozenset(),
            granular_scopes=tuple(_granted(entry) for entry in granular if isinstance(entry, dict))
            if isinstance(granular, list)
            else (),
            error_code=_integer(error.get("code")),
            error_subcode=_integer(error.get("subcode")),
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A user access token the OAuth endpoint issued, and its lifetime (seconds; None when Meta
    named none)."""

    token: SecretStr = field(repr=False)
    expires_in: int | None = None


@dataclass(frozen=True, slots=True)
class ManagedPage:
    """A Page the signed-in person manages (``me/accounts``), with its Page token. `tasks`: what
    the person may do on it; None when Meta did not say."""

    id: str
    name: str
    token: SecretStr = field(repr=False)
    tasks: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class SubscribedApp:
    app_id: str
    fields: frozenset[str] = field(default_factory=frozenset)


class MetaGraph:
    """Graph API calls for the platform's Meta app. Create it once per process and `close()` it
    at shutdown; it opens its aiohttp session on first use (inside the running loop)."""

    def __init__(
        self,
        settings: MetaSettings,
        *,
        rate_limiter: RateLimiter,
        timeouts: HttpTimeouts = HttpTimeouts(),
        retry: RetryPolicy = RetryPolicy(),
        usage: UsageThresholds = DEFAULT_USAGE,
        app_rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._app_rate_limit = app_rate_limit_per_minute
        self._http = ProviderHttpClient(
            MetaHttpPolicy(usage=usage),
            rate_limiter=rate_limiter,
            base_url=settings.graph_base_url,
            timeouts=timeouts,
            retry=retry,
            rng=rng,
        )

    @property
    def settings(self) -> MetaSettings:
        return self._settings

    async def close(self) -> None:
        await self._http.close()

    async def debug_token(
        self, token: SecretStr, *, priority: Priority = Priority.LIVE
    ) -> TokenInfo:
        """The app's view of `token`: valid, whose, until when, with which scopes. Asked with the
        app token, so it counts against the app's limit."""
        auth = GraphAuth(
            token=self._settings.app_token,
            rate_limit_key=app_rate_limit_key(self._settings.app_id),
            user_token=False,
            rate_limit_per_minute=self._app_rate_limit,
            priority=priority,
        )
        body = await self._call(
            auth, "GET", ("debug_token",), params={"input_token": token.reveal()}
        )
        return TokenInfo.of(body)

    async def exchange_code(
        self, *, code: SecretStr, redirect_uri: str, code_verifier: SecretStr | None
    ) -> IssuedToken:
        """Facebook Login's code for a short-lived user token (``GET oauth/access_token``, the
        app authenticated by its id and secret; the PKCE verifier when the dialog had a
        challenge). Never repeated once sent: a code is good for one exchange."""
        params = {
            "client_id": self._settings.app_id,
            "client_secret": self._settings.app_secret.reveal(),
            "redirect_uri": redirect_uri,
            "code": code.reveal(),
        }
        if code_verifier is not None:
            params["code_verifier"] = code_verifier.reveal()
        body = await self._call(
            self._oauth_auth, "GET", ("oauth", "access_token"), params=params, idempotent=False
        )
        return _issued(body)

    async def long_lived_token(self, user_token: SecretStr) -> IssuedToken:
        """A short-lived user token for a long-lived one (``grant_type=fb_exchange_token``):
        the Page tokens listed with it do not expire."""
        body = await self._call(
            self._oauth_auth,
            "GET",
            ("oauth", "access_token"),
            params={
                "grant_type": "fb_exchange_token",
                "client_id": self._settings.app_id,
                "client_secret": self._settings.app_secret.reveal(),
                "fb_exchange_token": user_token.reveal(),
            },
        )
        return _issued(body)

    async def permissions(self, user_token: SecretStr) -> dict[str, str]:
        """The permissions the person answered for the app (``me/permissions``): name → status
        (granted, declined or expired)."""
        body = await self._call(self._user_auth(user_token), "GET", ("me", "permissions"))
        answered: dict[str, str] = {}
        for entry in _data(body):
            name, status = entry.get("permission"), entry.get("status")
            if isinstance(name, str) and isinstance(status, str):
                answered[name] = status
        return answered

    async def managed_pages(self, user_token: SecretStr) -> list[ManagedPage]:
        """The Pages the person manages and granted the app (``me/accounts``, every page of
        them), each with its Page token; entries without an id or a token are left out."""
        pages: list[ManagedPage] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            params = {"fields": "id,name,access_token,tasks", "limit": str(_PAGE_SIZE)}
            if after is not None:
                params["after"] = after
            body = await self._call(
                self._user_auth(user_token), "GET", ("me", "accounts"), params=params
            )
            pages.extend(page for entry in _data(body) if (page := _managed(entry)) is not None)
            after = _next_cursor(body)
            if after is None:
                break
        return pages

    @property
    def _oauth_auth(self) -> GraphAuth:
        """The OAuth endpoint's calls: no bearer token (the app's id and secret are in the
        query), counted against the app."""
        return GraphAuth(
            token=SecretStr(""),
            rate_limit_key=app_rate_limit_key(self._settings.app_id),
            user_token=False,
            rate_limit_per_minute=self._app_rate_limit,
        )

    def _user_auth(self, user_token: SecretStr) -> GraphAuth:
        return GraphAuth(
            token=user_token,
            rate_limit_key=app_rate_limit_key(self._settings.app_id),
            user_token=True,
            rate_limit_per_minute=self._app_rate_limit,
        )

    async def subscribed_apps(self, page: PageAuth) -> tuple[SubscribedApp, ...]:
        body = await self._call(
            page.graph,
            "GET",
            (page.page_id, "subscribed_apps"),
            resource=("page", page.page_id),
        )
        data = body.get("data") if isinstance(body, dict) else None
        apps = []
        for entry in data if isinstance(data, list) else ():
            app_id = exact_id(entry.get("id")) if isinstance(entry, dict) else None
            if app_id is None:
                continue
            fields = entry.get("subscribed_fields")
            apps.append(
                SubscribedApp(
                    app_id,
                    frozenset(f for f in fields if isinstance(f, str))
                    if isinstance(fields, list)
                    else frozenset(),
                )
            )
        return tuple(apps)

    async def subscribe(self, page: PageAuth, fields: Sequence[str]) -> bool:
        """Subscribe the app to the Page's `fields` (the whole list it is to receive: Meta
        replaces the app's fields with it). Repeating it does no harm."""
        body = await self._call(
            page.graph,
            "POST",
            (page.page_id, "subscribed_apps"),
            params={"subscribed_fields": ",".join(fields)},
            resource=("page", page.page_id),
        )
        return isinstance(body, dict) and body.get("success") is True

    async def lead(self, page: PageAuth, leadgen_id: str) -> Mapping[str, Any]:
        """The lead's fields (LEAD_FIELDS). NotFoundError when the Page cannot read it (code 100:
        unknown, past retention, or no lead access)."""
        body = await self._call(
            page.graph,
            "GET",
            (leadgen_id,),
            params={"fields": ",".join(LEAD_FIELDS)},
            resource=("lead", leadgen_id),
        )
        if not isinstance(body, dict):
            raise ProviderError("Meta answered a lead without a JSON object")
        return body

    async def leadgen_forms(self, page: PageAuth) -> list[str]:
        """The ids of the Page's lead forms (every page of them)."""
        forms: list[str] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            params = {"fields": "id", "limit": str(_PAGE_SIZE)}
            if after is not None:
                params["after"] = after
            body = await self._call(
                page.graph,
                "GET",
                (page.page_id, "leadgen_forms"),
                params=params,
                resource=("page", page.page_id),
            )
            forms.extend(
                form_id
                for entry in _data(body)
                if (form_id := exact_id(entry.get("id"))) is not None
            )
            after = _next_cursor(body)
            if after is None:
                break
        return forms

    async def form_leads(
        self, page: PageAuth, form_id: str, *, created_after: int
    ) -> list[Mapping[str, Any]]:
        """The form's leads created after the unix time `created_after` (every page of them)."""
        leads: list[Mapping[str, Any]] = []
        after: str | None = None
        filtering = json.dumps(
            [{"field": "time_created", "operator": "GREATER_THAN", "value": created_after}]
        )
        for _ in range(_MAX_PAGES):
            params = {
                "fields": ",".join(LEAD_FIELDS),
                "limit": str(_PAGE_SIZE),
                "filtering": filtering,
            }
            if after is not None:
                params["after"] = after
            body = await self._call(
                page.graph,
                "GET",
                (form_id, "leads"),
                params=params,
                resource=("form", form_id),
            )
            leads.extend(_data(body))
            after = _next_cursor(body)
            if after is None:
                break
        return leads

    async def send_events(
        self, page: PageAuth, dataset_id: str, events: Sequence[Mapping[str, Any]]
    ) -> int:
        """Post server events to the dataset (at most 1000, all or none: one invalid event makes
        Meta refuse the batch). Repeating it does no harm: Meta deduplicates by event id and
        name. Returns Meta's count of events received."""
        body = await self._call(
            page.graph,
            "POST",
            (dataset_id, "events"),
            json_body={"data": list(events)},
        )
        received = body.get("events_received") if isinstance(body, dict) else None
        if not isinstance(received, int) or isinstance(received, bool):
            raise ProviderError("Meta's Conversions API answered without events_received")
        return received

    async def _call(
        self,
        auth: GraphAuth,
        method: str,
        segments: tuple[str, ...],
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        resource: tuple[str, str] | None = None,
        idempotent: bool = True,
    ) -> Any:
        query = dict(params or {})
        if auth.user_token:
            query["appsecret_proof"] = appsecret_proof(self._settings.app_secret, auth.token)
        answer = await self._http.call(
            auth,
            HttpRequest(
                method,
                self._settings.path(*segments),
                # Reads, and writes Meta deduplicates (a subscription, events by id), may be
                # repeated after a lost answer; a code exchange may not.
                idempotent=idempotent,
                params=query or None,
                json=json_body,
                resource=resource,
            ),
        )
        if answer.body is None:
            raise ProviderError(f"Meta answered HTTP {answer.status} without JSON")
        return answer.body


_PAGE_SIZE = 100
_MAX_PAGES = 100
"""At most this many pages of one listing per backfill (10,000 leads of a form): the rest
waits for the next backfill, which starts from the newest lead captured."""


def _data(body: Any) -> list[Mapping[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def _next_cursor(body: Any) -> str | None:
    """The cursor of the next page, when Graph says there is one (``paging.next``)."""
    paging = body.get("paging") if isinstance(body, dict) else None
    if not isinstance(paging, dict) or "next" not in paging:
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after else None


def _issued(body: Any) -> IssuedToken:
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ProviderError("Meta's OAuth endpoint answered without an access token")
    return IssuedToken(SecretStr(token), _integer(body.get("expires_in")))


def _managed(entry: Mapping[str, Any]) -> ManagedPage | None:
    page_id, token = exact_id(entry.get("id")), entry.get("access_token")
    if page_id is None or not isinstance(token, str) or not token:
        return None
    name, tasks = entry.get("name"), entry.get("tasks")
    return ManagedPage(
        id=page_id,
        name=name if isinstance(name, str) and name else page_id,
        token=SecretStr(token),
        tasks=frozenset(t for t in tasks if isinstance(t, str))
        if isinstance(tasks, list)
        else None,
    )


def _granted(entry: Mapping[str, Any]) -> GrantedScope:
    targets = entry.get("target_ids")
    scope = entry.get("scope")
    return GrantedScope(
        scope if isinstance(scope, str) else "",
        frozenset(t for t in (exact_id(v) for v in targets) if t is not None)
        if isinstance(targets, list)
        else None,
    )


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None

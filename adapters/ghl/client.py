"""HttpGhlClient: GoHighLevel's API v2 over one shared aiohttp session, rate-limited per
integration, retried with backoff, failures mapped to the domain's errors."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog
from multidict import CIMultiDict

from adapters.clock import SystemClock
from adapters.ghl import dto, metrics
from adapters.ghl.oauth import DEFAULT_REFRESH_MARGIN, OAuthTokenManager
from application.call_budget import rate_limit_wait
from application.ghl import (
    MAX_CONTACT_PAGE_SIZE,
    MAX_CONTACT_QUERY_LENGTH,
    MAX_OPPORTUNITY_PAGE_SIZE,
    AppointmentChanges,
    ContactFields,
    FreeSlots,
    GhlAppointment,
    GhlAuth,
    GhlBlockSlot,
    GhlCalendar,
    GhlContact,
    GhlContactPage,
    GhlLocation,
    GhlMessageSent,
    GhlOpportunity,
    GhlOpportunityPage,
    GhlPipeline,
    GhlUpsertedContact,
    NewAppointment,
    NewOpportunity,
    OAuthClientCredentials,
    OpportunityStatus,
    OutgoingMessage,
    RateLimiter,
    RateLimitObservation,
    TokenStore,
    check_free_slots_range,
    location_rate_limit_key,
)
from application.ports import Clock
from domain.errors import (
    ConnectionFailedError,
    DomainError,
    InvalidArgumentError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)
from domain.values import SecretStr

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://services.leadconnectorhq.com"

# The `Version` header per endpoint family: the single enum value of each family's Version
# parameter in GHL's specs (reference/ghl/version-headers.json). /oauth/token declares none.
_VERSIONS = {
    "contacts": "2021-07-28",
    "locations": "2021-07-28",
    "opportunities": "2021-07-28",
    "calendars": "2021-04-15",
    "conversations": "2021-04-15",
}

_RETRYABLE_STATUSES = frozenset({502, 503, 504})


def version_for(path: str) -> str:
    family = path.lstrip("/").split("/", 1)[0]
    return _VERSIONS[family]


@dataclass(frozen=True, slots=True)
class GhlTimeouts:
    connect: float = 5.0  # TCP + TLS handshake
    read: float = 30.0  # between two reads of the answer


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of one call: exponential backoff with full jitter (a random delay between 0 and
    `base_delay` * 2^(attempt-1), capped at `max_delay`), at most `max_attempts` attempts and
    `total_seconds` overall. `rate_limit_wait` bounds each wait for a rate-limit slot."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    total_seconds: float = 30.0
    rate_limit_wait: float = 10.0


class _TransportError(Exception):
    """No HTTP answer. `unsent`: the request certainly never reached GHL (safe to repeat even
    when it is not idempotent); `retryable`: the failure is worth another attempt."""

    def __init__(self, reason: str, *, unsent: bool, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unsent = unsent
        self.retryable = retryable


def _transport_error(err: BaseException) -> _TransportError:
    # Order matters: the TLS and connect-timeout classes subclass the broader ones below.
    if isinstance(err, aiohttp.ClientSSLError):
        return _TransportError("TLS handshake failed", unsent=True, retryable=False)
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return _TransportError("DNS lookup failed", unsent=True)
    if isinstance(err, aiohttp.ClientConnectorError):
        return _TransportError("connection refused or unreachable", unsent=True)
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return _TransportError("connect timeout", unsent=True)
    if isinstance(err, TimeoutError):
        return _TransportError("read timeout", unsent=False)
    return _TransportError("connection dropped", unsent=False)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None


class HttpGhlClient:
    """GhlApi over HTTP. Create it once per process and `close()` it at shutdown; it opens its
    aiohttp session on first use (inside the running loop)."""

    def __init__(
        self,
        *,
        rate_limiter: RateLimiter,
        token_store: TokenStore | None = None,
        base_url: str = DEFAULT_BASE_URL,
        timeouts: GhlTimeouts = GhlTimeouts(),
        retry: RetryPolicy = RetryPolicy(),
        clock: Clock | None = None,
        refresh_margin_seconds: float = DEFAULT_REFRESH_MARGIN.total_seconds(),
        rng: random.Random | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._limiter = rate_limiter
        self._timeouts = timeouts
        self._retry = retry
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._session: aiohttp.ClientSession | None = None
        self._oauth = (
            OAuthTokenManager(
                store=token_store,
                clock=clock or SystemClock(),
                request_tokens=self._request_tokens,
                refresh_margin=timedelta(seconds=refresh_margin_seconds),
            )
            if token_store is not None
            else None
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the API -----------------------------------------------------------------------------

    async def get_location(self, auth: GhlAuth) -> GhlLocation:
        body = await self._call(
            auth,
            "GET",
            f"/locations/{_q(auth.location_id)}",
            idempotent=True,
            resource=("location", auth.location_id),
        )
        return dto.location(body)

    async def get_contact(self, auth: GhlAuth, contact_id: str) -> GhlContact:
        body = await self._call(
            auth,
            "GET",
            f"/contacts/{_q(contact_id)}",
            idempotent=True,
            resource=("contact", contact_id),
        )
        return dto.wrapped_contact(body)

    async def create_contact(self, auth: GhlAuth, fields: ContactFields) -> GhlContact:
        body = await self._call(
            auth,
            "POST",
            "/contacts/",
            idempotent=False,
            json_body=dto.contact_body(fields, location_id=auth.location_id),
        )
        return dto.wrapped_contact(body)

    async def update_contact(
        self, auth: GhlAuth, contact_id: str, fields: ContactFields
    ) -> GhlContact:
        body = await self._call(
            auth,
            "PUT",
            f"/contacts/{_q(contact_id)}",
            idempotent=True,
            json_body=dto.contact_body(fields, location_id=None),
            resource=("contact", contact_id),
        )
        return dto.wrapped_contact(body)

    async def upsert_contact(self, auth: GhlAuth, fields: ContactFields) -> GhlUpsertedContact:
        body = await self._call(
            auth,
            "POST",
            "/contacts/upsert",
            idempotent=True,
            json_body=dto.contact_body(fields, location_id=auth.location_id),
        )
        return dto.upserted_contact(body)

    async def delete_contact(self, auth: GhlAuth, contact_id: str) -> None:
        await self._call(
            auth,
            "DELETE",
            f"/contacts/{_q(contact_id)}",
            idempotent=True,
            resource=("contact", contact_id),
        )

    async def search_contacts(
        self,
        auth: GhlAuth,
        *,
        query: str | None = None,
        page_size: int = 100,
        cursor: str | None = None,
        updated_since: datetime | None = None,
    ) -> GhlContactPage:
        if not 1 <= page_size <= MAX_CONTACT_PAGE_SIZE:
            raise InvalidArgumentError(f"page_size must be 1 to {MAX_CONTACT_PAGE_SIZE}")
        if query is not None and len(query) > MAX_CONTACT_QUERY_LENGTH:
            raise InvalidArgumentError(
                f"query must be at most {MAX_CONTACT_QUERY_LENGTH} characters"
            )
        state = dto.decode_cursor(cursor)
        body = await self._call(
            auth,
            "POST",
            "/contacts/search",
            idempotent=True,  # a read, despite the POST
            json_body=dto.search_body(
                auth.location_id,
                query=query,
                page_size=page_size,
                cursor=state,
                updated_since=updated_since,
            ),
        )
        return dto.contact_page(body, cursor=state, page_size=page_size)

    async def list_calendars(self, auth: GhlAuth) -> list[GhlCalendar]:
        body = await self._call(
            auth, "GET", "/calendars/", idempotent=True, params={"locationId": auth.location_id}
        )
        return dto.calendars(body)

    async def get_free_slots(
        self,
        auth: GhlAuth,
        calendar_id: str,
        *,
        start: datetime,
        end: datetime,
        timezone: str,
        user_id: str | None = None,
    ) -> FreeSlots:
        check_free_slots_range(start, end, timezone)
        params = {
            "startDate": str(dto.epoch_ms(start)),
            "endDate": str(dto.epoch_ms(end)),
            "timezone": timezone,
        }
        if user_id is not None:
            params["userId"] = user_id
        body = await self._call(
            auth,
            "GET",
            f"/calendars/{_q(calendar_id)}/free-slots",
            idempotent=True,
            params=params,
            resource=("calendar", calendar_id),
        )
        return dto.free_slots(body, timezone)

    async def create_block_slot(
        self,
        auth: GhlAuth,
        calendar_id: str,
        *,
        start: datetime,
        end: datetime,
        title: str | None = None,
    ) -> GhlBlockSlot:
        if end <= start:
            raise InvalidArgumentError("a block slot must end after it starts")
        payload: dict[str, Any] = {
            "locationId": auth.location_id,
            # GHL takes calendarId or assignedUserId, never both; we block a calendar.
            "calendarId": calendar_id,
            "startTime": dto.iso(start),
            "endTime": dto.iso(end),
        }
        if title is not None:
            payload["title"] = title
        body = await self._call(
            auth,
            "POST",
            "/calendars/events/block-slots",
            idempotent=False,
            json_body=payload,
            resource=("calendar", calendar_id),
        )
        return dto.block_slot(body)

    async def create_appointment(
        self, auth: GhlAuth, appointment: NewAppointment
    ) -> GhlAppointment:
        body = await self._call(
            auth,
            "POST",
            "/calendars/events/appointments",
            idempotent=False,
            json_body=dto.appointment_body(appointment, location_id=auth.location_id),
            resource=("calendar", appointment.calendar_id),
        )
        return dto.appointment(body)

    async def update_appointment(
        self, auth: GhlAuth, appointment_id: str, changes: AppointmentChanges
    ) -> GhlAppointment:
        body = await self._call(
            auth,
            "PUT",
            f"/calendars/events/appointments/{_q(appointment_id)}",
            idempotent=True,
            json_body=dto.appointment_changes_body(changes),
            resource=("appointment", appointment_id),
        )
        return dto.appointment(body)

    async def get_appointment(self, auth: GhlAuth, appointment_id: str) -> GhlAppointment:
        body = await self._call(
            auth,
            "GET",
            f"/calendars/events/appointments/{_q(appointment_id)}",
            idempotent=True,
            resource=("appointment", appointment_id),
        )
        return dto.appointment(body)

    async def list_appointments(
        self, auth: GhlAuth, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[GhlAppointment]:
        body = await self._call(
            auth,
            "GET",
            "/calendars/events",
            idempotent=True,
            params=_event_window(auth, calendar_id, start, end),
            resource=("calendar", calendar_id),
        )
        return dto.appointments(body)

    async def list_block_slots(
        self, auth: GhlAuth, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[GhlBlockSlot]:
        body = await self._call(
            auth,
            "GET",
            "/calendars/blocked-slots",
            idempotent=True,
            params=_event_window(auth, calendar_id, start, end),
            resource=("calendar", calendar_id),
        )
        return dto.block_slots(body)

    async def delete_calendar_event(self, auth: GhlAuth, event_id: str) -> None:
        await self._call(
            auth,
            "DELETE",
            f"/calendars/events/{_q(event_id)}",
            idempotent=True,
            json_body={},  # DeleteAppointmentSchema: an empty object, but a body is required
            resource=("calendar event", event_id),
        )

    async def send_message(self, auth: GhlAuth, message: OutgoingMessage) -> GhlMessageSent:
        body = await self._call(
            auth,
            "POST",
            "/conversations/messages",
            idempotent=False,
            json_body=dto.message_body(message),
        )
        return dto.message_sent(body)

    async def get_opportunity(self, auth: GhlAuth, opportunity_id: str) -> GhlOpportunity:
        body = await self._call(
            auth,
            "GET",
            f"/opportunities/{_q(opportunity_id)}",
            idempotent=True,
            resource=("opportunity", opportunity_id),
        )
        return dto.wrapped_opportunity(body)

    async def search_opportunities(
        self,
        auth: GhlAuth,
        *,
        contact_id: str | None = None,
        page_size: int = MAX_OPPORTUNITY_PAGE_SIZE,
        cursor: str | None = None,
    ) -> GhlOpportunityPage:
        if not 1 <= page_size <= MAX_OPPORTUNITY_PAGE_SIZE:
            raise InvalidArgumentError(f"page_size must be 1 to {MAX_OPPORTUNITY_PAGE_SIZE}")
        body = await self._call(
            auth,
            "GET",
            "/opportunities/search",
            idempotent=True,
            params=dto.opportunity_search_params(
                auth.location_id, contact_id=contact_id, page_size=page_size, cursor=cursor
            ),
        )
        return dto.opportunity_page(body, page_size=page_size)

    async def create_opportunity(
        self, auth: GhlAuth, opportunity: NewOpportunity
    ) -> GhlOpportunity:
        body = await self._call(
            auth,
            "POST",
            "/opportunities/",
            idempotent=False,
            json_body=dto.opportunity_body(opportunity, location_id=auth.location_id),
        )
        return dto.wrapped_opportunity(body)

    async def list_pipelines(self, auth: GhlAuth) -> list[GhlPipeline]:
        body = await self._call(
            auth,
            "GET",
            "/opportunities/pipelines",
            idempotent=True,
            params={"locationId": auth.location_id},
        )
        return dto.pipelines(body)

    async def update_opportunity_status(
        self,
        auth: GhlAuth,
        opportunity_id: str,
        status: OpportunityStatus,
        *,
        lost_reason_id: str | None = None,
    ) -> None:
        payload: dict[str, Any] = {"status": status.value}
        if lost_reason_id is not None:
            payload["lostReasonId"] = lost_reason_id
        await self._call(
            auth,
            "PUT",
            f"/opportunities/{_q(opportunity_id)}/status",
            idempotent=True,
            json_body=payload,
            resource=("opportunity", opportunity_id),
        )

    # --- one call: rate limit, send, retry, map ----------------------------------------------

    async def _call(
        self,
        auth: GhlAuth,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        resource: tuple[str, str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + self._retry.total_seconds
        attempt = 0
        reauthorised = False
        endpoint = metrics.endpoint_of(path)
        while True:
            attempt += 1
            bearer = await self._bearer(auth)
            permit = await self._limiter.acquire(
                location_rate_limit_key(auth.location_id),
                limit_per_minute=auth.rate_limit_per_minute,
                max_wait=max(
                    0.0,
                    min(rate_limit_wait(self._retry.rate_limit_wait), deadline - time.monotonic()),
                ),
                priority=auth.priority,
            )
            sent = time.perf_counter()
            try:
                answer = await self._send(
                    method, path, bearer=bearer, params=params, json_body=json_body
                )
            except _TransportError as failure:
                _measure(method, endpoint, "error", sent)
                await permit.release(None)
                may_repeat = failure.retryable and (idempotent or failure.unsent)
                delay = self._backoff(attempt, deadline) if may_repeat else None
                if delay is None:
                    raise ConnectionFailedError(
                        f"GoHighLevel could not be reached: {failure.reason}"
                    ) from failure.__cause__
                self._log_retry(auth, method, path, attempt, failure.reason, delay)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                await permit.release(None)
                raise
            _measure(method, endpoint, str(answer.status), sent)
            observed = dto.rate_limit_observation(answer.headers, throttled=answer.status == 429)
            await permit.release(observed)
            status, body = answer.status, answer.body
            if status < 300:
                if body is None and method != "DELETE":
                    raise dto.UnexpectedShapeError(
                        f"GoHighLevel answered HTTP {status} without JSON"
                    )
                return body
            oauth = self._oauth if isinstance(auth.credentials, OAuthClientCredentials) else None
            if status == 401 and oauth is not None and not reauthorised:
                # The SDKs' rule: on a 401, refresh once and repeat once.
                reauthorised = True
                oauth.reject(auth.integration_id, bearer)
                metrics.RETRIES.labels(endpoint, "reauthorised").inc()
                attempt -= 1
                continue
            if status == 429 and attempt < self._retry.max_attempts:
                # A refused request did nothing, so it is safe to repeat even when not
                # idempotent. The limiter now holds this integration back for GHL's interval;
                # the next acquire fails with RATE_LIMIT_EXCEEDED if that outlasts the deadline.
                self._log_retry(auth, method, path, attempt, "HTTP 429", 0.0)
                continue
            if status in _RETRYABLE_STATUSES and idempotent:
                delay = self._backoff(attempt, deadline, observed.retry_after_seconds)
                if delay is not None:
                    self._log_retry(auth, method, path, attempt, f"HTTP {status}", delay)
                    await asyncio.sleep(delay)
                    continue
            log.warning(
                "ghl_call_failed",
                integration_id=auth.integration_id,
                method=method,
                path=path,
                status=status,
                trace_id=dto.trace_id(body),
            )
            raise _error_for(status, body, observed, resource)

    def _backoff(
        self, attempt: int, deadline: float, retry_after: float | None = None
    ) -> float | None:
        """The delay before the next attempt, or None when attempts or time are used up."""
        if attempt >= self._retry.max_attempts:
            return None
        ceiling = min(self._retry.max_delay, self._retry.base_delay * 2 ** (attempt - 1))
        delay = self._rng.uniform(0.0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if time.monotonic() + delay >= deadline:
            return None
        return delay

    async def _bearer(self, auth: GhlAuth) -> SecretStr:
        credentials = auth.credentials
        if isinstance(credentials, OAuthClientCredentials):
            if self._oauth is None:
                raise InvalidCredentialsError("OAuth credentials need a token store")
            return await self._oauth.access_token(auth.integration_id, credentials)
        return credentials.token

    async def _send(
        self,
        method: str,
        path: str,
        *,
        bearer: SecretStr,
        params: dict[str, str] | None,
        json_body: dict[str, Any] | None,
    ) -> _Answer:
        headers = {
            "Authorization": f"Bearer {bearer.reveal()}",
            "Version": version_for(path),
            "Accept": "application/json",
        }
        return await self._exchange(method, path, headers=headers, params=params, json=json_body)

    async def _request_tokens(self, form: dict[str, str]) -> tuple[int, object]:
        # Form-encoded, no Version header and no bearer (oauth.json, get-access-token).
        try:
            answer = await self._exchange(
                "POST", "/oauth/token", headers={"Accept": "application/json"}, data=form
            )
        except _TransportError as failure:
            raise ConnectionFailedError(
                f"GoHighLevel's token endpoint could not be reached: {failure.reason}"
            ) from failure.__cause__
        return answer.status, answer.body

    async def _exchange(self, method: str, path: str, **kwargs: Any) -> _Answer:
        try:
            async with self._get_session().request(
                method, self._base_url + path, allow_redirects=False, **kwargs
            ) as resp:
                raw = await resp.read()
                return _Answer(resp.status, CIMultiDict(resp.headers), _parse_json(raw))
        except (aiohttp.ClientError, TimeoutError) as err:
            raise _transport_error(err) from err

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self._timeouts.connect, sock_read=self._timeouts.read
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    @staticmethod
    def _log_retry(
        auth: GhlAuth, method: str, path: str, attempt: int, reason: str, delay: float
    ) -> None:
        metrics.RETRIES.labels(metrics.endpoint_of(path), metrics.retry_reason(reason)).inc()
        log.info(
            "ghl_call_retried",
            integration_id=auth.integration_id,
            method=method,
            path=path,
            attempt=attempt,
            reason=reason,
            delay_s=round(delay, 3),
        )


def _error_for(
    status: int,
    body: object,
    observed: RateLimitObservation,
    resource: tuple[str, str] | None,
) -> DomainError:
    """The domain error for a final non-2xx answer (DESIGN.md §5), with GHL's traceId."""
    trace_id = dto.trace_id(body)
    if status in (401, 403):
        # 403: the token lacks a scope or access to this location: a person must act, too.
        return InvalidCredentialsError(
            f"GoHighLevel refused the credentials (HTTP {status})", trace_id=trace_id
        )
    if status == 429:
        return RateLimitExceededError(
            "GoHighLevel's rate limit was still exceeded after retries",
            retry_after_seconds=observed.retry_after_seconds or observed.interval_seconds or 10.0,
            trace_id=trace_id,
        )
    if status >= 500:
        return ConnectionFailedError(f"GoHighLevel answered HTTP {status}", trace_id=trace_id)
    if status == 404 and resource is not None:
        not_found = NotFoundError(*resource)
        if trace_id:
            not_found.metadata["trace_id"] = trace_id
        return not_found
    return ProviderError(dto.error_message(body, status), trace_id=trace_id)


def _measure(method: str, endpoint: str, status: str, sent: float) -> None:
    metrics.REQUESTS.labels(method, endpoint, status).inc()
    metrics.REQUEST_SECONDS.labels(method, endpoint).observe(time.perf_counter() - sent)
    if status == "429":
        metrics.THROTTLED.labels(endpoint).inc()


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _event_window(
    auth: GhlAuth, calendar_id: str, start: datetime, end: datetime
) -> dict[str, str]:
    if end <= start:
        raise InvalidArgumentError("an event window must end after it starts")
    # Epoch milliseconds as strings (calendars.json, get-calendar-events).
    return {
        "locationId": auth.location_id,
        "calendarId": calendar_id,
        "startTime": str(dto.epoch_ms(start)),
        "endTime": str(dto.epoch_ms(end)),
    }


def _q(segment: str) -> str:
    """An id as one path segment: nothing in it can reach another path."""
    if not segment:
        raise InvalidArgumentError("an id must not be empty")
    return quote(segment, safe="")

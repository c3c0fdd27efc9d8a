"""HttpGhlClient: GoHighLevel's API v2 through the shared outbound HTTP machinery (rate-limited
per location, retried with backoff, failures mapped to the domain's errors by GhlHttpPolicy)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from adapters.clock import SystemClock
from adapters.ghl import dto
from adapters.ghl.agency_tokens import AgencyGrantStore, AgencyLocationTokens
from adapters.ghl.auth import GhlAuth, OAuthClient
from adapters.ghl.http_policy import GhlHttpPolicy
from adapters.ghl.oauth import DEFAULT_REFRESH_MARGIN, OAuthTokenManager
from adapters.http import HttpRequest, ProviderHttpClient, RetryPolicy, TransportError
from adapters.http import HttpTimeouts as GhlTimeouts
from application.ports import Clock, ProviderCall
from application.ports.crm import (
    MAX_CONTACT_PAGE_SIZE,
    MAX_CONTACT_QUERY_LENGTH,
    MAX_OPPORTUNITY_PAGE_SIZE,
    AppointmentChanges,
    BlockSlot,
    ContactFields,
    ContactPage,
    CrmAccount,
    CrmAppointment,
    CrmCalendar,
    CrmContact,
    CrmOpportunity,
    CrmPipeline,
    FreeSlots,
    MessageSent,
    NewAppointment,
    NewOpportunity,
    OpportunityPage,
    OpportunityStatus,
    OutgoingMessage,
    UpsertedContact,
    check_free_slots_range,
)
from application.ports.oauth import TokenStore
from application.ports.rate_limits import RateLimiter
from domain.errors import ConnectionFailedError, InvalidArgumentError
from domain.values import SecretStr

DEFAULT_BASE_URL = "https://services.leadconnectorhq.com"
_OAUTH_VERSION = "2021-07-28"  # /oauth/locationToken's Version (oauth.json)

# GhlTimeouts and RetryPolicy are the shared machinery's, under the names GHL's callers use.
__all__ = ["DEFAULT_BASE_URL", "GhlTimeouts", "HttpGhlClient", "RetryPolicy"]


class HttpGhlClient:
    """CrmApi over HTTP (GoHighLevel's auth read from each ProviderCall). Create it once per process and `close()` it at shutdown; it opens its
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
        app_client: OAuthClient | None = None,
        agency_grants: AgencyGrantStore | None = None,
    ) -> None:
        self._oauth = (
            OAuthTokenManager(
                store=token_store,
                clock=clock or SystemClock(),
                request_tokens=self._request_tokens,
                refresh_margin=timedelta(seconds=refresh_margin_seconds),
                app_client=app_client,
            )
            if token_store is not None
            else None
        )
        self._agency = (
            AgencyLocationTokens(
                grants=agency_grants,
                clock=clock or SystemClock(),
                request_tokens=self._request_tokens,
                request_location_token=self._request_location_token,
                app_client=app_client,
                refresh_margin=timedelta(seconds=refresh_margin_seconds),
            )
            if agency_grants is not None
            else None
        )
        self._http = ProviderHttpClient(
            GhlHttpPolicy(oauth=self._oauth, agency=self._agency),
            rate_limiter=rate_limiter,
            base_url=base_url,
            timeouts=timeouts,
            retry=retry,
            rng=rng,
        )

    async def close(self) -> None:
        await self._http.close()

    # --- the API -----------------------------------------------------------------------------

    async def get_account(self, call: ProviderCall) -> CrmAccount:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "GET",
            f"/locations/{_q(auth.location_id)}",
            idempotent=True,
            resource=("location", auth.location_id),
        )
        return dto.location(body)

    async def get_contact(self, call: ProviderCall, contact_id: str) -> CrmContact:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "GET",
            f"/contacts/{_q(contact_id)}",
            idempotent=True,
            resource=("contact", contact_id),
        )
        return dto.wrapped_contact(body)

    async def create_contact(self, call: ProviderCall, fields: ContactFields) -> CrmContact:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "POST",
            "/contacts/",
            idempotent=False,
            json_body=dto.contact_body(fields, location_id=auth.location_id),
        )
        return dto.wrapped_contact(body)

    async def update_contact(
        self, call: ProviderCall, contact_id: str, fields: ContactFields
    ) -> CrmContact:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "PUT",
            f"/contacts/{_q(contact_id)}",
            idempotent=True,
            json_body=dto.contact_body(fields, location_id=None),
            resource=("contact", contact_id),
        )
        return dto.wrapped_contact(body)

    async def upsert_contact(self, call: ProviderCall, fields: ContactFields) -> UpsertedContact:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "POST",
            "/contacts/upsert",
            idempotent=True,
            json_body=dto.contact_body(fields, location_id=auth.location_id),
        )
        return dto.upserted_contact(body)

    async def delete_contact(self, call: ProviderCall, contact_id: str) -> None:
        auth = GhlAuth.from_call(call)
        await self._call(
            auth,
            "DELETE",
            f"/contacts/{_q(contact_id)}",
            idempotent=True,
            resource=("contact", contact_id),
        )

    async def search_contacts(
        self,
        call: ProviderCall,
        *,
        query: str | None = None,
        page_size: int = 100,
        cursor: str | None = None,
        updated_since: datetime | None = None,
    ) -> ContactPage:
        auth = GhlAuth.from_call(call)
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

    async def list_calendars(self, call: ProviderCall) -> list[CrmCalendar]:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth, "GET", "/calendars/", idempotent=True, params={"locationId": auth.location_id}
        )
        return dto.calendars(body)

    async def get_free_slots(
        self,
        call: ProviderCall,
        calendar_id: str,
        *,
        start: datetime,
        end: datetime,
        timezone: str,
        user_id: str | None = None,
    ) -> FreeSlots:
        auth = GhlAuth.from_call(call)
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
        call: ProviderCall,
        calendar_id: str,
        *,
        start: datetime,
        end: datetime,
        title: str | None = None,
    ) -> BlockSlot:
        auth = GhlAuth.from_call(call)
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
        self, call: ProviderCall, appointment: NewAppointment
    ) -> CrmAppointment:
        auth = GhlAuth.from_call(call)
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
        self, call: ProviderCall, appointment_id: str, changes: AppointmentChanges
    ) -> CrmAppointment:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "PUT",
            f"/calendars/events/appointments/{_q(appointment_id)}",
            idempotent=True,
            json_body=dto.appointment_changes_body(changes),
            resource=("appointment", appointment_id),
        )
        return dto.appointment(body)

    async def get_appointment(self, call: ProviderCall, appointment_id: str) -> CrmAppointment:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "GET",
            f"/calendars/events/appointments/{_q(appointment_id)}",
            idempotent=True,
            resource=("appointment", appointment_id),
        )
        return dto.appointment(body)

    async def list_appointments(
        self, call: ProviderCall, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[CrmAppointment]:
        auth = GhlAuth.from_call(call)
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
        self, call: ProviderCall, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[BlockSlot]:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "GET",
            "/calendars/blocked-slots",
            idempotent=True,
            params=_event_window(auth, calendar_id, start, end),
            resource=("calendar", calendar_id),
        )
        return dto.block_slots(body)

    async def delete_calendar_event(self, call: ProviderCall, event_id: str) -> None:
        auth = GhlAuth.from_call(call)
        await self._call(
            auth,
            "DELETE",
            f"/calendars/events/{_q(event_id)}",
            idempotent=True,
            json_body={},  # DeleteAppointmentSchema: an empty object, but a body is required
            resource=("calendar event", event_id),
        )

    async def send_message(self, call: ProviderCall, message: OutgoingMessage) -> MessageSent:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "POST",
            "/conversations/messages",
            idempotent=False,
            json_body=dto.message_body(message),
        )
        return dto.message_sent(body)

    async def get_opportunity(self, call: ProviderCall, opportunity_id: str) -> CrmOpportunity:
        auth = GhlAuth.from_call(call)
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
        call: ProviderCall,
        *,
        contact_id: str | None = None,
        page_size: int = MAX_OPPORTUNITY_PAGE_SIZE,
        cursor: str | None = None,
    ) -> OpportunityPage:
        auth = GhlAuth.from_call(call)
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
        self, call: ProviderCall, opportunity: NewOpportunity
    ) -> CrmOpportunity:
        auth = GhlAuth.from_call(call)
        body = await self._call(
            auth,
            "POST",
            "/opportunities/",
            idempotent=False,
            json_body=dto.opportunity_body(opportunity, location_id=auth.location_id),
        )
        return dto.wrapped_opportunity(body)

    async def list_pipelines(self, call: ProviderCall) -> list[CrmPipeline]:
        auth = GhlAuth.from_call(call)
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
        call: ProviderCall,
        opportunity_id: str,
        status: OpportunityStatus,
        *,
        lost_reason_id: str | None = None,
    ) -> None:
        auth = GhlAuth.from_call(call)
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

    # --- one call: through the shared machinery ----------------------------------------------

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
        answer = await self._http.call(
            auth,
            HttpRequest(
                method,
                path,
                idempotent=idempotent,
                params=params,
                json=json_body,
                resource=resource,
            ),
        )
        if answer.body is None and method != "DELETE":
            raise dto.UnexpectedShapeError(
                f"GoHighLevel answered HTTP {answer.status} without JSON"
            )
        return answer.body

    async def _request_tokens(self, form: dict[str, str]) -> tuple[int, object]:
        # Form-encoded, no Version header and no bearer (oauth.json, get-access-token); sent
        # once, never retried (a lost answer has already spent the refresh token).
        try:
            answer = await self._http.send_once(
                "POST", "/oauth/token", headers={"Accept": "application/json"}, data=form
            )
        except TransportError as failure:
            raise ConnectionFailedError(
                f"GoHighLevel's token endpoint could not be reached: {failure.reason}"
            ) from failure.__cause__
        return answer.status, answer.body

    async def _request_location_token(
        self, form: dict[str, str], agency_token: SecretStr
    ) -> tuple[int, object]:
        # Form-encoded with the agency's bearer (oauth.json, get-location-access-token); sent
        # once: a mint spends nothing, the caller decides whether to mint again.
        try:
            answer = await self._http.send_once(
                "POST",
                "/oauth/locationToken",
                headers={
                    "Accept": "application/json",
                    "Authorization": f"Bearer {agency_token.reveal()}",
                    "Version": _OAUTH_VERSION,
                },
                data=form,
            )
        except TransportError as failure:
            raise ConnectionFailedError(
                f"GoHighLevel's location token endpoint could not be reached: {failure.reason}"
            ) from failure.__cause__
        return answer.status, answer.body


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

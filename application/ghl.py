"""The GoHighLevel port: typed GHL calls, OAuth token storage and per-integration rate limiting."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from application.ports import ProviderContext
from domain.errors import (
    ConfigSchemaInvalidError,
    FieldViolation,
    InvalidArgumentError,
    InvalidCredentialsError,
)
from domain.integration import Integration
from domain.template import DEFAULT_RATE_LIMIT_PER_MINUTE
from domain.values import SecretStr

# GHL refuses free-slot ranges longer than this (calendars.json, get-slots startDate/endDate).
MAX_FREE_SLOTS_RANGE = timedelta(days=31)
# POST /contacts/search: pageLimit at most 500, full-text query at most 75 characters.
MAX_CONTACT_PAGE_SIZE = 500
MAX_CONTACT_QUERY_LENGTH = 75
# GET /opportunities/search: limit at most 100.
MAX_OPPORTUNITY_PAGE_SIZE = 100


# --- who a call acts for -----------------------------------------------------------------------


class Priority(IntEnum):
    """Who waits first for a rate-limit token: lower values are served first."""

    LIVE = 0  # a person or a webhook is waiting on the answer
    BACKGROUND = 1  # sync and reconciliation


@dataclass(frozen=True, slots=True)
class PrivateIntegrationToken:
    """A sub-account Private Integration token (the template's ``apiKey``): static, no refresh."""

    token: SecretStr


@dataclass(frozen=True, slots=True)
class OAuthClientCredentials:
    """A Marketplace app's OAuth client. The current tokens live in the TokenStore; the
    `refresh_token` here only seeds an integration whose store holds none yet."""

    client_id: SecretStr
    client_secret: SecretStr
    refresh_token: SecretStr | None = None
    user_type: str = "Location"


GhlCredentials = PrivateIntegrationToken | OAuthClientCredentials


@dataclass(frozen=True, slots=True)
class GhlAuth:
    """One call's context: the integration (rate-limit and token-refresh key), its GHL location,
    its decrypted credentials (held only for the call) and its template's rate limit."""

    integration_id: str
    location_id: str
    credentials: GhlCredentials = field(repr=False)
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    priority: Priority = Priority.LIVE

    @classmethod
    def from_context(cls, ctx: ProviderContext, *, priority: Priority = Priority.LIVE) -> GhlAuth:
        """The auth of a `gohighlevel` integration: its ``apiKey`` (a Private Integration token),
        else OAuth ``clientId`` + ``clientSecret`` (+ ``refreshToken``); ``locationId`` from config."""
        location_id = ctx.config.get("locationId")
        if not isinstance(location_id, str) or not location_id:
            raise ConfigSchemaInvalidError(
                "the integration has no GoHighLevel location id",
                (FieldViolation("config.locationId", "is required"),),
            )
        credentials: GhlCredentials
        api_key = ctx.credentials.get("apiKey")
        client_id = ctx.credentials.get("clientId")
        client_secret = ctx.credentials.get("clientSecret")
        if api_key is not None and api_key.reveal():
            credentials = PrivateIntegrationToken(api_key)
        elif client_id is not None and client_secret is not None:
            credentials = OAuthClientCredentials(
                client_id, client_secret, ctx.credentials.get("refreshToken")
            )
        else:
            raise InvalidCredentialsError("the integration has no GoHighLevel credentials")
        return cls(
            integration_id=ctx.integration_id,
            location_id=location_id,
            credentials=credentials,
            rate_limit_per_minute=ctx.rate_limit_per_minute,
            priority=priority,
        )


# --- what GHL answers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlLocation:
    """A GHL sub-account (formerly "location")."""

    id: str
    name: str
    company_id: str | None = None
    timezone: str | None = None
    email: str | None = None
    phone: str | None = None
    allow_duplicate_contact: bool | None = None


@dataclass(frozen=True, slots=True)
class CustomFieldValue:
    """A contact custom field: written as ``{id, field_value}``, read back as ``{id, value}``."""

    id: str
    value: object


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlContact:
    id: str
    location_id: str
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company_name: str | None = None
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    timezone: str | None = None
    website: str | None = None
    source: str | None = None
    assigned_to: str | None = None
    dnd: bool | None = None
    tags: tuple[str, ...] = ()
    custom_fields: tuple[CustomFieldValue, ...] = ()
    date_added: datetime | None = None
    date_updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class GhlUpsertedContact:
    contact: GhlContact
    created: bool


@dataclass(frozen=True, slots=True)
class GhlContactPage:
    """One page of a contact search; pass `next_cursor` back for the next page (None: the end)."""

    contacts: tuple[GhlContact, ...]
    total: int | None
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlCalendar:
    id: str
    location_id: str
    name: str
    description: str | None = None
    calendar_type: str | None = None
    group_id: str | None = None
    is_active: bool = True
    slot_duration_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class FreeSlots:
    """Free slot start times per local date of `timezone` (the IANA zone asked for)."""

    timezone: str
    days: Mapping[date, tuple[datetime, ...]]

    def all_slots(self) -> list[datetime]:
        return [slot for day in sorted(self.days) for slot in self.days[day]]


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlBlockSlot:
    id: str
    location_id: str
    calendar_id: str | None
    title: str | None
    start: datetime
    end: datetime


class AppointmentStatus(StrEnum):
    """Statuses a caller may set (GHL may also report ``active`` and ``completed``)."""

    NEW = "new"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    SHOWED = "showed"
    NOSHOW = "noshow"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlAppointment:
    id: str
    calendar_id: str
    location_id: str
    contact_id: str
    title: str | None = None
    status: str | None = None
    assigned_user_id: str | None = None
    address: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    date_added: datetime | None = None
    date_updated: datetime | None = None


class MessageType(StrEnum):
    SMS = "SMS"
    RCS = "RCS"
    EMAIL = "Email"
    WHATSAPP = "WhatsApp"
    INSTAGRAM = "IG"
    FACEBOOK = "FB"
    CUSTOM = "Custom"
    LIVE_CHAT = "Live_Chat"
    TIKTOK = "TIKTOK"


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlMessageSent:
    conversation_id: str
    message_id: str
    status: str | None = None
    message_ids: tuple[str, ...] = ()


class OpportunityStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlOpportunity:
    id: str
    location_id: str | None
    name: str | None = None
    contact_id: str | None = None
    pipeline_id: str | None = None
    pipeline_stage_id: str | None = None
    status: str | None = None
    monetary_value: float | None = None
    assigned_to: str | None = None
    updated_at: datetime | None = None
    """When its status last changed (``lastStatusChangeAt``), else when it last changed."""


@dataclass(frozen=True, slots=True)
class GhlOpportunityPage:
    """One page of an opportunity search; pass `next_cursor` back for the next (None: the end)."""

    opportunities: tuple[GhlOpportunity, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GhlPipeline:
    id: str
    name: str | None = None
    stage_ids: tuple[str, ...] = ()
    """Its stages' ids, in the pipeline's order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewOpportunity:
    pipeline_id: str
    contact_id: str
    name: str
    status: OpportunityStatus
    pipeline_stage_id: str | None = None


# --- what callers send -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactFields:
    """Contact fields to write; None means "leave as is" and is not sent."""

    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    company_name: str | None = None
    address1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    timezone: str | None = None
    website: str | None = None
    source: str | None = None
    assigned_to: str | None = None
    dnd: bool | None = None
    tags: tuple[str, ...] | None = None  # replaces every tag of the contact
    custom_fields: tuple[CustomFieldValue, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewAppointment:
    calendar_id: str
    contact_id: str
    start: datetime
    end: datetime | None = None
    title: str | None = None
    status: AppointmentStatus | None = None
    assigned_user_id: str | None = None
    address: str | None = None
    description: str | None = None
    ignore_free_slot_validation: bool = False
    notify: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentChanges:
    """Appointment fields to change; None means "leave as is"."""

    calendar_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    title: str | None = None
    status: AppointmentStatus | None = None
    assigned_user_id: str | None = None
    address: str | None = None
    description: str | None = None
    ignore_free_slot_validation: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    type: MessageType
    contact_id: str
    message: str | None = None
    subject: str | None = None  # Email
    html: str | None = None  # Email
    attachments: tuple[str, ...] = ()  # URLs
    scheduled_at: datetime | None = None


def check_free_slots_range(start: datetime, end: datetime, timezone: str) -> None:
    """Raise InvalidArgumentError unless `start` < `end` are aware, at most 31 days apart, and
    `timezone` is an IANA zone name."""
    violations: list[FieldViolation] = []
    if start.tzinfo is None or end.tzinfo is None:
        violations.append(FieldViolation("start_time", "must carry a timezone offset"))
    elif end <= start:
        violations.append(FieldViolation("end_time", "must be after start_time"))
    elif end - start > MAX_FREE_SLOTS_RANGE:
        violations.append(FieldViolation("end_time", "must be at most 31 days after start_time"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        violations.append(FieldViolation("timezone", "must be an IANA time zone name"))
    if violations:
        raise InvalidArgumentError("the free-slot query is not valid", tuple(violations))


# --- the port --------------------------------------------------------------------------------


class GhlApi(Protocol):
    """GoHighLevel's API for one integration per call.

    Errors: InvalidCredentialsError (401/403, a refused OAuth refresh), ConnectionFailedError
    (unreachable, 5xx, retries exhausted), RateLimitExceededError (no request slot before the
    deadline), NotFoundError (404), ProviderError (GHL refused the request: 400/422, with its
    message). Each carries GHL's traceId when GHL sent one. Creates that are not idempotent
    (contact, appointment, block slot, message) are never retried once they may have reached GHL.
    """

    async def get_location(self, auth: GhlAuth) -> GhlLocation:
        """The integration's location: the cheapest call that proves the credentials."""
        ...

    async def get_contact(self, auth: GhlAuth, contact_id: str) -> GhlContact: ...

    async def create_contact(self, auth: GhlAuth, fields: ContactFields) -> GhlContact:
        """Not retried; prefer upsert_contact, which is safe to repeat."""
        ...

    async def update_contact(
        self, auth: GhlAuth, contact_id: str, fields: ContactFields
    ) -> GhlContact: ...

    async def upsert_contact(self, auth: GhlAuth, fields: ContactFields) -> GhlUpsertedContact:
        """Create, or update the contact matching by email or phone (the location's duplicate
        rules decide)."""
        ...

    async def delete_contact(self, auth: GhlAuth, contact_id: str) -> None: ...

    async def search_contacts(
        self,
        auth: GhlAuth,
        *,
        query: str | None = None,
        page_size: int = 100,
        cursor: str | None = None,
        updated_since: datetime | None = None,
    ) -> GhlContactPage:
        """Contacts of the location, oldest first, `page_size` (≤500) at a time. With
        `updated_since`: only contacts GHL changed at or after it, least recently changed first
        (pass the same value with every page's cursor). GHL's search index lags a few seconds
        behind its writes."""
        ...

    async def list_calendars(self, auth: GhlAuth) -> list[GhlCalendar]: ...

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
        """Free slots between `start` and `end` (aware, at most 31 days apart; sent as epoch ms),
        keyed by local date in the IANA `timezone`."""
        ...

    async def create_block_slot(
        self,
        auth: GhlAuth,
        calendar_id: str,
        *,
        start: datetime,
        end: datetime,
        title: str | None = None,
    ) -> GhlBlockSlot: ...

    async def create_appointment(
        self, auth: GhlAuth, appointment: NewAppointment
    ) -> GhlAppointment: ...

    async def update_appointment(
        self, auth: GhlAuth, appointment_id: str, changes: AppointmentChanges
    ) -> GhlAppointment: ...

    async def get_appointment(self, auth: GhlAuth, appointment_id: str) -> GhlAppointment: ...

    async def list_appointments(
        self, auth: GhlAuth, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[GhlAppointment]:
        """The calendar's appointments that start between `start` and `end`."""
        ...

    async def list_block_slots(
        self, auth: GhlAuth, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[GhlBlockSlot]:
        """The calendar's blocked slots that start between `start` and `end`."""
        ...

    async def delete_calendar_event(self, auth: GhlAuth, event_id: str) -> None:
        """Delete an appointment or a block slot."""
        ...

    async def send_message(self, auth: GhlAuth, message: OutgoingMessage) -> GhlMessageSent: ...

    async def get_opportunity(self, auth: GhlAuth, opportunity_id: str) -> GhlOpportunity: ...

    async def search_opportunities(
        self,
        auth: GhlAuth,
        *,
        contact_id: str | None = None,
        page_size: int = MAX_OPPORTUNITY_PAGE_SIZE,
        cursor: str | None = None,
    ) -> GhlOpportunityPage:
        """The location's opportunities (only the contact's, with `contact_id`), `page_size`
        (≤100) at a time in GHL's order. GHL's search index lags a few seconds behind its
        writes, and the search takes no "changed since": a reconciliation reads them all."""
        ...

    async def create_opportunity(
        self, auth: GhlAuth, opportunity: NewOpportunity
    ) -> GhlOpportunity:
        """Not retried once it may have reached GHL (not idempotent)."""
        ...

    async def list_pipelines(self, auth: GhlAuth) -> list[GhlPipeline]:
        """The location's pipelines, in GHL's order."""
        ...

    async def update_opportunity_status(
        self,
        auth: GhlAuth,
        opportunity_id: str,
        status: OpportunityStatus,
        *,
        lost_reason_id: str | None = None,
    ) -> None: ...


class GhlLocationSettings(Protocol):
    """The settings of an integration's location that calls read (its timezone), as GHL gave
    them at most an expiry window ago; askers of the same location at once share one call."""

    async def location(self, auth: GhlAuth) -> GhlLocation:
        """Raises as GhlApi.get_location does; a failure is not kept for later askers."""
        ...


# --- OAuth tokens ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: datetime


class TokenStore(Protocol):
    """Where an integration's OAuth tokens live (encrypted, in this service's database).

    GHL refresh tokens are single-use: a refresh answers a new one and consumes the old. So the
    adapter saves a rotated pair here *before* it uses the new access token, and a save must be
    durable (committed) when it returns.
    """

    async def load_tokens(self, integration_id: str) -> OAuthTokens | None:
        """The integration's current tokens, or None if none were stored yet."""
        ...

    async def save_rotated_tokens(
        self,
        integration_id: str,
        *,
        refresh_token: SecretStr,
        access_token: SecretStr,
        expires_at: datetime,
    ) -> None:
        """Durably replace the integration's tokens; raise if they could not be stored."""
        ...

    def refresh_lock(self, integration_id: str) -> AbstractAsyncContextManager[None]:
        """Held around "load the newest tokens, refresh at GHL if still needed, save", so that
        of every process sharing the store one at a time refreshes an integration: a refresh
        token used twice is refused, and the integration would need re-authorising. A store
        that one process alone uses may make this a no-op (the caller also locks in-process).
        Raises if the lock cannot be had (the store is unreachable, or waited on too long)."""
        ...


def connects_through_the_app(integration: Integration) -> bool:
    """Whether the integration reaches GHL through the Marketplace app's OAuth tokens, which the
    app's install and uninstall grant and revoke; a private-integration token (``apiKey``)
    outlives them."""
    return "apiKey" not in integration.secrets


# --- rate limiting ---------------------------------------------------------------------------


def rate_limit_key(integration: Integration) -> str:
    """What GHL limits: its location (100 requests per 10 s burst and a daily quota, per
    location, whatever the number of integrations or apps calling it). Integrations without a
    location are limited on their own."""
    location = integration.config.get("locationId")
    return (
        location_rate_limit_key(location)
        if isinstance(location, str) and location
        else (f"integration:{integration.id}")
    )


def location_rate_limit_key(location_id: str) -> str:
    return f"ghl:location:{location_id}"


@dataclass(frozen=True, slots=True)
class RateLimitObservation:
    """What one provider response said about its limits (GHL's ``X-RateLimit-*`` headers, and
    whether it answered 429). Every field is optional: a response may carry none of them."""

    max_requests: int | None = None  # X-RateLimit-Max: requests allowed per interval
    remaining: int | None = None  # X-RateLimit-Remaining: left in the current interval
    interval_seconds: float | None = None  # X-RateLimit-Interval-Milliseconds / 1000
    daily_limit: int | None = None  # X-RateLimit-Limit-Daily
    daily_remaining: int | None = None  # X-RateLimit-Daily-Remaining
    throttled: bool = False  # the provider answered 429
    retry_after_seconds: float | None = None  # Retry-After, if the provider sent it


class RateLimitPermit(Protocol):
    async def release(self, observed: RateLimitObservation | None) -> None:
        """The request is over: a response arrived (pass what it said), or it failed without one
        (pass None). Safe to call twice; only the first call counts."""
        ...


class RateLimiter(Protocol):
    """Per-key request slots, keyed by what the provider limits (a GHL location): the caller's
    limit per minute, and whatever the provider's responses teach. Implementations: in-process,
    and Redis (shared by every copy of the service, and across their restarts)."""

    async def acquire(
        self,
        key: str,
        *,
        limit_per_minute: int,
        max_wait: float,
        priority: Priority = Priority.LIVE,
    ) -> RateLimitPermit:
        """Wait for a slot, serving lower `priority` values first. Raise RateLimitExceededError
        when none can be had within `max_wait` seconds. Release the permit when the request is over."""
        ...

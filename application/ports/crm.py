"""The CRM port: what the core asks of a CRM (contacts, calendars, appointments, messages,
opportunities) for one integration per call, in the platform's language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from application.ports.providers import ProviderCall
from domain.booking import BookingStatus
from domain.errors import FieldViolation, InvalidArgumentError
from domain.lead import ContactDetails, LeadStatus

# The CRM refuses free-slot ranges longer than this.
MAX_FREE_SLOTS_RANGE = timedelta(days=31)
# A contact search: a page holds at most 500, a full-text query at most 75 characters.
MAX_CONTACT_PAGE_SIZE = 500
MAX_CONTACT_QUERY_LENGTH = 75
# An opportunity search: a page holds at most 100.
MAX_OPPORTUNITY_PAGE_SIZE = 100


# --- what the CRM answers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmAccount:
    """The CRM account an integration acts in (a sub-account of the CRM)."""

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
class CrmContact:
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
class UpsertedContact:
    contact: CrmContact
    created: bool


@dataclass(frozen=True, slots=True)
class ContactPage:
    """One page of a contact search; pass `next_cursor` back for the next page (None: the end)."""

    contacts: tuple[CrmContact, ...]
    total: int | None
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmCalendar:
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
class BlockSlot:
    id: str
    location_id: str
    calendar_id: str | None
    title: str | None
    start: datetime
    end: datetime


class AppointmentStatus(StrEnum):
    """Statuses a caller may set (the CRM may also report ``active`` and ``completed``)."""

    NEW = "new"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    SHOWED = "showed"
    NOSHOW = "noshow"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmAppointment:
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
    MESSENGER = "FB"
    CUSTOM = "Custom"
    LIVE_CHAT = "Live_Chat"
    TIKTOK = "TIKTOK"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSent:
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
class CrmOpportunity:
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
class OpportunityPage:
    """One page of an opportunity search; pass `next_cursor` back for the next (None: the end)."""

    opportunities: tuple[CrmOpportunity, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmPipeline:
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


class CrmApi(Protocol):
    """A CRM's API, for one integration per call.

    Errors: InvalidCredentialsError (401/403, a refused OAuth refresh), ConnectionFailedError
    (unreachable, 5xx, retries exhausted), RateLimitExceededError (no request slot before the
    deadline), NotFoundError (404), ProviderError (the CRM refused the request: 400/422, with its
    message). Each carries the CRM's trace id when it sent one. Creates that are not idempotent
    (contact, appointment, block slot, message) are never retried once they may have reached
    the CRM.
    """

    async def get_account(self, call: ProviderCall) -> CrmAccount:
        """The integration's account: the cheapest call that proves the credentials."""
        ...

    async def get_contact(self, call: ProviderCall, contact_id: str) -> CrmContact: ...

    async def create_contact(self, call: ProviderCall, fields: ContactFields) -> CrmContact:
        """Not retried; prefer upsert_contact, which is safe to repeat."""
        ...

    async def update_contact(
        self, call: ProviderCall, contact_id: str, fields: ContactFields
    ) -> CrmContact: ...

    async def upsert_contact(self, call: ProviderCall, fields: ContactFields) -> UpsertedContact:
        """Create, or update the contact matching by email or phone (the account's duplicate
        rules decide)."""
        ...

    async def delete_contact(self, call: ProviderCall, contact_id: str) -> None: ...

    async def search_contacts(
        self,
        call: ProviderCall,
        *,
        query: str | None = None,
        page_size: int = 100,
        cursor: str | None = None,
        updated_since: datetime | None = None,
    ) -> ContactPage:
        """Contacts of the account, oldest first, `page_size` (≤500) at a time. With
        `updated_since`: only contacts the CRM changed at or after it, least recently changed
        first (pass the same value with every page's cursor). The CRM's search index lags a few seconds
        behind its writes."""
        ...

    async def list_calendars(self, call: ProviderCall) -> list[CrmCalendar]: ...

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
        """Free slots between `start` and `end` (aware, at most 31 days apart; sent as epoch ms),
        keyed by local date in the IANA `timezone`."""
        ...

    async def create_block_slot(
        self,
        call: ProviderCall,
        calendar_id: str,
        *,
        start: datetime,
        end: datetime,
        title: str | None = None,
    ) -> BlockSlot: ...

    async def create_appointment(
        self, call: ProviderCall, appointment: NewAppointment
    ) -> CrmAppointment: ...

    async def update_appointment(
        self, call: ProviderCall, appointment_id: str, changes: AppointmentChanges
    ) -> CrmAppointment: ...

    async def get_appointment(self, call: ProviderCall, appointment_id: str) -> CrmAppointment: ...

    async def list_appointments(
        self, call: ProviderCall, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[CrmAppointment]:
        """The calendar's appointments that start between `start` and `end`."""
        ...

    async def list_block_slots(
        self, call: ProviderCall, calendar_id: str, *, start: datetime, end: datetime
    ) -> list[BlockSlot]:
        """The calendar's blocked slots that start between `start` and `end`."""
        ...

    async def delete_calendar_event(self, call: ProviderCall, event_id: str) -> None:
        """Delete an appointment or a block slot."""
        ...

    async def send_message(self, call: ProviderCall, message: OutgoingMessage) -> MessageSent: ...

    async def get_opportunity(self, call: ProviderCall, opportunity_id: str) -> CrmOpportunity: ...

    async def search_opportunities(
        self,
        call: ProviderCall,
        *,
        contact_id: str | None = None,
        page_size: int = MAX_OPPORTUNITY_PAGE_SIZE,
        cursor: str | None = None,
    ) -> OpportunityPage:
        """The account's opportunities (only the contact's, with `contact_id`), `page_size`
        (≤100) at a time in the CRM's order. Its search index lags a few seconds behind its
        writes, and the search takes no "changed since": a reconciliation reads them all."""
        ...

    async def create_opportunity(
        self, call: ProviderCall, opportunity: NewOpportunity
    ) -> CrmOpportunity:
        """Not retried once it may have reached the CRM (not idempotent)."""
        ...

    async def list_pipelines(self, call: ProviderCall) -> list[CrmPipeline]:
        """The account's pipelines, in the CRM's order."""
        ...

    async def update_opportunity_status(
        self,
        call: ProviderCall,
        opportunity_id: str,
        status: OpportunityStatus,
        *,
        lost_reason_id: str | None = None,
    ) -> None: ...


class CrmAccountSettings(Protocol):
    """The settings of an integration's CRM account that calls read (its timezone), as the CRM
    gave them at most an expiry window ago; askers of the same account at once share one call."""

    async def account(self, call: ProviderCall) -> CrmAccount:
        """Raises as CrmApi.get_account does; a failure is not kept for later askers."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmMessageEvent:
    """A message the CRM reported, received or sent."""

    contact_id: str
    conversation_id: str | None = None
    message_id: str | None = None
    message_type: str | None = None
    """The CRM's own name for the channel."""
    direction: str | None = None
    source: str | None = None
    body: str = ""
    subject: str | None = None
    date_added: datetime | None = None
    send_type: MessageType | None = None
    """The channel to answer on, or None when it cannot be answered."""


class CrmReader(Protocol):
    """A CRM's stored webhook payloads, and the values of its records, read in the platform's
    terms. Lenient: a field of an unexpected type reads as absent; only a missing identifier
    makes a payload unusable (None)."""

    def contact(self, payload: Mapping[str, Any]) -> CrmContact | None: ...

    def appointment(self, payload: Mapping[str, Any]) -> CrmAppointment | None: ...

    def opportunity(self, payload: Mapping[str, Any]) -> CrmOpportunity | None: ...

    def message(self, payload: Mapping[str, Any]) -> CrmMessageEvent | None: ...

    def message_key(self, event: CrmMessageEvent, *, delivery_id: str) -> str:
        """What identifies a message across deliveries and routes."""
        ...

    def sent_at(self, payload: Mapping[str, Any]) -> datetime | None:
        """When the CRM says it sent the event."""
        ...

    def contact_details(self, contact: CrmContact) -> ContactDetails: ...

    def booking_status(self, value: str | None) -> BookingStatus | None: ...

    def lead_status(self, value: str | None) -> LeadStatus | None: ...

"""GHL's webhook payloads, in both the marketplace format and the seed's, and the values of its
records, read in the platform's terms (application.ports.CrmReader).

Reading is lenient, like the GHL client's: unknown fields are ignored, a field of an unexpected
type reads as absent, and fields may sit at the top level, under a ``data`` envelope (GHL's
integration guide), or under the resource's own key (``appointment``, ``contact``, ...). Only a
missing identifier makes a payload unusable (the reader answers None).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from application.ports.crm import (
    CrmAppointment,
    CrmContact,
    CrmMessageEvent,
    CrmOpportunity,
    MessageType,
)
from domain.booking import BookingStatus
from domain.lead import ContactDetails, LeadStatus

Json = Mapping[str, Any]

# GHL's appointmentStatus values (calendars.json; ``active`` and ``completed`` in answers only).
_BOOKING_STATUSES = {
    "new": BookingStatus.BOOKED,
    "booked": BookingStatus.BOOKED,
    "active": BookingStatus.BOOKED,
    "confirmed": BookingStatus.CONFIRMED,
    "cancelled": BookingStatus.CANCELLED,
    "canceled": BookingStatus.CANCELLED,
    "showed": BookingStatus.SHOWED,
    "completed": BookingStatus.SHOWED,
    "noshow": BookingStatus.NO_SHOW,
    "no_show": BookingStatus.NO_SHOW,
    "invalid": BookingStatus.INVALID,
}

# Webhook messageType (SMS, Email, CALL, VoiceMail, FB, IG, WhatsApp, GMB, Live_Chat, ...;
# sometimes TYPE_SMS) → the send type of POST /conversations/messages. Calls, voicemails and
# channels with no send type are not answered.
_SEND_TYPES = {
    "sms": MessageType.SMS,
    "rcs": MessageType.RCS,
    "email": MessageType.EMAIL,
    "whatsapp": MessageType.WHATSAPP,
    "ig": MessageType.INSTAGRAM,
    "instagram": MessageType.INSTAGRAM,
    "fb": MessageType.MESSENGER,
    "facebook": MessageType.MESSENGER,
    "custom": MessageType.CUSTOM,
    "live_chat": MessageType.LIVE_CHAT,
    "livechat": MessageType.LIVE_CHAT,
    "webchat": MessageType.LIVE_CHAT,
    "tiktok": MessageType.TIKTOK,
}


def send_type(message_type: str | None) -> MessageType | None:
    """The channel to answer a message of GHL's `message_type` on, or None when it cannot be."""
    if message_type is None:
        return None
    return _SEND_TYPES.get(message_type.lower().removeprefix("type_"))


def contact(payload: Json) -> CrmContact | None:
    data = _unwrap(payload, "contact")
    contact_id = _str(data, "id") or _str(data, "contactId") or _str(data, "contact_id")
    if contact_id is None:
        return None
    return CrmContact(
        id=contact_id,
        location_id=_str(data, "locationId") or "",
        first_name=_str(data, "firstName"),
        last_name=_str(data, "lastName"),
        name=_str(data, "name"),
        email=_str(data, "email"),
        phone=_str(data, "phone"),
        company_name=_str(data, "companyName"),
        address1=_str(data, "address1"),
        city=_str(data, "city"),
        state=_str(data, "state"),
        postal_code=_str(data, "postalCode"),
        country=_str(data, "country"),
        timezone=_str(data, "timezone"),
        tags=_strings(data, "tags"),
        date_added=_datetime(data, "dateAdded"),
        date_updated=_datetime(data, "dateUpdated"),
    )


def contact_details(c: CrmContact) -> ContactDetails:
    first, last = c.first_name, c.last_name
    if first is None and last is None and c.name:
        # Only a full name: split it once, as GHL itself does for firstName/lastName.
        first, _, rest = c.name.partition(" ")
        last = rest or None
    return ContactDetails(
        first_name=first,
        last_name=last,
        email=c.email,
        phone=c.phone,
        company=c.company_name,
        address1=c.address1,
        city=c.city,
        state=c.state,
        postal_code=c.postal_code,
        country=c.country,
        tags=c.tags,
    )


def appointment(payload: Json) -> CrmAppointment | None:
    data = _unwrap(payload, "appointment")
    appointment_id = _str(data, "id") or _str(data, "appointmentId")
    if appointment_id is None:
        return None
    return CrmAppointment(
        id=appointment_id,
        calendar_id=_str(data, "calendarId") or "",
        location_id=_str(data, "locationId") or "",
        contact_id=_str(data, "contactId") or "",
        title=_str(data, "title"),
        status=_str(data, "appointmentStatus") or _str(data, "status"),
        assigned_user_id=_str(data, "assignedUserId"),
        address=_str(data, "address"),
        start=_datetime(data, "startTime"),
        end=_datetime(data, "endTime"),
        date_added=_datetime(data, "dateAdded"),
        date_updated=_datetime(data, "dateUpdated"),
    )


def booking_status(value: str | None) -> BookingStatus | None:
    """GHL's appointmentStatus as a booking status; None when absent or unknown."""
    return _BOOKING_STATUSES.get(value.lower()) if value else None


def opportunity(payload: Json) -> CrmOpportunity | None:
    """`updated_at` is when the status changed, as far as the payload tells (never `dateAdded`,
    the opportunity's creation)."""
    data = _unwrap(payload, "opportunity")
    opportunity_id = _str(data, "id") or _str(data, "opportunityId")
    if opportunity_id is None:
        return None
    return CrmOpportunity(
        id=opportunity_id,
        location_id=_str(data, "locationId"),
        name=_str(data, "name"),
        contact_id=_str(data, "contactId"),
        pipeline_id=_str(data, "pipelineId"),
        pipeline_stage_id=_str(data, "pipelineStageId"),
        status=_str(data, "status"),
        assigned_to=_str(data, "assignedTo"),
        updated_at=(
            _datetime(data, "lastStatusChangeAt")
            or _datetime(data, "dateUpdated")
            or _datetime(data, "updatedAt")
            or sent_at(payload)
        ),
    )


def lead_status(value: str | None) -> LeadStatus | None:
    try:
        return LeadStatus(value.lower()) if value else None
    except ValueError:
        return None


def message(payload: Json) -> CrmMessageEvent | None:
    data = _unwrap(payload, "message")
    contact_id = _str(data, "contactId") or _str(data, "contact_id")
    if contact_id is None:
        return None
    body = data.get("body", data.get("message"))
    message_type = _str(data, "messageType")
    return CrmMessageEvent(
        contact_id=contact_id,
        conversation_id=_str(data, "conversationId"),
        message_id=_str(data, "messageId") or _str(data, "id"),
        message_type=message_type,
        send_type=send_type(message_type),
        direction=_str(data, "direction"),
        source=_str(data, "source"),
        body=body if isinstance(body, str) else "",
        subject=_str(data, "subject"),
        date_added=_datetime(data, "dateAdded"),
    )


def message_key(event: CrmMessageEvent, *, delivery_id: str) -> str:
    """What identifies a message across deliveries and routes: GHL's message id, else a digest
    of the message itself (the delivery's id too when the message carries no time)."""
    if event.message_id:
        return f"ghl:{event.message_id}"
    parts = [
        event.contact_id,
        event.conversation_id,
        event.date_added.isoformat() if event.date_added else delivery_id,
        event.body,
    ]
    return "sha256:" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:40]


def sent_at(payload: Json) -> datetime | None:
    """The envelope's ``timestamp``: when GHL sent the event (signed bodies carry it)."""
    return _datetime(payload, "timestamp")


def _unwrap(payload: Json, key: str) -> Json:
    """The payload's fields, with a ``data`` envelope and then the resource's own object
    (``payload[key]``) laid over the top level."""
    merged: dict[str, Any] = dict(payload)
    for inner in (payload.get("data"), merged.get(key)):
        if isinstance(inner, Mapping):
            merged.update(inner)
            if isinstance(inner.get(key), Mapping):
                merged.update(inner[key])
    return merged


def _str(data: Json, key: str) -> str | None:
    value = data.get(key)
    return (value.strip() or None) if isinstance(value, str) else None


def _strings(data: Json, key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _datetime(data: Json, key: str) -> datetime | None:
    value = data.get(key)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, UTC)  # epoch milliseconds
        if not isinstance(value, str):
            return None
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class GhlPayloads:
    """GHL's CrmReader."""

    contact = staticmethod(contact)
    appointment = staticmethod(appointment)
    opportunity = staticmethod(opportunity)
    message = staticmethod(message)
    message_key = staticmethod(message_key)
    sent_at = staticmethod(sent_at)
    contact_details = staticmethod(contact_details)
    booking_status = staticmethod(booking_status)
    lead_status = staticmethod(lead_status)

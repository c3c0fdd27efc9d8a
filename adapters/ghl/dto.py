"""GHL wire JSON ⇄ the port's dataclasses. Reading is lenient: unknown fields are ignored and a
field of an unexpected type reads as absent; only a missing id makes a shape unusable."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from application.ports.crm import (
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
    CustomFieldValue,
    FreeSlots,
    MessageSent,
    NewAppointment,
    NewOpportunity,
    OpportunityPage,
    OutgoingMessage,
    UpsertedContact,
)
from application.ports.oauth import OAuthTokens
from application.ports.rate_limits import RateLimitObservation
from domain.errors import InvalidArgumentError, ProviderError
from domain.values import SecretStr

Json = dict[str, Any]

# --- reading ---------------------------------------------------------------------------------


class UnexpectedShapeError(ProviderError):
    """GHL answered 2xx with a body that lacks what the call needs."""


def _obj(data: object, key: str) -> Json:
    value = data.get(key) if isinstance(data, Mapping) else None
    if not isinstance(value, dict):
        raise UnexpectedShapeError(f"GoHighLevel's answer has no {key!r} object")
    return value


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value != "" else None


def _required_str(data: Mapping[str, Any], key: str, what: str) -> str:
    value = _str(data, key)
    if value is None:
        raise UnexpectedShapeError(f"GoHighLevel's {what} has no {key!r}")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in (
        "true",
        "false",
    ):  # the spec's own examples send booleans as strings
        return value == "true"
    return None


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _datetime(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)  # epoch milliseconds
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def location(body: object) -> CrmAccount:
    loc = _obj(body, "location")
    settings = loc.get("settings")
    settings = settings if isinstance(settings, dict) else {}
    return CrmAccount(
        id=_required_str(loc, "id", "location"),
        name=_str(loc, "name") or "",
        company_id=_str(loc, "companyId"),
        timezone=_str(loc, "timezone"),
        email=_str(loc, "email"),
        phone=_str(loc, "phone"),
        allow_duplicate_contact=_bool(settings, "allowDuplicateContact"),
    )


def contact(data: Mapping[str, Any]) -> CrmContact:
    fields = data.get("customFields")
    custom = tuple(
        # Read back as {id, value}; some payloads use fieldValue or field_value.
        CustomFieldValue(f["id"], f.get("value", f.get("fieldValue", f.get("field_value"))))
        for f in (fields if isinstance(fields, list) else [])
        if isinstance(f, dict) and isinstance(f.get("id"), str)
    )
    return CrmContact(
        id=_required_str(data, "id", "contact"),
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
        website=_str(data, "website"),
        source=_str(data, "source"),
        assigned_to=_str(data, "assignedTo"),
        dnd=_bool(data, "dnd"),
        tags=_strings(data, "tags"),
        custom_fields=custom,
        date_added=_datetime(data, "dateAdded"),
        date_updated=_datetime(data, "dateUpdated"),
    )


def wrapped_contact(body: object) -> CrmContact:
    return contact(_obj(body, "contact"))


def upserted_contact(body: object) -> UpsertedContact:
    created = _bool(body, "new") if isinstance(body, Mapping) else None
    return UpsertedContact(contact=wrapped_contact(body), created=bool(created))


def contact_page(body: object, *, cursor: Mapping[str, Any], page_size: int) -> ContactPage:
    """`POST /contacts/search` answers ``{contacts, total}`` (documented by GHL's white-label
    mirror only). Beyond 10,000 records GHL requires the ``searchAfter`` cursor, whose place in
    the answer is not documented: we take it from the last contact when it is there, else
    continue by page number while the total says more remain."""
    if not isinstance(body, Mapping) or not isinstance(body.get("contacts"), list):
        raise UnexpectedShapeError("GoHighLevel's answer has no 'contacts' list")
    raw = [c for c in body["contacts"] if isinstance(c, dict)]
    contacts = tuple(contact(c) for c in raw)
    total_value = body.get("total")
    total = (
        total_value if isinstance(total_value, int) and not isinstance(total_value, bool) else None
    )
    page = int(cursor["page"])
    next_cursor: str | None = None
    if len(contacts) == page_size and (total is None or page * page_size < total):
        state: Json = {"page": page + 1}
        search_after = raw[-1].get("searchAfter")
        if isinstance(search_after, list) and search_after:
            state["searchAfter"] = search_after
        next_cursor = encode_cursor(state)
    return ContactPage(contacts=contacts, total=total, next_cursor=next_cursor)


def calendars(body: object) -> list[CrmCalendar]:
    if not isinstance(body, Mapping) or not isinstance(body.get("calendars"), list):
        raise UnexpectedShapeError("GoHighLevel's answer has no 'calendars' list")
    result = []
    for c in body["calendars"]:
        if not isinstance(c, dict):
            continue
        duration = _number(c, "slotDuration")
        if duration is not None and c.get("slotDurationUnit") == "hours":
            duration *= 60
        result.append(
            CrmCalendar(
                id=_required_str(c, "id", "calendar"),
                location_id=_str(c, "locationId") or "",
                name=_str(c, "name") or "",
                description=_str(c, "description"),
                calendar_type=_str(c, "calendarType"),
                group_id=_str(c, "groupId"),
                is_active=_bool(c, "isActive") is not False,
                slot_duration_minutes=int(duration) if duration is not None else None,
            )
        )
    return result


def free_slots(body: object, timezone: str) -> FreeSlots:
    """``{"YYYY-MM-DD": {"slots": [iso, ...]}, ...}``. Keys that are not dates (a ``traceId``
    reported in real answers) are skipped, and so are slots that do not parse."""
    if not isinstance(body, Mapping):
        raise UnexpectedShapeError("GoHighLevel's free slots are not an object")
    days: dict[date, tuple[datetime, ...]] = {}
    for key, value in body.items():
        try:
            day = date.fromisoformat(key)
        except (TypeError, ValueError):
            continue
        raw = value.get("slots") if isinstance(value, dict) else None
        slots = []
        for text in raw if isinstance(raw, list) else []:
            slot = _datetime({"t": text}, "t")
            if slot is not None:
                slots.append(slot)
        days[day] = tuple(sorted(slots))
    return FreeSlots(timezone=timezone, days=days)


def block_slot(body: object) -> BlockSlot:
    if not isinstance(body, Mapping):
        raise UnexpectedShapeError("GoHighLevel's block slot is not an object")
    start, end = _datetime(body, "startTime"), _datetime(body, "endTime")
    if start is None or end is None:
        raise UnexpectedShapeError("GoHighLevel's block slot has no start or end time")
    return BlockSlot(
        id=_required_str(body, "id", "block slot"),
        location_id=_str(body, "locationId") or "",
        calendar_id=_str(body, "calendarId"),
        title=_str(body, "title"),
        start=start,
        end=end,
    )


def appointment(data: object) -> CrmAppointment:
    """Both the create/update answer (the appointment itself) and ``{event: ...}`` of a get."""
    if isinstance(data, Mapping) and isinstance(data.get("event"), dict):
        data = data["event"]
    if not isinstance(data, Mapping):
        raise UnexpectedShapeError("GoHighLevel's appointment is not an object")
    return CrmAppointment(
        id=_required_str(data, "id", "appointment"),
        calendar_id=_str(data, "calendarId") or "",
        location_id=_str(data, "locationId") or "",
        contact_id=_str(data, "contactId") or "",
        title=_str(data, "title"),
        status=_str(data, "appointmentStatus"),
        assigned_user_id=_str(data, "assignedUserId"),
        address=_str(data, "address"),
        start=_datetime(data, "startTime"),
        end=_datetime(data, "endTime"),
        date_added=_datetime(data, "dateAdded"),
        date_updated=_datetime(data, "dateUpdated"),
    )


def appointments(body: object) -> list[CrmAppointment]:
    """``{events: [CalendarEventDTO]}`` of ``GET /calendars/events``; events without an id are
    skipped."""
    if not isinstance(body, Mapping) or not isinstance(body.get("events"), list):
        raise UnexpectedShapeError("GoHighLevel's answer has no 'events' list")
    return [appointment(e) for e in body["events"] if isinstance(e, dict) and _str(e, "id")]


def block_slots(body: object) -> list[BlockSlot]:
    """``{events: [...]}`` of ``GET /calendars/blocked-slots``; events without an id or times
    are skipped."""
    if not isinstance(body, Mapping) or not isinstance(body.get("events"), list):
        raise UnexpectedShapeError("GoHighLevel's answer has no 'events' list")
    found = []
    for event in body["events"]:
        if isinstance(event, dict) and _str(event, "id"):
            try:
                found.append(block_slot(event))
            except UnexpectedShapeError:
                continue
    return found


def message_sent(body: object) -> MessageSent:
    if not isinstance(body, Mapping):
        raise UnexpectedShapeError("GoHighLevel's message answer is not an object")
    ids = _strings(body, "messageIds")
    # The GMB channel answers messageIds instead of messageId.
    message_id = _str(body, "messageId") or (ids[0] if ids else None)
    if message_id is None:
        raise UnexpectedShapeError("GoHighLevel's message answer has no 'messageId'")
    return MessageSent(
        conversation_id=_required_str(body, "conversationId", "message answer"),
        message_id=message_id,
        status=_str(body, "status"),
        message_ids=ids,
    )


def opportunity(data: object) -> CrmOpportunity:
    """An opportunity object (``SearchOpportunitiesResponseSchema``)."""
    if not isinstance(data, Mapping):
        raise UnexpectedShapeError("GoHighLevel's opportunity is not an object")
    return CrmOpportunity(
        id=_required_str(data, "id", "opportunity"),
        location_id=_str(data, "locationId"),
        name=_str(data, "name"),
        contact_id=_str(data, "contactId"),
        pipeline_id=_str(data, "pipelineId"),
        pipeline_stage_id=_str(data, "pipelineStageId"),
        status=_str(data, "status"),
        monetary_value=_number(data, "monetaryValue"),
        assigned_to=_str(data, "assignedTo"),
        updated_at=_datetime(data, "lastStatusChangeAt") or _datetime(data, "updatedAt"),
    )


def wrapped_opportunity(body: object) -> CrmOpportunity:
    """``{opportunity: {...}}`` of ``GET /opportunities/{id}`` and ``POST /opportunities/``."""
    return opportunity(_obj(body, "opportunity"))


def opportunity_page(body: object, *, page_size: int) -> OpportunityPage:
    """``GET /opportunities/search`` answers ``{opportunities, meta: {startAfter, startAfterId,
    ...}}``: the next page starts after the pair the meta names. A page shorter than asked, or
    a meta without the pair, is the last."""
    if not isinstance(body, Mapping) or not isinstance(body.get("opportunities"), list):
        raise UnexpectedShapeError("GoHighLevel's answer has no 'opportunities' list")
    found = tuple(
        opportunity(o) for o in body["opportunities"] if isinstance(o, dict) and _str(o, "id")
    )
    meta = body.get("meta")
    next_cursor: str | None = None
    if len(body["opportunities"]) >= page_size and isinstance(meta, Mapping):
        after, after_id = meta.get("startAfter"), _str(meta, "startAfterId")
        if isinstance(after, int | float | str) and not isinstance(after, bool) and after_id:
            next_cursor = encode_cursor({"startAfter": str(after), "startAfterId": after_id})
    return OpportunityPage(opportunities=found, next_cursor=next_cursor)


def opportunity_search_params(
    location_id: str, *, contact_id: str | None, page_size: int, cursor: str | None
) -> dict[str, str]:
    """The snake_case query of ``GET /opportunities/search`` (its cursor in camelCase)."""
    params = {"location_id": location_id, "limit": str(page_size)}
    if contact_id is not None:
        params["contact_id"] = contact_id
    if cursor:
        try:
            state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError) as err:
            raise InvalidArgumentError("the opportunity page cursor is not valid") from err
        if not isinstance(state, dict) or not all(
            isinstance(state.get(k), str) for k in ("startAfter", "startAfterId")
        ):
            raise InvalidArgumentError("the opportunity page cursor is not valid")
        params["startAfter"], params["startAfterId"] = state["startAfter"], state["startAfterId"]
    return params


def opportunity_body(new: NewOpportunity, *, location_id: str) -> Json:
    """``CreateDto`` of ``POST /opportunities/``."""
    body: Json = {
        "pipelineId": new.pipeline_id,
        "locationId": location_id,
        "name": new.name,
        "status": new.status.value,
        "contactId": new.contact_id,
    }
    _put_optional(body, pipelineStageId=new.pipeline_stage_id)
    return body


def pipelines(body: object) -> list[CrmPipeline]:
    """``{pipelines: [{id, name, stages: [{id, ...}]}]}`` of ``GET /opportunities/pipelines``
    (the spec types stages loosely; GHL sends objects with an ``id``)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("pipelines"), list):
        raise UnexpectedShapeError("GoHighLevel's answer has no 'pipelines' list")
    found = []
    for raw in body["pipelines"]:
        if not isinstance(raw, dict) or not _str(raw, "id"):
            continue
        stages = raw.get("stages")
        stage_ids = tuple(
            stage["id"]
            for stage in (stages if isinstance(stages, list) else [])
            if isinstance(stage, dict) and isinstance(stage.get("id"), str) and stage["id"]
        )
        found.append(CrmPipeline(id=raw["id"], name=_str(raw, "name"), stage_ids=stage_ids))
    return found


def oauth_tokens(body: object, now: datetime) -> OAuthTokens:
    if not isinstance(body, Mapping):
        raise UnexpectedShapeError("GoHighLevel's token answer is not an object")
    access, refresh = _str(body, "access_token"), _str(body, "refresh_token")
    expires_in = _number(body, "expires_in")
    if access is None or refresh is None or expires_in is None:
        raise UnexpectedShapeError("GoHighLevel's token answer lacks a token or its lifetime")
    return OAuthTokens(
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh),
        expires_at=datetime.fromtimestamp(now.timestamp() + expires_in, UTC),
    )


def minted_location_token(body: object, now: datetime) -> tuple[SecretStr, datetime]:
    """A location token minted from an agency's (``/oauth/locationToken``): its access token
    and expiry; a refresh token, if any, is not needed."""
    if not isinstance(body, Mapping):
        raise UnexpectedShapeError("GoHighLevel's location token answer is not an object")
    access, expires_in = _str(body, "access_token"), _number(body, "expires_in")
    if access is None or expires_in is None:
        raise UnexpectedShapeError("GoHighLevel's location token answer lacks the token")
    return SecretStr(access), datetime.fromtimestamp(now.timestamp() + expires_in, UTC)


def error_message(body: object, status: int) -> str:
    """GHL's error text: ``message`` is a string (400/401) or a list of strings (422)."""
    message = body.get("message") if isinstance(body, Mapping) else None
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    if isinstance(message, str) and message:
        return message
    return f"GoHighLevel answered HTTP {status}"


def trace_id(body: object) -> str | None:
    value = body.get("traceId") if isinstance(body, Mapping) else None
    return value if isinstance(value, str) and value else None


def rate_limit_observation(headers: Mapping[str, str], *, throttled: bool) -> RateLimitObservation:
    """GHL's ``X-RateLimit-*`` headers (read case-insensitively by the caller's mapping).
    Note the documented spellings: ``X-RateLimit-Limit-Daily`` but ``X-RateLimit-Daily-Remaining``."""

    def number(name: str) -> float | None:
        value = headers.get(name)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    def integer(name: str) -> int | None:
        value = number(name)
        return int(value) if value is not None else None

    interval_ms = number("X-RateLimit-Interval-Milliseconds")
    return RateLimitObservation(
        max_requests=integer("X-RateLimit-Max"),
        remaining=integer("X-RateLimit-Remaining"),
        interval_seconds=interval_ms / 1000 if interval_ms else None,
        daily_limit=integer("X-RateLimit-Limit-Daily"),
        daily_remaining=integer("X-RateLimit-Daily-Remaining"),
        throttled=throttled,
        retry_after_seconds=number("Retry-After"),
    )


# --- writing ---------------------------------------------------------------------------------

_CONTACT_WIRE_NAMES = {
    "first_name": "firstName",
    "last_name": "lastName",
    "name": "name",
    "email": "email",
    "phone": "phone",
    "company_name": "companyName",
    "address1": "address1",
    "city": "city",
    "state": "state",
    "postal_code": "postalCode",
    "country": "country",
    "timezone": "timezone",
    "website": "website",
    "source": "source",
    "assigned_to": "assignedTo",
    "dnd": "dnd",
}


def contact_body(fields: ContactFields, *, location_id: str | None) -> Json:
    """A create/upsert body (with `location_id`) or an update body (without: UpdateContactDto
    has neither ``locationId`` nor ``companyName``)."""
    body: Json = {}
    if location_id is not None:
        body["locationId"] = location_id
    elif fields.company_name is not None:
        raise InvalidArgumentError(
            "GoHighLevel does not change a contact's company name on update; use upsert"
        )
    for attr, wire in _CONTACT_WIRE_NAMES.items():
        value = getattr(fields, attr)
        if value is not None:
            body[wire] = value
    if fields.tags is not None:
        body["tags"] = list(fields.tags)
    if fields.custom_fields is not None:
        # Written as field_value, read back as value (contacts.json).
        body["customFields"] = [{"id": f.id, "field_value": f.value} for f in fields.custom_fields]
    return body


def search_body(
    location_id: str,
    *,
    query: str | None,
    page_size: int,
    cursor: Mapping[str, Any],
    updated_since: datetime | None = None,
) -> Json:
    body: Json = {"locationId": location_id, "pageLimit": page_size}
    if "searchAfter" in cursor:
        body["searchAfter"] = cursor["searchAfter"]  # never sent together with page
    else:
        body["page"] = cursor["page"]
    if query:
        body["query"] = query
    if updated_since is not None:
        # The filter and sort shapes of GHL's white-label mirror (API-NOTES §3.1.1); GHL
        # writes dateUpdated as ISO 8601 UTC with milliseconds.
        body["filters"] = [
            {"field": "dateUpdated", "operator": "range", "value": {"gte": utc_iso(updated_since)}}
        ]
        body["sort"] = [{"field": "dateUpdated", "direction": "asc"}]
    return body


def utc_iso(moment: datetime) -> str:
    """``2026-01-05T15:00:00.000Z``: GHL's own format for contact times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso(moment: datetime) -> str:
    """ISO 8601 with the offset, as GHL's calendar endpoints take it."""
    return moment.isoformat(timespec="seconds")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def appointment_body(appointment: NewAppointment, *, location_id: str) -> Json:
    body: Json = {
        "calendarId": appointment.calendar_id,
        "locationId": location_id,
        "contactId": appointment.contact_id,
        "startTime": iso(appointment.start),
        "toNotify": appointment.notify,
    }
    if appointment.ignore_free_slot_validation:
        body["ignoreFreeSlotValidation"] = True
    _put_optional(
        body,
        endTime=iso(appointment.end) if appointment.end else None,
        title=appointment.title,
        appointmentStatus=appointment.status.value if appointment.status else None,
        assignedUserId=appointment.assigned_user_id,
        address=appointment.address,
        description=appointment.description,
    )
    return body


def appointment_changes_body(changes: AppointmentChanges) -> Json:
    body: Json = {}
    _put_optional(
        body,
        calendarId=changes.calendar_id,
        startTime=iso(changes.start) if changes.start else None,
        endTime=iso(changes.end) if changes.end else None,
        title=changes.title,
        appointmentStatus=changes.status.value if changes.status else None,
        assignedUserId=changes.assigned_user_id,
        address=changes.address,
        description=changes.description,
        ignoreFreeSlotValidation=changes.ignore_free_slot_validation,
    )
    return body


_SENT_MESSAGE_STATUS = "pending"


def message_body(message: OutgoingMessage) -> Json:
    # GHL's spec requires subType and status since 2026-05-01 (API-NOTES §3.4). subType is "the
    # type of message being sent" (the spec's example pairs type Email with subType Email); a
    # message handed to GHL to send is pending until GHL reports it delivered, failed or read.
    body: Json = {
        "type": message.type.value,
        "subType": message.type.value,
        "contactId": message.contact_id,
        "status": _SENT_MESSAGE_STATUS,
    }
    _put_optional(
        body,
        message=message.message,
        subject=message.subject,
        html=message.html,
        # seconds, not milliseconds, unlike the calendar endpoints
        scheduledTimestamp=int(message.scheduled_at.timestamp()) if message.scheduled_at else None,
    )
    if message.attachments:
        body["attachments"] = list(message.attachments)
    return body


def _put_optional(body: Json, **values: object) -> None:
    body.update({k: v for k, v in values.items() if v is not None})


# --- opaque search cursors -------------------------------------------------------------------


def encode_cursor(state: Mapping[str, Any]) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any]:
    """``{"page": n}``, plus ``"searchAfter"`` once GHL handed one out."""
    if not cursor:
        return {"page": 1}
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as err:
        raise InvalidArgumentError("the contact page cursor is not valid") from err
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("page"), int)
        or state["page"] < 1
        or not isinstance(state.get("searchAfter", []), list)
    ):
        raise InvalidArgumentError("the contact page cursor is not valid")
    return state

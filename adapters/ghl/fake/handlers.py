"""The GHL endpoints the fake serves, in GHL's wire format (paths, field names, status codes)."""

from __future__ import annotations

import json
import operator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from adapters.ghl.fake.core import FAKE_GHL, LOCATION, TRACE_ID, FakeGhl, FakeHttpError
from adapters.ghl.fake.state import FakeState, Json, parse_time

_MAX_SLOT_RANGE_MS = 31 * 24 * 3600 * 1000
_CONTACT_INPUT_FIELDS = (
    "firstName", "lastName", "name", "email", "gender", "phone", "address1", "city", "state",
    "postalCode", "website", "timezone", "dnd", "dndSettings", "inboundDndSettings", "source",
    "dateOfBirth", "country", "companyName", "assignedTo",
)  # fmt: skip


def _fake(request: web.Request) -> FakeGhl:
    return request.app[FAKE_GHL]


async def _body(request: web.Request) -> Json:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as err:
        raise FakeHttpError(400, "Unexpected token in JSON") from err
    if not isinstance(body, dict):
        raise FakeHttpError(400, "The body must be a JSON object")
    return body


def _own_location(request: web.Request, location_id: object) -> str:
    if location_id != request[LOCATION]:
        raise FakeHttpError(403, "The token does not have access to this location.")
    return request[LOCATION]


def _in_location(request: web.Request, items: dict[str, Json], item_id: str, what: str) -> Json:
    # The spec declares no 404; GHL's status for an unknown id is not documented.
    item = items.get(item_id)
    if item is None or item.get("locationId") != request[LOCATION]:
        raise FakeHttpError(404, f"{what} not found")
    return item


def _time(body: Json, key: str) -> datetime:
    moment = parse_time(body.get(key))
    if moment is None:
        raise FakeHttpError(422, f"{key} must be a valid ISO 8601 date string")
    return moment


# --- locations ---------------------------------------------------------------------------------


async def get_location(request: web.Request) -> web.Response:
    location_id = _own_location(request, request.match_info["locationId"])
    return web.json_response({"location": _fake(request).state.locations[location_id]})


# --- contacts ----------------------------------------------------------------------------------


def _apply_contact_fields(contact: Json, body: Json) -> None:
    for key in _CONTACT_INPUT_FIELDS:
        if key in body:
            contact[key] = body[key]
    if "tags" in body:
        contact["tags"] = list(body["tags"])
    if "customFields" in body:
        # Written as {id|key, field_value}; read back as {id, value}.
        values = {f["id"]: f["value"] for f in contact.get("customFields", [])}
        for field in body["customFields"]:
            values[field.get("id") or field.get("key")] = field.get("field_value")
        contact["customFields"] = [{"id": k, "value": v} for k, v in values.items()]
    if contact.get("email"):
        contact["emailLowerCase"] = str(contact["email"]).lower()
    if not body.get("name") and ("firstName" in body or "lastName" in body):
        full = " ".join(p for p in (contact.get("firstName"), contact.get("lastName")) if p)
        contact["name"] = full
    contact["dateUpdated"] = FakeState.now_iso()


def _new_contact(fake: FakeGhl, location_id: str, body: Json) -> Json:
    contact: Json = {
        "id": fake.state.new_id(),
        "locationId": location_id,
        "type": "lead",
        "tags": [],
        "customFields": [],
        "dateAdded": FakeState.now_iso(),
    }
    _apply_contact_fields(contact, body)
    fake.state.contacts[contact["id"]] = contact
    fake.emit("ContactCreate", location_id, contact)
    return contact


async def get_contact(request: web.Request) -> web.Response:
    contact = _in_location(
        request, _fake(request).state.contacts, request.match_info["contactId"], "Contact"
    )
    return web.json_response({"contact": contact})


async def create_contact(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    location_id = _own_location(request, body.get("locationId"))
    settings = fake.state.locations[location_id].get("settings", {})
    duplicate = fake.state.find_duplicate(location_id, body.get("email"), body.get("phone"))
    if duplicate is not None and not settings.get("allowDuplicateContact", False):
        # The location's "Allow Duplicate Contact" setting (contacts.json, upsert); the wording
        # of GHL's refusal is not in the reference.
        raise FakeHttpError(
            400,
            "This location does not allow duplicated contacts.",
            meta={"contactId": duplicate["id"]},
        )
    contact = _new_contact(fake, location_id, body)
    return web.json_response({"contact": contact}, status=201)


async def update_contact(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    contact = _in_location(request, fake.state.contacts, request.match_info["contactId"], "Contact")
    _apply_contact_fields(contact, body)
    fake.emit("ContactUpdate", contact["locationId"], contact)
    return web.json_response({"succeded": True, "contact": contact})  # sic: GHL's spelling


async def delete_contact(request: web.Request) -> web.Response:
    fake = _fake(request)
    contact = _in_location(request, fake.state.contacts, request.match_info["contactId"], "Contact")
    del fake.state.contacts[contact["id"]]
    fake.emit("ContactDelete", contact["locationId"], contact)
    return web.json_response({"succeded": True})


async def upsert_contact(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    location_id = _own_location(request, body.get("locationId"))
    allow = fake.state.locations[location_id].get("settings", {}).get("allowDuplicateContact")
    duplicate = fake.state.find_duplicate(location_id, body.get("email"), body.get("phone"))
    if duplicate is None or (allow and body.get("createNewIfDuplicateAllowed")):
        contact, new = _new_contact(fake, location_id, body), True
    else:
        _apply_contact_fields(duplicate, body)
        fake.emit("ContactUpdate", location_id, duplicate)
        contact, new = duplicate, False
    return web.json_response({"new": new, "contact": contact, "traceId": request[TRACE_ID]})


def _matches(contact: Json, flt: Json) -> bool:
    if "group" in flt:
        results = [_matches(contact, f) for f in flt.get("filters", [])]
        return any(results) if flt["group"] == "OR" else all(results)
    value, op, expected = contact.get(flt.get("field", "")), flt.get("operator"), flt.get("value")
    if op == "eq":
        return bool(value == expected)
    if op == "not_eq":
        return bool(value != expected)
    if op == "exists":
        return value not in (None, "", [])
    if op == "range" and isinstance(expected, dict):
        bounds = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
        return value is not None and all(
            bool(bounds[k](value, v)) for k, v in expected.items() if k in bounds
        )
    raise FakeHttpError(422, f"filter {flt!r} is not supported by the fake")


def _has_text(contact: Json, query: str) -> bool:
    fields = ("name", "email", "phone", "companyName")
    return not query or any(query in str(contact.get(k, "")).lower() for k in fields)


async def search_contacts(request: web.Request) -> web.Response:
    """Body and answer as GHL's white-label mirror documents them (the spec's are empty).
    Where GHL puts the ``searchAfter`` cursor is not documented: the fake gives each contact
    its own, the cursor for the page after it."""
    fake, body = _fake(request), await _body(request)
    location_id = _own_location(request, body.get("locationId"))
    query = str(body.get("query") or "").lower()
    found = [
        c
        for c in fake.state.contacts.values()
        if c.get("locationId") == location_id
        and _has_text(c, query)
        and all(_matches(c, f) for f in body.get("filters", []))
    ]
    key = _sort_field(body.get("sort"))
    found.sort(key=lambda c: (c[key], c["id"]))
    limit = int(body["pageLimit"])
    if "searchAfter" in body:
        after = tuple(body["searchAfter"])
        page = [c for c in found if (c[key], c["id"]) > after][:limit]
    else:
        start = (int(body.get("page", 1)) - 1) * limit
        if start + limit > 10_000:
            raise FakeHttpError(400, "page x pageLimit cannot exceed 10000; use searchAfter")
        page = found[start : start + limit]
    contacts = [{**c, "searchAfter": [c[key], c["id"]]} for c in page]
    return web.json_response({"contacts": contacts, "total": len(found)})


def _sort_field(sort: object) -> str:
    """The one ascending sort the fake knows besides its default (dateAdded)."""
    if not sort:
        return "dateAdded"
    if sort == [{"field": "dateUpdated", "direction": "asc"}]:
        return "dateUpdated"
    raise FakeHttpError(422, f"sort {sort!r} is not supported by the fake")


# --- calendars ---------------------------------------------------------------------------------


async def list_calendars(request: web.Request) -> web.Response:
    location_id = _own_location(request, request.query.get("locationId"))
    group = request.query.get("groupId")
    calendars = [
        c
        for c in _fake(request).state.calendars.values()
        if c.get("locationId") == location_id and (group is None or c.get("groupId") == group)
    ]
    return web.json_response({"calendars": calendars})


async def free_slots(request: web.Request) -> web.Response:
    fake = _fake(request)
    calendar = _in_location(
        request, fake.state.calendars, request.match_info["calendarId"], "Calendar"
    )
    try:
        start_ms, end_ms = float(request.query["startDate"]), float(request.query["endDate"])
    except (KeyError, ValueError) as err:
        raise FakeHttpError(422, "startDate and endDate must be numbers (epoch ms)") from err
    if end_ms < start_ms or end_ms - start_ms > _MAX_SLOT_RANGE_MS:
        raise FakeHttpError(400, "Date range cannot be more than 31 days")
    try:
        tz = (
            ZoneInfo(request.query["timezone"])
            if "timezone" in request.query
            else fake.state.timezone_of(calendar["locationId"])
        )
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise FakeHttpError(400, "timezone must be an IANA time zone") from err
    start = datetime.fromtimestamp(start_ms / 1000, tz)
    end = datetime.fromtimestamp(end_ms / 1000, tz)
    return web.json_response(fake.state.free_slots(calendar, start, end, tz))


def _local_iso(fake: FakeGhl, location_id: str, moment: datetime) -> str:
    return moment.astimezone(fake.state.timezone_of(location_id)).isoformat(timespec="seconds")


async def create_block_slot(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    location_id = _own_location(request, body.get("locationId"))
    if body.get("calendarId") and body.get("assignedUserId"):
        raise FakeHttpError(400, "Either calendarId or assignedUserId can be set, not both")
    calendar = _in_location(request, fake.state.calendars, str(body.get("calendarId")), "Calendar")
    start, end = _time(body, "startTime"), _time(body, "endTime")
    if end <= start:
        raise FakeHttpError(400, "endTime must be after startTime")
    now = FakeState.now_iso()
    slot: Json = {
        "id": fake.state.new_id(),
        "kind": "block",
        "locationId": location_id,
        "calendarId": calendar["id"],
        "title": body.get("title") or "Blocked",
        "startTime": _local_iso(fake, location_id, start),
        "endTime": _local_iso(fake, location_id, end),
        "dateAdded": now,
        "dateUpdated": now,
    }
    fake.state.events[slot["id"]] = slot
    keys = ("id", "locationId", "calendarId", "title", "startTime", "endTime")
    return web.json_response({k: slot[k] for k in keys}, status=201)


def _appointment_answer(event: Json) -> Json:
    """AppointmentSchemaResponse: what create and update answer."""
    keys = (
        "id", "calendarId", "locationId", "contactId", "startTime", "endTime", "title",
        "meetingLocationType", "appointmentStatus", "assignedUserId", "address", "isRecurring",
    )  # fmt: skip
    return {k: event[k] for k in keys if event.get(k) is not None}


def _event_dto(event: Json) -> Json:
    """CalendarEventDTO: what a get answers."""
    return {k: v for k, v in event.items() if k not in ("kind", "meetingLocationType")}


def _check_slot(fake: FakeGhl, calendar: Json, start: datetime, body: Json, skip: str = "") -> None:
    if body.get("ignoreFreeSlotValidation"):
        return
    own = fake.state.events.pop(skip, None)
    try:
        if not fake.state.is_free(calendar, start):
            raise FakeHttpError(400, "The slot you have selected is no longer available.")
    finally:
        if own is not None:
            fake.state.events[skip] = own


async def create_appointment(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    location_id = _own_location(request, body.get("locationId"))
    calendar = _in_location(request, fake.state.calendars, str(body.get("calendarId")), "Calendar")
    contact = fake.state.contacts.get(str(body.get("contactId")))
    if contact is None or contact.get("locationId") != location_id:
        raise FakeHttpError(400, "Contact not found")
    start = _time(body, "startTime")
    duration = timedelta(minutes=int(calendar.get("slotDuration", 30)))
    end = _time(body, "endTime") if "endTime" in body else start + duration
    _check_slot(fake, calendar, start, body)
    now = FakeState.now_iso()
    event: Json = {
        "id": fake.state.new_id(),
        "kind": "appointment",
        "calendarId": calendar["id"],
        "locationId": location_id,
        "contactId": contact["id"],
        "groupId": calendar.get("groupId", ""),
        "title": body.get("title") or contact.get("name") or "Appointment",
        "appointmentStatus": body.get("appointmentStatus", "confirmed"),
        "assignedUserId": body.get("assignedUserId", ""),
        "users": [body["assignedUserId"]] if body.get("assignedUserId") else [],
        "address": body.get("address"),
        "description": body.get("description"),
        "meetingLocationType": body.get("meetingLocationType", "default"),
        "isRecurring": False,
        "startTime": _local_iso(fake, location_id, start),
        "endTime": _local_iso(fake, location_id, end),
        "dateAdded": now,
        "dateUpdated": now,
    }
    event = {k: v for k, v in event.items() if v is not None}
    fake.state.events[event["id"]] = event
    fake.emit("AppointmentCreate", location_id, {"appointment": _event_dto(event)})
    return web.json_response(_appointment_answer(event))


def _appointment(request: web.Request) -> Json:
    event = _in_location(
        request, _fake(request).state.events, request.match_info["eventId"], "Appointment"
    )
    if event.get("kind") != "appointment":
        raise FakeHttpError(404, "Appointment not found")
    return event


async def update_appointment(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    event = _appointment(request)
    calendar_id = body.get("calendarId", event["calendarId"])
    calendar = _in_location(request, fake.state.calendars, str(calendar_id), "Calendar")
    if "startTime" in body:
        _check_slot(fake, calendar, _time(body, "startTime"), body, skip=event["id"])
    for key in ("startTime", "endTime"):
        if key in body:
            event[key] = _local_iso(fake, event["locationId"], _time(body, key))
    for key in ("title", "appointmentStatus", "assignedUserId", "address", "description"):
        if key in body:
            event[key] = body[key]
    event["calendarId"] = calendar["id"]
    event["dateUpdated"] = FakeState.now_iso()
    fake.emit("AppointmentUpdate", event["locationId"], {"appointment": _event_dto(event)})
    return web.json_response(_appointment_answer(event))


async def get_appointment(request: web.Request) -> web.Response:
    return web.json_response({"event": _event_dto(_appointment(request))})


def _event_window(request: web.Request) -> tuple[str, datetime, datetime]:
    """GET /calendars/events and /calendars/blocked-slots: ``locationId``, a ``calendarId`` (the
    fake needs one of userId/groupId/calendarId to be the calendar) and epoch-ms strings."""
    _own_location(request, request.query.get("locationId"))
    calendar_id = request.query.get("calendarId")
    if not calendar_id:
        raise FakeHttpError(400, "calendarId, userId or groupId is required")
    try:
        start = datetime.fromtimestamp(float(request.query["startTime"]) / 1000, UTC)
        end = datetime.fromtimestamp(float(request.query["endTime"]) / 1000, UTC)
    except (KeyError, ValueError) as err:
        raise FakeHttpError(422, "startTime and endTime must be epoch milliseconds") from err
    return calendar_id, start, end


def _events_in(
    fake: FakeGhl, kind: str, calendar_id: str, start: datetime, end: datetime
) -> list[Json]:
    return [
        e
        for e in fake.state.events.values()
        if e.get("kind") == kind
        and e.get("calendarId") == calendar_id
        and start <= _time(e, "startTime") <= end
    ]


async def list_events(request: web.Request) -> web.Response:
    fake = _fake(request)
    calendar_id, start, end = _event_window(request)
    events = _events_in(fake, "appointment", calendar_id, start, end)
    return web.json_response({"events": [_event_dto(e) for e in events]})


async def list_blocked_slots(request: web.Request) -> web.Response:
    """Blocked slots, in the answer schema of GET /calendars/events (CalendarEventDTO)."""
    fake = _fake(request)
    calendar_id, start, end = _event_window(request)
    events = [
        {
            "contactId": "",
            "groupId": "",
            "appointmentStatus": "",
            "assignedUserId": "",
            "users": [],
            **_event_dto(e),
        }
        for e in _events_in(fake, "block", calendar_id, start, end)
    ]
    return web.json_response({"events": events})


async def delete_event(request: web.Request) -> web.Response:
    fake = _fake(request)
    event = _in_location(request, fake.state.events, request.match_info["eventId"], "Event")
    del fake.state.events[event["id"]]
    if event.get("kind") == "appointment":
        fake.emit("AppointmentDelete", event["locationId"], {"appointment": _event_dto(event)})
    return web.json_response({"succeeded": True}, status=201)


# --- conversations -----------------------------------------------------------------------------


# Required by GHL's current spec (SendMessageBodyDto, API-NOTES §3.4); refused here even when
# the contract check is off, in NestJS's words.
_MESSAGE_REQUIRED = ("subType", "status")


async def send_message(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    for key in _MESSAGE_REQUIRED:
        if not body.get(key):
            raise FakeHttpError(422, f"{key} should not be empty")
    contact = fake.state.contacts.get(str(body.get("contactId")))
    if contact is None or contact.get("locationId") != request[LOCATION]:
        raise FakeHttpError(400, "Contact not found")
    conversation = next(
        (c for c in fake.state.conversations.values() if c["contactId"] == contact["id"]), None
    )
    if conversation is None:
        conversation = {
            "id": fake.state.new_id(),
            "contactId": contact["id"],
            "locationId": contact["locationId"],
        }
        fake.state.conversations[conversation["id"]] = conversation
    message: Json = {
        "id": fake.state.new_id(),
        "conversationId": conversation["id"],
        "contactId": contact["id"],
        "type": body["type"],
        "subType": body["subType"],
        "body": body.get("message", ""),
        "dateAdded": FakeState.now_iso(),
        "direction": "outbound",
        "status": "pending",
    }
    fake.state.messages[message["id"]] = message
    fake.emit(
        "OutboundMessage",
        contact["locationId"],
        {
            "attachments": body.get("attachments", []),
            "body": message["body"],
            "contactId": contact["id"],
            "contentType": "text/plain",
            "conversationId": conversation["id"],
            "dateAdded": message["dateAdded"],
            "direction": "outbound",
            "messageType": body["type"],
            "messageId": message["id"],
            "status": message["status"],
        },
    )
    return web.json_response(
        {
            "conversationId": conversation["id"],
            "messageId": message["id"],
            "status": message["status"],
            "msg": "Message queued successfully.",
        }
    )


# --- opportunities -----------------------------------------------------------------------------

_OPPORTUNITY_STATUSES = ("open", "won", "lost", "abandoned")
_MAX_OPPORTUNITY_LIMIT = 100


def _opportunity_event(opportunity: Json) -> Json:
    """An opportunity webhook's fields (API-NOTES §4.2)."""
    fields = {
        k: opportunity.get(k)
        for k in ("id", "assignedTo", "contactId", "monetaryValue", "name", "pipelineId",
                  "pipelineStageId", "source", "status")
    }  # fmt: skip
    fields["dateAdded"] = opportunity.get("createdAt")
    return fields


def _epoch_ms(iso: str) -> int:
    moment = parse_time(iso)
    return int(moment.timestamp() * 1000) if moment else 0


async def get_opportunity(request: web.Request) -> web.Response:
    opportunity = _in_location(
        request, _fake(request).state.opportunities, request.match_info["id"], "Opportunity"
    )
    return web.json_response({"opportunity": opportunity})


async def search_opportunities(request: web.Request) -> web.Response:
    """``GET /opportunities/search``: snake_case filters; oldest first (createdAt, then id),
    paged by ``startAfter`` (the last one's createdAt, epoch ms) + ``startAfterId``, which the
    answer's ``meta`` names. GHL's own order is not documented."""
    fake, query = _fake(request), request.query
    location_id = _own_location(request, query.get("location_id"))
    limit = int(float(query.get("limit", "20")))
    if not 1 <= limit <= _MAX_OPPORTUNITY_LIMIT:
        raise FakeHttpError(422, f"limit must be 1 to {_MAX_OPPORTUNITY_LIMIT}")
    status = query.get("status")
    found = sorted(
        (
            o
            for o in fake.state.opportunities.values()
            if o.get("locationId") == location_id
            and all(
                query.get(param) in (None, o.get(field))
                for param, field in (
                    ("contact_id", "contactId"),
                    ("pipeline_id", "pipelineId"),
                    ("pipeline_stage_id", "pipelineStageId"),
                    ("assigned_to", "assignedTo"),
                    ("id", "id"),
                )
            )
            and status in (None, "all", o.get("status"))
        ),
        key=lambda o: (_epoch_ms(o.get("createdAt", "")), o["id"]),
    )
    if "startAfterId" in query:
        after = (int(float(query.get("startAfter", "0"))), query["startAfterId"])
        found_after = [o for o in found if (_epoch_ms(o.get("createdAt", "")), o["id"]) > after]
    else:
        found_after = found
    page = found_after[:limit]
    meta: Json = {"total": len(found), "currentPage": 1}
    if page:
        meta["startAfter"] = _epoch_ms(page[-1].get("createdAt", ""))
        meta["startAfterId"] = page[-1]["id"]
    if len(found_after) > limit:
        meta["nextPage"] = 2
        meta["nextPageUrl"] = str(
            request.url.update_query(
                startAfter=str(meta["startAfter"]), startAfterId=meta["startAfterId"]
            )
        )
    return web.json_response({"opportunities": page, "meta": meta, "aggregations": {}})


async def create_opportunity(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    location_id = _own_location(request, body.get("locationId"))
    contact = fake.state.contacts.get(str(body.get("contactId")))
    if contact is None or contact.get("locationId") != location_id:
        raise FakeHttpError(400, "Contact not found")
    pipeline = fake.state.pipelines.get(str(body.get("pipelineId")))
    if pipeline is None or pipeline.get("locationId") != location_id:
        raise FakeHttpError(400, "Pipeline not found")
    stages = [stage["id"] for stage in pipeline.get("stages", [])]
    stage = body.get("pipelineStageId") or (stages[0] if stages else None)
    if stage not in stages:
        raise FakeHttpError(400, "Pipeline stage not found")
    if body.get("status") not in _OPPORTUNITY_STATUSES:
        raise FakeHttpError(422, "status must be one of open, won, lost, abandoned")
    settings = fake.state.locations[location_id].get("settings", {})
    if not settings.get("allowDuplicateOpportunity", False) and any(
        o.get("contactId") == contact["id"] and o.get("pipelineId") == pipeline["id"]
        for o in fake.state.opportunities.values()
    ):
        # The location's "Allow Duplicate Opportunity" setting; GHL's wording is not documented.
        raise FakeHttpError(400, "Can not create duplicate opportunity for the contact.")
    now = FakeState.now_iso()
    opportunity: Json = {
        "id": fake.state.new_id(),
        "name": body["name"],
        "monetaryValue": body.get("monetaryValue", 0),
        "pipelineId": pipeline["id"],
        "pipelineStageId": stage,
        "status": body["status"],
        "source": "",
        "lastStatusChangeAt": now,
        "lastStageChangeAt": now,
        "createdAt": now,
        "updatedAt": now,
        "contactId": contact["id"],
        "locationId": location_id,
    }
    fake.state.opportunities[opportunity["id"]] = opportunity
    # GHL sends both events for a create (API-NOTES §5, issue #27).
    fake.emit("OpportunityCreate", location_id, _opportunity_event(opportunity))
    fake.emit("OpportunityUpdate", location_id, _opportunity_event(opportunity))
    return web.json_response({"opportunity": opportunity}, status=201)


async def list_pipelines(request: web.Request) -> web.Response:
    location_id = _own_location(request, request.query.get("locationId"))
    pipelines = [
        p for p in _fake(request).state.pipelines.values() if p.get("locationId") == location_id
    ]
    return web.json_response({"pipelines": pipelines})


async def update_opportunity_status(request: web.Request) -> web.Response:
    fake, body = _fake(request), await _body(request)
    opportunity = _in_location(
        request, fake.state.opportunities, request.match_info["id"], "Opportunity"
    )
    if body.get("status") not in _OPPORTUNITY_STATUSES:
        raise FakeHttpError(422, "status must be one of open, won, lost, abandoned")
    fake.state.set_opportunity_status(opportunity, body["status"])
    if "lostReasonId" in body:
        opportunity["lostReasonId"] = body["lostReasonId"]
    # GHL sends both events for a status change (API-NOTES §5, issue #27).
    fake.emit("OpportunityStatusUpdate", opportunity["locationId"], _opportunity_event(opportunity))
    fake.emit("OpportunityUpdate", opportunity["locationId"], _opportunity_event(opportunity))
    return web.json_response({"succeded": True})


def add_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/locations/{locationId}", get_location),
            web.post("/contacts/", create_contact),
            web.post("/contacts/upsert", upsert_contact),
            web.post("/contacts/search", search_contacts),
            web.get("/contacts/{contactId}", get_contact),
            web.put("/contacts/{contactId}", update_contact),
            web.delete("/contacts/{contactId}", delete_contact),
            web.get("/calendars/", list_calendars),
            web.get("/calendars/{calendarId}/free-slots", free_slots),
            web.post("/calendars/events/block-slots", create_block_slot),
            web.post("/calendars/events/appointments", create_appointment),
            web.get("/calendars/events/appointments/{eventId}", get_appointment),
            web.get("/calendars/events", list_events),
            web.get("/calendars/blocked-slots", list_blocked_slots),
            web.delete("/calendars/events/{eventId}", delete_event),
            web.put("/calendars/events/appointments/{eventId}", update_appointment),
            web.post("/conversations/messages", send_message),
            web.get("/opportunities/search", search_opportunities),
            web.get("/opportunities/pipelines", list_pipelines),
            web.post("/opportunities/", create_opportunity),
            web.get("/opportunities/{id}", get_opportunity),
            web.put("/opportunities/{id}/status", update_opportunity_status),
        ]
    )

"""The Conversions API: ``POST /{dataset_id}/events`` with the notes' rules (API-NOTES §9). One
bad event refuses the whole batch (400, code 100) and nothing is kept; accepted events are kept
for tests to assert on (``FakeMeta.capi_events``)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from adapters.meta.fake.core import FAKE_META, ReceivedEvent
from adapters.meta.fake.errors import GraphError, Json, invalid_parameter, not_found
from adapters.meta.fake.params import PARAMS, TRACE_ID

MAX_EVENTS = 1000
MAX_AGE_SECONDS = 7 * 24 * 3600
# Not from the notes: an event_time more than a day ahead is refused, so that milliseconds sent
# for seconds fail here as loudly as a stale time does.
MAX_AHEAD_SECONDS = 24 * 3600
ACTION_SOURCES = frozenset(
    {
        "email", "website", "app", "phone_call", "chat", "physical_store", "system_generated",
        "business_messaging", "other",
    }
)  # fmt: skip
_NOT_EVENT_PARAMS = frozenset({"data", "access_token", "appsecret_proof", "test_event_code"})


def _refuse(index: int, title: str, detail: str, subcode: int | None = None) -> GraphError:
    return invalid_parameter(
        "Invalid parameter",
        subcode=subcode,
        is_transient=False,
        user_title=title,
        user_msg=f"data[{index}]: {detail}",
    )


async def post_events(request: web.Request) -> web.Response:
    fake = request.app[FAKE_META]
    params = request[PARAMS]
    dataset_id = request.match_info["dataset_id"]
    if dataset_id not in fake.state.datasets:
        raise not_found(dataset_id, "post")
    events = _events(params.get("data"))
    now = fake.state.now()
    for index, event in enumerate(events):
        _check(index, event, now)
    trace = request[TRACE_ID]
    test_code = params.get("test_event_code")
    extra = {k: v for k, v in params.items() if k not in _NOT_EVENT_PARAMS}
    for event in events:
        fake.capi_events.append(
            ReceivedEvent(
                dataset_id=dataset_id,
                event=event,
                version=request.match_info.get("version"),
                test_event_code=test_code if isinstance(test_code, str) else None,
                fbtrace_id=trace,
                received_at=now,
                extra=extra,
            )
        )
    return web.json_response({"events_received": len(events), "messages": [], "fbtrace_id": trace})


def _events(raw: Any) -> list[Any]:
    """``data``: a JSON array (JSON body) or a JSON string of one (form-encoded)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as err:
            raise invalid_parameter("(#100) param data must be an array.") from err
    if not isinstance(raw, list):
        raise invalid_parameter("(#100) The parameter data is required and must be an array.")
    if not raw:
        raise invalid_parameter("(#100) param data must be a non-empty array.")
    if len(raw) > MAX_EVENTS:
        raise invalid_parameter(
            f"(#100) param data must be an array of at most {MAX_EVENTS} events.",
            user_title="Too Many Events",
            user_msg=f"A request carries at most {MAX_EVENTS} events; this one has {len(raw)}.",
        )
    return raw


def _check(index: int, event: Any, now: float) -> None:
    if not isinstance(event, dict):
        raise _refuse(index, "Invalid Event", "each event must be a JSON object")
    name = event.get("event_name")
    if not isinstance(name, str) or not name:
        raise _refuse(index, "Missing event_name", "event_name is required")
    _check_time(index, event.get("event_time"), now)
    source = event.get("action_source")
    if source not in ACTION_SOURCES:
        raise _refuse(
            index,
            "Invalid action_source",
            f"action_source must be one of {', '.join(sorted(ACTION_SOURCES))}",
        )
    user_data = event.get("user_data")
    if not isinstance(user_data, dict) or not user_data:
        raise _refuse(index, "Missing user_data", "user_data is required")
    custom = event.get("custom_data")
    custom = custom if isinstance(custom, dict) else {}
    if source == "system_generated" or custom.get("event_source") == "crm":
        _check_crm(index, source, user_data, custom)


def _check_time(index: int, value: Any, now: float) -> None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(index, "Invalid event_time", "event_time must be a unix time in seconds")
    if value < now - MAX_AGE_SECONDS:
        # The words of examples/capi-error-invalid-event.json.
        raise invalid_parameter(
            "Invalid parameter",
            subcode=2804003,
            is_transient=False,
            user_title="Event Timestamp Too Old",
            user_msg="The timestamp for this event is too far in the past. Events need to be sent "
            "from your server within 7 days of when they occurred. Enter a timestamp that has "
            "occurred within the last 7 days.",
        )
    if value > now + MAX_AHEAD_SECONDS:
        raise _refuse(
            index, "Event Timestamp In The Future", "event_time is in the future (milliseconds?)"
        )


def _check_crm(index: int, source: Any, user_data: Json, custom: Json) -> None:
    """Conversion Leads' required fields (CAPI-CRM)."""
    if source != "system_generated":
        raise _refuse(index, "Invalid action_source", "CRM events use system_generated")
    lead_id = user_data.get("lead_id")
    if isinstance(lead_id, bool) or not (
        (isinstance(lead_id, int) and lead_id > 0)
        or (isinstance(lead_id, str) and lead_id.isdigit())
    ):
        raise _refuse(
            index, "Invalid lead_id", "user_data.lead_id must be the leadgen id, unhashed"
        )
    if custom.get("event_source") != "crm":
        raise _refuse(index, "Missing event_source", "custom_data.event_source must be crm")
    lead_source = custom.get("lead_event_source")
    if not isinstance(lead_source, str) or not lead_source:
        raise _refuse(
            index, "Missing lead_event_source", "custom_data.lead_event_source is required"
        )

"""GA4's Measurement Protocol limits, checked before sending (API-NOTES §2-§4): `/mp/collect`
answers 2xx to everything and silently drops what breaks them, so an event that would be dropped
is refused here, visibly. And the requests a batch needs: one `client_id` per request, at most
25 events and under 130 kB each."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

MAX_EVENTS_PER_REQUEST = 25
MAX_PARAMS_PER_EVENT = 25
MAX_NAME_LENGTH = 40
MAX_VALUE_LENGTH = 100
MAX_BODY_BYTES = 130_000
"""A request's body must stay under 130 kB: at most this many bytes minus one."""
MAX_BACKDATE = timedelta(hours=72)

# The few parameters GA4 lets carry longer strings.
_LONG_VALUES = {"page_title": 300, "page_referrer": 420, "page_location": 1000}

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_CURRENCY = re.compile(r"[A-Z]{3}")

RESERVED_EVENT_NAMES = frozenset(
    {
        # The Measurement Protocol's list (MP-REF).
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_impression",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_background",
        "app_clear_data",
        "app_exception",
        "app_install",
        "app_remove",
        "app_store_refund",
        "app_store_subscription_cancel",
        "app_store_subscription_convert",
        "app_store_subscription_renew",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "os_update",
        "screen_view",
        "session_start",
        "user_engagement",
        # The web's automatically collected events (NAMING).
        "click",
        "file_download",
        "form_start",
        "form_submit",
        "page_view",
        "scroll",
        "view_complete",
        "video_progress",
        "video_start",
        "view_search_results",
    }
)
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
RESERVED_PREFIXES = ("google_", "ga_", "firebase_")
# Parameter names must start with a letter anyway, which already refuses `_` and `gtag.`.

MpEvent = Mapping[str, Any]
"""One Measurement Protocol event: ``{"name", "params", "timestamp_micros"}``."""


def name_problem(name: object, *, kind: str) -> str | None:
    """Why `name` cannot be an event's (`kind` "event") or a parameter's name, if it cannot."""
    if not isinstance(name, str) or not name:
        return f"the {kind} has no name"
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"{kind} name {name[:MAX_NAME_LENGTH]!r}… is longer than {MAX_NAME_LENGTH} characters"
        )
    if not _NAME.fullmatch(name):
        return f"{kind} name {name!r} must start with a letter and hold only letters, digits and _"
    if name.startswith(RESERVED_PREFIXES):
        return f"{kind} name {name!r} starts with a reserved prefix"
    reserved = RESERVED_EVENT_NAMES if kind == "event" else RESERVED_PARAM_NAMES
    if name in reserved:
        return f"{kind} name {name!r} is reserved"
    return None


def param_problems(name: str, value: object) -> list[str]:
    problems = [p for p in (name_problem(name, kind="parameter"),) if p]
    if isinstance(value, str):
        limit = _LONG_VALUES.get(name, MAX_VALUE_LENGTH)
        if len(value) > limit:
            problems.append(f"parameter {name!r} is longer than {limit} characters")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"parameter {name!r} must be a string or a number")
    elif not math.isfinite(value):
        problems.append(f"parameter {name!r} must be a finite number")
    return problems


def event_problems(event: MpEvent) -> list[str]:
    """Every rule `event` breaks; empty when GA4 would take it. Never quotes a parameter's value."""
    problems = [p for p in (name_problem(event.get("name"), kind="event"),) if p]
    params = event.get("params", {})
    if not isinstance(params, Mapping):
        return [*problems, "the event's params must be an object"]
    if len(params) > MAX_PARAMS_PER_EVENT:
        problems.append(f"the event has {len(params)} parameters (at most {MAX_PARAMS_PER_EVENT})")
    for name, value in params.items():
        problems.extend(param_problems(name, value))
    if "value" in params and "currency" not in params:
        problems.append("parameter 'value' needs a 'currency'")
    currency = params.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
        problems.append("parameter 'currency' must be a 3-letter ISO 4217 code")
    return problems


def too_old(occurred_at: datetime, now: datetime) -> bool:
    """GA4 takes events backdated by at most 72 hours; older ones are dropped."""
    return now - occurred_at > MAX_BACKDATE


def body_size(body: Mapping[str, Any]) -> int:
    """The bytes of `body` as the HTTP client sends it (`json.dumps` with its default separators)."""
    return len(json.dumps(body).encode())


def chunks(envelope: Mapping[str, Any], events: Sequence[MpEvent]) -> list[list[MpEvent]]:
    """`events` in order, cut into the fewest requests of at most 25 events each whose body
    (`envelope` with the events under ``"events"``) stays under 130 kB. Every event that passes
    `event_problems` fits a request on its own (25 parameters of at most 1000 characters)."""
    base = body_size({**envelope, "events": []})
    requests: list[list[MpEvent]] = []
    current: list[MpEvent] = []
    size = base
    for event in events:
        added = body_size(event) + (2 if current else 0)  # ", " between two events
        if current and (
            len(current) == MAX_EVENTS_PER_REQUEST or size + added > MAX_BODY_BYTES - 1
        ):
            requests.append(current)
            current, size, added = [], base, added - 2
        current.append(event)
        size += added
    if current:
        requests.append(current)
    return requests

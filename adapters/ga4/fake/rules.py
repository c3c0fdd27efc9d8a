"""The validation server's messages (API-NOTES §3, §4, §6), written apart from the service's own
checks on purpose: the fake must not share the client's mistakes."""

from __future__ import annotations

import re
from typing import Any

Message = dict[str, str]

_NAME_CHARS = re.compile(r"[A-Za-z0-9_]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_RESERVED_PREFIXES = ("google_", "ga_", "firebase_")
_RESERVED_EVENTS = frozenset(
    [
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
    ]
)
_RESERVED_PARAMS = frozenset({"firebase_conversion"})
_VALUE_LIMITS = {"page_title": 300, "page_referrer": 420, "page_location": 1000}


def _message(field_path: str, description: str, code: str) -> Message:
    return {"fieldPath": field_path, "description": description, "validationCode": code}


def _name_messages(name: Any, what: str, path: str, reserved: frozenset[str]) -> list[Message]:
    if not isinstance(name, str) or not name:
        return [_message(path, f"{what} has no name.", "VALUE_REQUIRED")]
    if not name[0].isascii() or not name[0].isalpha():
        return [
            _message(
                path,
                f"{what} has invalid name [{name}]. Names must start with an alphabetic character.",
                "NAME_INVALID",
            )
        ]
    if not _NAME_CHARS.fullmatch(name):
        return [
            _message(
                path,
                f"{what} has invalid name [{name}]. Only alphanumeric characters and underscores "
                "are allowed.",
                "NAME_INVALID",
            )
        ]
    if len(name) > 40:
        return [
            _message(
                path,
                f"{what} has name [{name}] which exceeds the maximum length of 40.",
                "NAME_INVALID",
            )
        ]
    if name in reserved or name.startswith(_RESERVED_PREFIXES):
        return [_message(path, f"{what} has name [{name}] which is reserved.", "NAME_RESERVED")]
    return []


def _param_messages(index: int, params: dict[str, Any]) -> list[Message]:
    # A value without a currency gets no message: the notes' example sends one (event 0 of
    # examples/mp-debug-response.json) and the validation server says nothing of it.
    out: list[Message] = []
    if len(params) > 25:
        out.append(
            _message(
                "events.params",
                f"Event at index: [{index}] has more than 25 params.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for name, value in params.items():
        what = f"Param at event index: [{index}]"
        out.extend(_name_messages(name, what, "events.params", _RESERVED_PARAMS))
        limit = _VALUE_LIMITS.get(name, 100)
        if isinstance(value, str) and len(value) > limit:
            out.append(
                _message(
                    f"events.params.{name}",
                    f"Param [{name}] at event index: [{index}] has a value longer than {limit}.",
                    "VALUE_OUT_OF_BOUNDS",
                )
            )
    currency = params.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
        out.append(
            _message(
                "events.params.currency",
                f"Currency param at event index: [{index}] has invalid value [{currency}]. "
                "Currency must be a 3-letter ISO 4217 code.",
                "VALUE_INVALID",
            )
        )
    return out


def validation_messages(body: Any, size: int) -> list[Message]:
    """What `/debug/mp/collect` answers for a request body of `size` bytes."""
    if not isinstance(body, dict):
        return [_message("", "Unable to parse the request body as JSON.", "VALUE_INVALID")]
    out: list[Message] = []
    if size >= 130_000:
        out.append(_message("", "Request body exceeds 130kB.", "VALUE_OUT_OF_BOUNDS"))
    if not body.get("client_id") and not body.get("app_instance_id"):
        out.append(_message("client_id", "Measurement requires a client_id.", "VALUE_REQUIRED"))
    events = body.get("events")
    if not isinstance(events, list) or not events:
        out.append(_message("events", "Measurement requires events.", "VALUE_REQUIRED"))
        return out
    if len(events) > 25:
        out.append(
            _message("events", "Measurement has more than 25 events.", "EXCEEDED_MAX_ENTITIES")
        )
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            out.append(
                _message("events", f"Event at index: [{index}] is not an object.", "VALUE_INVALID")
            )
            continue
        out.extend(
            _name_messages(
                event.get("name"), f"Event at index: [{index}]", "events", _RESERVED_EVENTS
            )
        )
        params = event.get("params", {})
        if isinstance(params, dict):
            out.extend(_param_messages(index, params))
    return out

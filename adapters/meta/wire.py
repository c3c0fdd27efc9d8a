"""Meta's wire values in the platform's terms: ids as exact strings (they arrive as JSON numbers
or strings; 18-digit ad ids exceed a double), and its two time formats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_ID_MAX = 128
_EXACT_FLOAT = 2**53


def exact_id(value: Any) -> str | None:
    """An id as its exact string; None when absent, empty, too long or no longer exact (a float
    past 2^53 has lost digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not value.is_integer() or abs(value) >= _EXACT_FLOAT:
            return None
        text = str(int(value))
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if 0 < len(text) <= _ID_MAX else None


def unix_time(value: Any) -> datetime | None:
    """A webhook's unix seconds (a number or a digit string); None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def graph_time(value: Any) -> datetime | None:
    """The Graph API's ISO-8601 time (``2026-07-29T08:39:50+0000``); None when unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

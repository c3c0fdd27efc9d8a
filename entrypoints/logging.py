"""structlog set-up: JSON lines with request context, and a redaction processor run last."""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Final

import structlog
from structlog.typing import EventDict, Processor

from domain.values import SecretStr

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(
    r"secret|token|passw|api_?key|authorization|credential|private|cookie|signature",
    re.IGNORECASE,
)
_HARMLESS_KEY = re.compile(r"(_fields|_count|_id|_at|_ms|_code)$")
# Bearer tokens, JWTs and GHL Private Integration tokens, wherever they appear in a string.
_SENSITIVE_VALUE = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|pit-[A-Za-z0-9-]{8,}"
)


def _is_sensitive_key(key: object) -> bool:
    return (
        isinstance(key, str) and bool(_SENSITIVE_KEY.search(key)) and not _HARMLESS_KEY.search(key)
    )


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, str):
        return _SENSITIVE_VALUE.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {
            k: REDACTED if _is_sensitive_key(k) else _scrub(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact_secrets(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Mask values under sensitive keys and token-shaped strings anywhere in the event."""
    for key, value in list(event_dict.items()):
        event_dict[key] = REDACTED if _is_sensitive_key(key) else _scrub(value)
    return event_dict


_request_fields: ContextVar[dict[str, Any] | None] = ContextVar("request_fields", default=None)
_CALLERS_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REQUEST_ID_PREFIX = os.urandom(8).hex()
_request_numbers = itertools.count()


def request_id_of(given: str | None) -> str:
    """The caller's request id when it is a sane one, else a new one: 32 hex digits, unique
    across copies (a random prefix per process) without a system call per request. Request ids
    correlate logs; they guard nothing."""
    if given and _CALLERS_REQUEST_ID.fullmatch(given):
        return given
    return f"{_REQUEST_ID_PREFIX}{next(_request_numbers):016x}"


def start_request(**fields: Any) -> dict[str, Any]:
    """Make `fields` the request context of every line logged from now on in this context, in
    place of the previous request's; returns them, for fields learnt later (an error code).
    One context variable set per request, where structlog's contextvars clear and set one per
    field: the webhook ingress pays this on every delivery."""
    _request_fields.set(fields)
    return fields


def request_field(name: str) -> Any:
    """The field `name` of the request context set by `start_request`, None if unset."""
    fields = _request_fields.get()
    return None if fields is None else fields.get(name)


def merge_request_fields(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Add the request context of `start_request` to the event (its own fields win)."""
    fields = _request_fields.get()
    if fields is not None:
        for key, value in fields.items():
            event_dict.setdefault(key, value)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        merge_request_fields,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


_QUIETER_LOGGERS: Final = {
    # aiohttp's access log at INFO halves the webhook ceiling (docs/performance.md); requests
    # are logged once, as structured lines, by the apps themselves.
    "aiohttp.access": logging.WARNING,
    # The database layers log statements with their parameter values at DEBUG (SQLAlchemy's
    # echo at INFO): contacts' names, emails and phones. Kept above, whatever LOG_LEVEL says.
    "sqlalchemy": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "asyncpg": logging.WARNING,
    "alembic.runtime.plugins": logging.WARNING,
}


def configure_logging(*, level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and route the standard library's loggers (aiohttp, grpc, sqlalchemy)
    through the same processors, so every line is JSON and redacted. Idempotent."""
    render_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if render_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name, floor in _QUIETER_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, root.level))

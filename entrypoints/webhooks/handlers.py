"""The webhook endpoints: read the raw body, hand it to ReceiveWebhook, answer once it is stored.
Errors become AIP-193 bodies; anything that could lose a delivery becomes a 429 (the only status
GHL retries), never a 5xx."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, Final

import structlog
from aiohttp import web

from application.webhooks import ReceiveWebhook, ReceiveWebhookCommand, ReceiveWebhookResult
from domain.errors import DomainError, ErrorCode
from entrypoints.logging import request_id_of, start_request
from entrypoints.webhooks.metrics import IngressMeter

RECEIVE_WEBHOOK: Final = web.AppKey("receive_webhook", ReceiveWebhook)
RETRY_AFTER_SECONDS: Final = web.AppKey("retry_after_seconds", int)
RECEIVE_RESULT: Final = web.RequestKey("receive_result", ReceiveWebhookResult)
"""What a stored (or duplicate) delivery came to, for the middleware's log line and metrics."""
ERROR_CODE: Final = web.ResponseKey("error_code", str)
"""The reason of an error answer, for the log line."""

ERROR_DOMAIN = "integrations"
REQUEST_ID_HEADER = "X-Request-Id"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_REQUEST_INFO = "type.googleapis.com/google.rpc.RequestInfo"
_INTERNAL_REASON = "INTERNAL"

# DESIGN.md §5's webhook column: reason -> (HTTP status, canonical google.rpc.Code name).
# Every other failure is answered 429: the sender keeps the delivery and retries it.
HTTP_ERRORS: Mapping[ErrorCode, tuple[int, str]] = {
    ErrorCode.INVALID_ARGUMENT: (400, "INVALID_ARGUMENT"),
    ErrorCode.WEBHOOK_SIGNATURE_INVALID: (401, "UNAUTHENTICATED"),
    ErrorCode.NOT_FOUND: (404, "NOT_FOUND"),
    ErrorCode.INTEGRATION_NOT_ACTIVE: (409, "FAILED_PRECONDITION"),
    ErrorCode.RATE_LIMIT_EXCEEDED: (429, "RESOURCE_EXHAUSTED"),
    ErrorCode.STORAGE_UNAVAILABLE: (429, "UNAVAILABLE"),
}

log = structlog.get_logger("entrypoints.webhooks")
_logger = logging.getLogger("entrypoints.webhooks")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def receive_webhook(request: web.Request) -> web.Response:
    """``POST /webhooks/ghl`` and ``POST /webhooks/ghl/{eventType}``."""
    body = await request.read()  # beyond the app's client_max_size: HTTPRequestEntityTooLarge
    result = await request.app[RECEIVE_WEBHOOK].execute(
        ReceiveWebhookCommand(
            # Headers are looked up case-insensitively: the verifiers read a few by name.
            body=body,
            headers=request.headers,
            route_event=request.match_info.get("eventType"),
        )
    )
    request[RECEIVE_RESULT] = result
    # Every delivery is answered this way: the body is written out rather than serialized.
    answer = _DUPLICATE if result.duplicate else _ACCEPTED
    return web.Response(
        body=answer + encode_basestring_ascii(result.delivery_id).encode() + b"}",
        content_type="application/json",
    )


_ACCEPTED = b'{"status": "accepted", "deliveryId": '
_DUPLICATE = b'{"status": "duplicate", "deliveryId": '


def served(
    handler: Handler, *, route: str | None = None, meter: IngressMeter | None = None
) -> Handler:
    """`handler` as the webhook app serves every route (`route` is its path pattern, for the
    log; None logs the request's path): one log line per request (never its body or signatures), every failure as an error
    body (domain errors by DESIGN.md §5, aiohttp's own by their status, anything else 429 with
    Retry-After and its traceback logged), and, with a `meter`, each delivery counted once.

    A wrapper per route rather than an aiohttp middleware: with any middleware, aiohttp runs
    every request through two more coroutines (its own `_fix_request_current_app` and ours),
    about a tenth of a delivery's cost (docs/performance.md). Paths and methods no route
    serves reach `unrouted`, registered last."""

    async def serve(request: web.Request) -> web.StreamResponse:
        request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
        context = start_request(
            request_id=request_id, method=request.method, route=route or request.path
        )
        started = time.perf_counter()
        response: web.StreamResponse
        try:
            response = await handler(request)
        except DomainError as err:
            if meter is not None:
                await meter.refused(request, err, time.perf_counter() - started)
            response = _domain_error(request, err, request_id)
        except web.HTTPException as err:
            if meter is not None:
                meter.failed(err, time.perf_counter() - started)
            response = _http_error(err, request_id)
        except Exception as err:
            if meter is not None:
                meter.failed(err, time.perf_counter() - started)
            log.error("webhook_unexpected_error", error_type=type(err).__name__, exc_info=err)
            response = _retry_later(request, request_id, "the delivery could not be stored, retry")
        else:
            if meter is not None:
                meter.answered(request.get(RECEIVE_RESULT), time.perf_counter() - started)
        response.headers[REQUEST_ID_HEADER] = request_id
        # Refusals are logged at INFO; a stored delivery only at DEBUG: a log line costs as
        # much as the rest of the request (docs/performance.md), and the metrics count them.
        level = logging.INFO if response.status >= 300 else logging.DEBUG
        if _logger.isEnabledFor(level):
            log.log(
                level,
                "webhook_request",
                status=response.status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **context,
                **_outcome(request.get(RECEIVE_RESULT), response.get(ERROR_CODE)),
            )
        return response

    return serve


async def unrouted(request: web.Request) -> web.StreamResponse:
    """What no route serves: 405 with ``Allow`` when another method is served on the path,
    else 404 (served under ``/{path:.*}``, after every other route)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not request.match_info.route.resource:
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


def _outcome(result: ReceiveWebhookResult | None, error_code: str | None) -> dict[str, Any]:
    if result is None:
        return {} if error_code is None else {"error_code": error_code}
    return {
        "integration_id": result.integration_id,
        "webhook_delivery_id": result.id,
        "kind": result.kind.value,
        "duplicate": result.duplicate,
    }


def _domain_error(request: web.Request, err: DomainError, request_id: str) -> web.Response:
    mapped = HTTP_ERRORS.get(err.code)
    if mapped is None:
        log.error("webhook_unmapped_error", error_code=err.code.value)
        return _retry_later(request, request_id, "the delivery could not be stored, retry")
    http_status, status = mapped
    headers = {"Retry-After": str(request.app[RETRY_AFTER_SECONDS])} if http_status == 429 else None
    return error_response(
        http_status, status, err.code.value, err.message, request_id, err.metadata, headers
    )


def _http_error(err: web.HTTPException, request_id: str) -> web.Response:
    if err.status == 404:
        status, reason = "NOT_FOUND", ErrorCode.NOT_FOUND.value
    else:
        status, reason = "INVALID_ARGUMENT", ErrorCode.INVALID_ARGUMENT.value
    allow = err.headers.get("Allow")
    return error_response(
        err.status,
        status,
        reason,
        err.reason,
        request_id,
        {},
        {"Allow": allow} if allow else None,
    )


def _retry_later(request: web.Request, request_id: str, message: str) -> web.Response:
    return error_response(
        429,
        "UNAVAILABLE",
        _INTERNAL_REASON,
        message,
        request_id,
        {},
        {"Retry-After": str(request.app[RETRY_AFTER_SECONDS])},
    )


def error_response(
    http_status: int,
    status: str,
    reason: str,
    message: str,
    request_id: str,
    metadata: Mapping[str, str],
    headers: Mapping[str, str] | None,
) -> web.Response:
    """An AIP-193 error body: ``{"error": {"code", "message", "status", "details"}}``."""
    details: list[dict[str, Any]] = [
        {
            "@type": _ERROR_INFO,
            "reason": reason,
            "domain": ERROR_DOMAIN,
            "metadata": dict(metadata),
        },
        {"@type": _REQUEST_INFO, "requestId": request_id},
    ]
    response = web.json_response(
        {"error": {"code": http_status, "message": message, "status": status, "details": details}},
        status=http_status,
        headers=headers,
    )
    response[ERROR_CODE] = reason
    return response

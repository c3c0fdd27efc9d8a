"""The webhook endpoints: read the raw body, hand it to ReceiveWebhook, answer once it is stored.
Errors become AIP-193 bodies; anything that could lose a delivery becomes a 429 (the only status
GHL retries), never a 5xx."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp.hdrs import CONTENT_TYPE

from application.ports import WebhookHandshake
from application.webhooks import ReceiveWebhook, ReceiveWebhookCommand, ReceiveWebhookResult
from domain.errors import DomainError, ErrorCode
from entrypoints.in_flight import InFlight
from entrypoints.logging import request_id_of, start_request
from entrypoints.webhooks.metrics import IngressMeter

RETRY_AFTER_SECONDS: Final = web.AppKey("retry_after_seconds", int)
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


def webhook_route(
    receive: ReceiveWebhook,
    *,
    route: str,
    body_timeout: float,
    meter: IngressMeter | None = None,
    in_flight: InFlight | None = None,
) -> Handler:
    """``POST /webhooks/ghl`` and ``POST /webhooks/ghl/{eventType}`` (`route`): the body, as
    read, to `receive`, answered once it is stored; a body still incomplete `body_timeout`
    seconds after the handler starts is answered 408; in `in_flight` until its outcome is known.
    Served as `served` serves the other routes, written out in one coroutine because every
    delivery takes it: each layer of coroutines costs every delivery its frames
    (docs/performance.md)."""
    deliveries = in_flight or InFlight()

    async def receive_webhook(request: web.Request) -> web.Response:
        request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
        context = start_request(request_id=request_id, method=request.method, route=route)
        started = time.perf_counter()
        deliveries.started()
        try:
            # Beyond the app's client_max_size, read() raises HTTPRequestEntityTooLarge.
            if request.content.is_eof():  # all there already, as nearly always: no timer
                body = await request.read()
            else:
                body = await _read_within(request, body_timeout)
            result = await receive.execute(
                ReceiveWebhookCommand(
                    # Looked up case-insensitively: the verifiers read a few headers by name.
                    body=body,
                    headers=request.headers,
                    route_event=request.match_info.get("eventType"),
                )
            )
        except Exception as err:
            return await _failed(request, err, request_id, context, started, meter)
        finally:
            deliveries.finished()
        if meter is not None:
            meter.answered(result, time.perf_counter() - started)
        # Every delivery is answered this way: the body is written out rather than serialized.
        answer = _DUPLICATE if result.duplicate else _ACCEPTED
        response = web.Response(
            body=answer + encode_basestring_ascii(result.delivery_id).encode() + b"}",
            headers={CONTENT_TYPE: _JSON, REQUEST_ID_HEADER: request_id},
        )
        # A stored delivery is logged only at DEBUG: a log line costs as much as the rest of
        # the request (docs/performance.md), and the metrics count them.
        if _logger.isEnabledFor(logging.DEBUG):
            _log_request(logging.DEBUG, response, context, started, _outcome(result))
        return response

    return receive_webhook


def handshake_route(handshake: WebhookHandshake) -> Handler:
    """``GET /webhooks/{sender}``: the sender's check of the endpoint before it sends to it. The
    challenge is answered verbatim as plain text when the check's token is the platform's, else
    403 (the query, which carries the token, is never logged)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        body = handshake.answer(request.query)
        if body is None:
            return error_response(
                403,
                "PERMISSION_DENIED",
                ErrorCode.WEBHOOK_SIGNATURE_INVALID.value,
                "the subscription check does not carry this endpoint's verify token",
                request_id_of(request.headers.get(REQUEST_ID_HEADER)),
                {},
                None,
            )
        return web.Response(text=body, content_type="text/plain")

    return answer


async def _read_within(request: web.Request, seconds: float) -> bytes:
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            reason=f"the body did not arrive within {seconds:g} s"
        ) from None


_ACCEPTED = b'{"status": "accepted", "deliveryId": '
_DUPLICATE = b'{"status": "duplicate", "deliveryId": '
_JSON = "application/json"


def served(handler: Handler, *, route: str | None = None) -> Handler:
    """`handler` as the webhook app serves its other routes (`route` is its path pattern, for
    the log; None logs the request's path): one log line per request, every failure as an
    error body (`_failed`), the request id sent back.

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
        try:
            response = await handler(request)
        except Exception as err:
            return await _failed(request, err, request_id, context, started, None)
        response.headers[REQUEST_ID_HEADER] = request_id
        level = logging.INFO if response.status >= 300 else logging.DEBUG
        if _logger.isEnabledFor(level):
            _log_request(level, response, context, started, {})
        return response

    return serve


async def _failed(
    request: web.Request,
    err: Exception,
    request_id: str,
    context: Mapping[str, Any],
    started: float,
    meter: IngressMeter | None,
) -> web.Response:
    """The answer to a request that failed with `err`: domain errors by DESIGN.md §5, aiohttp's
    own (a body too large or too slow, an unknown route) by their status, a client gone before
    its request was read as 499 (never sent: the line says what happened), anything else 429
    with Retry-After and its traceback logged; counted by `meter` (the webhook routes') and
    logged at INFO."""
    if isinstance(err, ConnectionError):
        response = error_response(
            499, "CANCELLED", "CANCELLED", "the client went away", request_id, {}, None
        )
    elif isinstance(err, DomainError):
        if meter is not None:
            await meter.refused(request, err, time.perf_counter() - started)
        response = _domain_error(request, err, request_id)
    elif isinstance(err, web.HTTPException):
        if meter is not None:
            meter.failed(err, time.perf_counter() - started)
        response = _http_error(err, request_id)
    else:
        if meter is not None:
            meter.failed(err, time.perf_counter() - started)
        log.error("webhook_unexpected_error", error_type=type(err).__name__, exc_info=err)
        response = _retry_later(request, request_id, "the delivery could not be stored, retry")
    response.headers[REQUEST_ID_HEADER] = request_id
    if _logger.isEnabledFor(logging.INFO):
        _log_request(logging.INFO, response, context, started, {"error_code": response[ERROR_CODE]})
    return response


def _log_request(
    level: int,
    response: web.StreamResponse,
    context: Mapping[str, Any],
    started: float,
    outcome: Mapping[str, Any],
) -> None:
    """The request's one log line (never its body or signatures)."""
    log.log(
        level,
        "webhook_request",
        status=response.status,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        **context,
        **outcome,
    )


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


def _outcome(result: ReceiveWebhookResult) -> dict[str, Any]:
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
    response = error_response(
        err.status,
        status,
        reason,
        err.reason,
        request_id,
        {},
        {"Allow": allow} if allow else None,
    )
    if err.status == 408:
        # Closed rather than left to aiohttp, which would go on reading the slow body.
        response.force_close()
    return response


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

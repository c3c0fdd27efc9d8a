"""The webhook port's connections: what aiohttp's HTTP parser refuses (a line or header too
long, too many headers, bytes that are not HTTP) is answered with the service's error body and
logged as one line, instead of aiohttp's plain text and traceback."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_request import BaseRequest

from entrypoints.logging import request_id_of
from entrypoints.webhooks.handlers import REQUEST_ID_HEADER, error_response

log = structlog.get_logger("entrypoints.webhooks")

_UNREADABLE = (
    "the request could not be read: its line or a header is too long, it has too many "
    "headers, or it is not HTTP/1.1"
)


class _Connection(web.RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request no route saw: one the parser refused (400), or whose handler
        failed outside the routes' own error handling (5xx). It closes the connection."""
        if request.writer.output_size > 0:
            # As aiohttp does: part of another answer is out, the connection is broken.
            raise ConnectionError("an answer is already being sent")
        request_id = request_id_of(None)
        if status < 500:
            # Never the parser's message: it may quote the request's bytes.
            error_type = None if exc is None else type(exc).__name__
            log.info("webhook_request_unreadable", status=status, error_type=error_type)
            response = error_response(
                status, "INVALID_ARGUMENT", "INVALID_ARGUMENT", _UNREADABLE, request_id, {}, None
            )
        else:
            log.error("webhook_request_failed", status=status, exc_info=exc)
            response = error_response(
                status, "INTERNAL", "INTERNAL", "internal error", request_id, {}, None
            )
        response.headers[REQUEST_ID_HEADER] = request_id
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> web.RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


class WebhookRunner(web.AppRunner):
    """An AppRunner whose connections answer as `_Connection` does."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        kwargs: dict[str, Any] = made._kwargs
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            **kwargs,
        )

"""The webhook app factory, and starting and stopping it on a port."""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence

from aiohttp import web

from application.ports import WebhookHandshake
from application.use_cases.complete_connection import CompleteConnection
from application.webhooks import ReceiveWebhook
from entrypoints.in_flight import InFlight
from entrypoints.listening import PortInUseError, cannot_listen
from entrypoints.webhooks.connections import WebhookRunner
from entrypoints.webhooks.handlers import (
    RETRY_AFTER_SECONDS,
    handshake_route,
    served,
    unrouted,
    webhook_route,
)
from entrypoints.webhooks.metrics import IngressMeter
from entrypoints.webhooks.oauth_callback import callback_route
from entrypoints.webhooks.ops import Operations, install_operations

MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RETRY_AFTER_SECONDS = 60
DEFAULT_HEADER_TIMEOUT_SECONDS = 75.0
DEFAULT_BODY_TIMEOUT_SECONDS = 30.0


def create_webhook_app(
    receivers: Sequence[ReceiveWebhook],
    *,
    handshakes: Mapping[str, WebhookHandshake] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS,
    body_timeout_seconds: float = DEFAULT_BODY_TIMEOUT_SECONDS,
    operations: Operations | None = None,
    in_flight: InFlight | None = None,
    connect: CompleteConnection | None = None,
    connect_providers: Sequence[str] = (),
) -> web.Application:
    """For each provider of `receivers`: ``POST /webhooks/{sender}`` (the event named in the
    body) and ``POST /webhooks/{sender}/{eventType}`` (the event named by the route: GHL's seed
    routes), and ``GET /webhooks/{sender}`` for a sender in `handshakes` (its subscription
    check); ``GET /oauth/{provider}/callback`` for each of `connect_providers` (the end of
    a sign-in, completed by `connect`). Bodies over `max_body_bytes` are
    refused with 413, bodies not received within `body_timeout_seconds` with 408.
    `retry_after_seconds` is sent with every 429. With `operations`, also
    ``GET /metrics``, ``/healthz`` and ``/readyz``, and the deliveries are counted. Deliveries
    count in `in_flight` while they are served."""
    app = web.Application(client_max_size=max_body_bytes)
    app[RETRY_AFTER_SECONDS] = retry_after_seconds
    for receive in receivers:
        meter = (
            None if operations is None else IngressMeter(operations.ingress, sender=receive.sender)
        )
        base = f"/webhooks/{receive.sender}"
        for route in (base, base + "/{eventType}"):
            app.router.add_post(
                route,
                webhook_route(
                    receive,
                    route=route,
                    meter=meter,
                    body_timeout=body_timeout_seconds,
                    in_flight=in_flight,
                ),
            )
    for sender, handshake in (handshakes or {}).items():
        route = f"/webhooks/{sender}"
        app.router.add_get(route, served(handshake_route(handshake), route=route))
    if connect is not None:
        for provider in connect_providers:
            route = f"/oauth/{provider}/callback"
            app.router.add_get(route, served(callback_route(connect, provider), route=route))
    if operations is not None:
        install_operations(app, operations)
    # Last: the router tries a path's more specific resources first, and this one matches any.
    app.router.add_route("*", "/{path:.*}", served(unrouted))
    return app


async def start_webhook_server(
    app: web.Application,
    *,
    host: str,
    port: int,
    grace_seconds: float = 10.0,
    header_timeout_seconds: float = DEFAULT_HEADER_TIMEOUT_SECONDS,
    reuse_port: bool = False,
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0 picks a free port); returns the runner and the bound port.
    Each route logs its requests, so aiohttp's access log is off (it halves throughput).

    A connection is closed when a request's line and headers have not all arrived within
    `header_timeout_seconds` of its opening or of its previous answer (aiohttp's keep-alive
    timer, which covers both): slow or idle clients cannot hold connections. A port in use is
    a PortInUseError, unless `reuse_port` lets several processes share it (SO_REUSEPORT)."""
    runner = WebhookRunner(
        app,
        access_log=None,
        shutdown_timeout=grace_seconds,
        keepalive_timeout=header_timeout_seconds,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        if err.errno == errno.EADDRINUSE:
            raise PortInUseError("webhooks", host, port) from None
        raise cannot_listen("webhooks", host, port, err) from None
    bound = runner.addresses[0][1]
    return runner, int(bound)


async def stop_webhook_server(runner: web.AppRunner) -> None:
    """Stop accepting connections, let requests in flight finish (within the runner's grace),
    then close: a delivery being stored is answered before the process exits."""
    await runner.cleanup()

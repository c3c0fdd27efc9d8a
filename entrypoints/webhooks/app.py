"""The webhook app factory, and starting and stopping it on a port."""

from __future__ import annotations

from aiohttp import web

from application.webhooks import ReceiveWebhook
from entrypoints.in_flight import InFlight
from entrypoints.webhooks.handlers import RETRY_AFTER_SECONDS, served, unrouted, webhook_route
from entrypoints.webhooks.metrics import IngressMeter
from entrypoints.webhooks.ops import Operations, install_operations

MAX_BODY_BYTES = 1024 * 1024
DEFAULT_RETRY_AFTER_SECONDS = 60


def create_webhook_app(
    receive: ReceiveWebhook,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS,
    operations: Operations | None = None,
    in_flight: InFlight | None = None,
) -> web.Application:
    """``POST /webhooks/ghl`` (GHL's marketplace format, the event in the body's ``type``) and
    ``POST /webhooks/ghl/{eventType}`` (the seed's routes); bodies over `max_body_bytes` are
    refused with 413. `retry_after_seconds` is sent with every 429. With `operations`, also
    ``GET /metrics``, ``/healthz`` and ``/readyz``, and the deliveries are counted. Deliveries
    count in `in_flight` while they are served."""
    meter = None if operations is None else IngressMeter(operations.ingress)
    app = web.Application(client_max_size=max_body_bytes)
    app[RETRY_AFTER_SECONDS] = retry_after_seconds
    for route in ("/webhooks/ghl", "/webhooks/ghl/{eventType}"):
        app.router.add_post(
            route, webhook_route(receive, route=route, meter=meter, in_flight=in_flight)
        )
    if operations is not None:
        install_operations(app, operations)
    # Last: the router tries a path's more specific resources first, and this one matches any.
    app.router.add_route("*", "/{path:.*}", served(unrouted))
    return app


async def start_webhook_server(
    app: web.Application, *, host: str, port: int, grace_seconds: float = 10.0
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0 picks a free port); returns the runner and the bound port.
    Each route logs its requests, so aiohttp's access log is off (it halves throughput)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=grace_seconds)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return runner, int(bound)


async def stop_webhook_server(runner: web.AppRunner) -> None:
    """Stop accepting connections, let requests in flight finish (within the runner's grace),
    then close: a delivery being stored is answered before the process exits."""
    await runner.cleanup()

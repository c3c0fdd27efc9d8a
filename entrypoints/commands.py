"""What the CLI's commands do, as plain async functions (the CLI only parses arguments)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import inspect
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import structlog

from adapters.persistence.directory import import_directory_file
from adapters.persistence.migrate import upgrade
from application.use_cases.rotate_data_keys import RotateDataKeysCommand
from entrypoints.config import Settings
from entrypoints.container import Container
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.in_flight import InFlight
from entrypoints.webhooks.app import (
    create_webhook_app,
    start_webhook_server,
    stop_webhook_server,
)
from entrypoints.webhooks.ops import Readiness
from entrypoints.worker.funnel_worker import FunnelWorker
from entrypoints.worker.inbox_worker import InboxWorker
from entrypoints.worker.replies import ReplySender
from entrypoints.worker.sync_scheduler import SyncScheduler

if TYPE_CHECKING:
    from entrypoints.tracing import Tracing

log = structlog.get_logger(__name__)
T = TypeVar("T")
PARTS = ("grpc", "webhooks", "worker")
"""What `serve` runs, all of them by default (`--only` picks one)."""


async def resolve(provider: Callable[[], T | Awaitable[T]]) -> T:
    """A provider's object. Providers that depend on an async Resource (the engine) return an
    awaitable even after the resources are initialised; the others return the object."""
    value = provider()
    if inspect.isawaitable(value):
        return cast("T", await value)
    return value


@asynccontextmanager
async def running_container(settings: Settings) -> AsyncIterator[Container]:
    container = Container(settings=settings)
    await container.init_resources()  # type: ignore[misc]
    try:
        yield container
    finally:
        await container.shutdown_resources()  # type: ignore[misc]


async def migrate(settings: Settings) -> int:
    await upgrade(settings.database_url)
    async with running_container(settings) as container:
        created = await (await resolve(container.seed_templates)).execute()
    log.info("migrated", seeded_templates=created)
    return 0


async def serve(settings: Settings, *, only: str | None = None) -> int:
    """Run until SIGINT or SIGTERM, then shut down gracefully; traced when the OTEL_*
    variables ask for it (docs/deployment.md)."""
    if not settings.trace_exporters:
        return await _serve(settings, only=only, tracing=None)
    # Loaded only now: before the servers, HTTP sessions and engine it instruments are made.
    from entrypoints.tracing import start_tracing

    tracing = start_tracing(settings.trace_exporters)
    try:
        return await _serve(settings, only=only, tracing=tracing)
    finally:
        await asyncio.to_thread(tracing.shutdown)


async def _serve(settings: Settings, *, only: str | None, tracing: Tracing | None) -> int:
    if settings.dev_secrets_file is not None:
        log.warning("dev_secrets_in_use", path=str(settings.dev_secrets_file))
    if settings.is_embedded_database:
        # The embedded default migrates itself; a shared database is migrated once, by
        # `integrations migrate`, before the copies start.
        await upgrade(settings.database_url)
    async with running_container(settings) as container:
        if tracing is not None:
            tracing.trace_engine(await resolve(container.engine))
        await (await resolve(container.seed_templates)).execute()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        parts = set(PARTS) if only is None else {only}
        serving: dict[str, str] = {}
        readiness = await resolve(container.readiness)
        in_flight = container.in_flight()
        # Parts stop in the reverse order they started: the webhook app first (deliveries in
        # flight are answered), then gRPC, then the worker (it finishes the delivery in hand and
        # hands back the rest of its batch). A part that fails to start stops those before it.
        async with contextlib.AsyncExitStack() as running:
            if "worker" in parts:
                worker = await resolve(container.inbox_worker)
                running.push_async_callback(_stop_worker, worker, asyncio.create_task(worker.run()))
                replies = await resolve(container.reply_sender)
                running.push_async_callback(
                    _stop_worker, replies, asyncio.create_task(replies.run())
                )
                funnel = await resolve(container.funnel_worker)
                running.push_async_callback(_stop_worker, funnel, asyncio.create_task(funnel.run()))
                scheduler = await resolve(container.sync_scheduler)
                running.push_async_callback(
                    _stop_worker, scheduler, asyncio.create_task(scheduler.run())
                )
                serving["worker"] = "the inbox worker, the funnel worker and the sync scheduler"
            if "grpc" in parts:
                server, port = await start_server(
                    await resolve(container.grpc_use_cases),
                    container.authenticator(),
                    page_token_key=settings.page_token_key,
                    host=settings.grpc_host,
                    port=settings.grpc_port,
                    webhook_use_cases=await resolve(container.webhook_use_cases),
                    lead_use_cases=await resolve(container.lead_use_cases),
                    directory_use_cases=await resolve(container.directory_use_cases),
                    stream_events=await resolve(container.stream_events),
                    readiness=readiness,
                    in_flight=in_flight,
                    reuse_port=settings.reuse_port,
                    tls=settings.grpc_tls,
                    certificates=settings.grpc_client_identities,
                    connection_use_cases=await resolve(container.connection_use_cases),
                )
                running.push_async_callback(stop_server, server, settings.grpc_grace_seconds)
                log.info(
                    "grpc_serving",
                    host=settings.grpc_host,
                    port=port,
                    transport=settings.grpc_transport,
                )
                serving["grpc"] = f"gRPC on {settings.grpc_host}:{port} ({settings.grpc_transport})"
            if "webhooks" in parts:
                runner, webhook_port = await start_webhook_server(
                    create_webhook_app(
                        await resolve(container.receive_webhooks),
                        handshakes=await resolve(container.webhook_handshakes),
                        retry_after_seconds=settings.webhook_retry_after_seconds,
                        body_timeout_seconds=settings.webhook_body_timeout_seconds,
                        operations=await resolve(container.operations),
                        in_flight=in_flight,
                        connect=await resolve(container.complete_connection),
                        connect_providers=await resolve(container.connect_providers),
                    ),
                    host=settings.webhook_host,
                    port=settings.webhook_port,
                    grace_seconds=settings.grpc_grace_seconds,
                    header_timeout_seconds=settings.webhook_header_timeout_seconds,
                    reuse_port=settings.reuse_port,
                )
                running.push_async_callback(stop_webhook_server, runner)
                log.info("webhooks_serving", host=settings.webhook_host, port=webhook_port)
                serving["webhooks"] = f"webhooks on http://{settings.webhook_host}:{webhook_port}"
            print(
                f"integrations: {', '.join(serving[p] for p in PARTS if p in serving)}. "
                "Get a token with "
                "`.venv/bin/integrations token --role admin`; Ctrl-C stops.",
                flush=True,
            )
            _freeze_startup_objects()
            await stop.wait()
            await _drain(readiness, in_flight, settings.grpc_grace_seconds)
    return 0


DRAIN_NOTICE_SECONDS = 1.0
"""How long a copy that is shutting down answers as draining at least."""


async def _drain(readiness: Readiness, in_flight: InFlight, grace: float) -> None:
    """Report draining (/readyz 503, gRPC health NOT_SERVING) while the listeners stay open, for
    `DRAIN_NOTICE_SECONDS` at least and until the requests in flight are answered, or `grace`
    seconds pass: a balancer probing the
    copy meanwhile hears that it is leaving rather than finds it gone. The parts stop after."""
    log.info("shutting_down", requests_in_flight=in_flight.count)
    readiness.drain()
    try:
        async with asyncio.timeout(grace):
            # Even with nothing in flight: the health service's watchers and the probes hear
            # NOT_SERVING before the listeners close, instead of a cancelled call.
            await asyncio.sleep(min(DRAIN_NOTICE_SECONDS, grace))
            await in_flight.idle()
    except TimeoutError:
        log.warning("drain_grace_expired", requests_in_flight=in_flight.count)


def _freeze_startup_objects() -> None:
    """Move everything built at startup (modules, the container, SQLAlchemy's and gRPC's
    machinery) out of the garbage collector's sight: a full collection then scans only what
    requests allocate, instead of pausing every request for up to ~180 ms
    (docs/performance.md)."""
    gc.collect()
    gc.freeze()


async def _stop_worker(
    worker: InboxWorker | ReplySender | FunnelWorker | SyncScheduler, task: asyncio.Task[None]
) -> None:
    worker.stop()
    await task


async def rotate_keys(settings: Settings, *, data_keys: bool) -> int:
    async with running_container(settings) as container:
        rewrapped = await (await resolve(container.key_manager)).rewrap_all()
        log.info("data_keys_rewrapped", count=rewrapped)
        print(f"re-wrapped {rewrapped} data key(s) under the newest master key")
        if data_keys:
            result = await (await resolve(container.rotate_data_keys)).execute(
                RotateDataKeysCommand()
            )
            log.info("data_keys_rotated", **dataclasses.asdict(result))
            print(
                f"rotated the data keys of {result.sub_accounts} sub-account(s): "
                f"{result.secrets_reencrypted} secret(s) re-encrypted, {result.keys_deleted} old "
                f"key(s) deleted, {result.secrets_skipped} skipped (their old keys are kept)"
            )
    return 0


async def shred_keys(settings: Settings, sub_account_id: str) -> int:
    async with running_container(settings) as container:
        count = await (await resolve(container.key_manager)).shred(sub_account_id)
    log.warning("sub_account_shredded", sub_account_id=sub_account_id, keys=count)
    print(f"deleted {count} data key(s) of {sub_account_id}; its secrets are now unreadable")
    return 0


async def import_directory(settings: Settings, path: Path) -> int:
    async with running_container(settings) as container:
        summary = await import_directory_file(await resolve(container.tenant_directory), path)
    print(f"imported {summary.sub_accounts} sub-account(s) and {summary.users} user(s)")
    return 0

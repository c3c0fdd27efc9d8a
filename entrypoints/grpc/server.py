"""The grpc.aio server: IntegrationService behind the interceptors, health and reflection."""

from __future__ import annotations

import asyncio
import weakref

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from application.use_cases.stream_events import StreamEvents
from entrypoints.auth import CertificateIdentities, JwtAuthenticator
from entrypoints.grpc.connection_servicer import ConnectionServiceServicer, ConnectionUseCases
from entrypoints.grpc.directory_servicer import DirectoryServiceServicer, DirectoryUseCases
from entrypoints.grpc.event_servicer import EventServiceServicer
from entrypoints.grpc.health import DEFAULT_PROBE_INTERVAL, HealthReporter, ReadinessProbe
from entrypoints.grpc.interceptors import ServingInterceptor
from entrypoints.grpc.lead_servicer import LeadServiceServicer, LeadUseCases
from entrypoints.grpc.pagination import PageTokens
from entrypoints.grpc.servicers import GrpcUseCases, IntegrationServiceServicer
from entrypoints.grpc.tls import CertificateFiles, server_credentials
from entrypoints.grpc.webhook_servicer import WebhookServiceServicer, WebhookUseCases
from entrypoints.in_flight import InFlight
from entrypoints.listening import bind_error
from entrypoints.tls_files import TlsFiles
from integrations.v1 import (
    connection_service_pb2,
    connection_service_pb2_grpc,
    directory_service_pb2,
    directory_service_pb2_grpc,
    event_service_pb2,
    event_service_pb2_grpc,
    integration_service_pb2,
    integration_service_pb2_grpc,
    lead_service_pb2,
    lead_service_pb2_grpc,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)

SERVICE_NAME: str = integration_service_pb2.DESCRIPTOR.services_by_name[
    "IntegrationService"
].full_name
WEBHOOK_SERVICE_NAME: str = webhook_service_pb2.DESCRIPTOR.services_by_name[
    "WebhookService"
].full_name
LEAD_SERVICE_NAME: str = lead_service_pb2.DESCRIPTOR.services_by_name["LeadService"].full_name
DIRECTORY_SERVICE_NAME: str = directory_service_pb2.DESCRIPTOR.services_by_name[
    "DirectoryService"
].full_name
CONNECTION_SERVICE_NAME: str = connection_service_pb2.DESCRIPTOR.services_by_name[
    "ConnectionService"
].full_name
EVENT_SERVICE_NAME: str = event_service_pb2.DESCRIPTOR.services_by_name["EventService"].full_name

# Each server's health servicer, so that stop_server can report NOT_SERVING before stopping.
_health: weakref.WeakKeyDictionary[grpc.aio.Server, health.aio.HealthServicer] = (
    weakref.WeakKeyDictionary()
)
# Each server's EventService, so that stop_server can end its streams.
_event_streams: weakref.WeakKeyDictionary[grpc.aio.Server, EventServiceServicer] = (
    weakref.WeakKeyDictionary()
)
# Each server's health reporter task (when started with a readiness probe).
_health_reporters: weakref.WeakKeyDictionary[grpc.aio.Server, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


async def start_server(
    use_cases: GrpcUseCases,
    authenticator: JwtAuthenticator,
    *,
    page_token_key: bytes,
    host: str,
    port: int,
    webhook_use_cases: WebhookUseCases | None = None,
    lead_use_cases: LeadUseCases | None = None,
    directory_use_cases: DirectoryUseCases | None = None,
    stream_events: StreamEvents | None = None,
    readiness: ReadinessProbe | None = None,
    health_probe_interval: float = DEFAULT_PROBE_INTERVAL,
    reuse_port: bool = False,
    in_flight: InFlight | None = None,
    tls: TlsFiles | None = None,
    certificates: CertificateIdentities | None = None,
    connection_use_cases: ConnectionUseCases | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start serving on host:port (port 0 picks a free one); returns the server and its port.
    A port in use is a PortInUseError, unless `reuse_port` lets several processes share it
    (SO_REUSEPORT, which gRPC would otherwise set silently).
    With `readiness`, the health service follows it (HealthReporter): NOT_SERVING while the
    database is unreachable or the copy drains. Unary RPCs count in `in_flight` while they run.
    With `tls`, only TLS is served (TlsFilesError if its files are unusable), its files read again
    when they change; with its client CA, a client certificate is required, and those whose
    identity is among `certificates` may call without a bearer token.

    One interceptor wraps every RPC outside the public services, outermost first: logging (binds
    the request id, logs the outcome), error mapping (turns exceptions into statuses),
    authentication (sets the caller)."""
    credentials = None if tls is None else server_credentials(CertificateFiles(tls))
    server = grpc.aio.server(
        interceptors=[ServingInterceptor(authenticator, in_flight, certificates=certificates)],
        options=[("grpc.so_reuseport", 1 if reuse_port else 0)],
    )
    integration_service_pb2_grpc.add_IntegrationServiceServicer_to_server(
        IntegrationServiceServicer(use_cases, PageTokens(page_token_key)), server
    )
    services = [SERVICE_NAME]
    if webhook_use_cases is not None:
        webhook_service_pb2_grpc.add_WebhookServiceServicer_to_server(
            WebhookServiceServicer(webhook_use_cases, PageTokens(page_token_key)), server
        )
        services.append(WEBHOOK_SERVICE_NAME)
    if lead_use_cases is not None:
        lead_service_pb2_grpc.add_LeadServiceServicer_to_server(
            LeadServiceServicer(lead_use_cases, PageTokens(page_token_key)), server
        )
        services.append(LEAD_SERVICE_NAME)
    if directory_use_cases is not None:
        directory_service_pb2_grpc.add_DirectoryServiceServicer_to_server(
            DirectoryServiceServicer(directory_use_cases), server
        )
        services.append(DIRECTORY_SERVICE_NAME)
    if connection_use_cases is not None:
        connection_service_pb2_grpc.add_ConnectionServiceServicer_to_server(
            ConnectionServiceServicer(connection_use_cases), server
        )
        services.append(CONNECTION_SERVICE_NAME)
    if stream_events is not None:
        events = EventServiceServicer(stream_events)
        event_service_pb2_grpc.add_EventServiceServicer_to_server(events, server)
        services.append(EVENT_SERVICE_NAME)
        _event_streams[server] = events
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        if credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, credentials)
    except RuntimeError:  # gRPC's core logs why; the exception does not say
        bound = 0
    if bound == 0:
        raise bind_error("gRPC", host, port)
    for service in ("", *services):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    await server.start()
    _health[server] = health_servicer
    if readiness is not None:
        reporter = HealthReporter(
            health_servicer, services, readiness, interval=health_probe_interval
        )
        _health_reporters[server] = asyncio.create_task(reporter.run())
    return server, bound


async def stop_server(server: grpc.aio.Server, grace: float | None) -> None:
    """Report NOT_SERVING (so that load balancers stop sending new calls), then stop accepting
    RPCs and give the ones in flight `grace` seconds to finish."""
    reporter = _health_reporters.pop(server, None)
    if reporter is not None:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)
    health_servicer = _health.pop(server, None)
    if health_servicer is not None:
        await health_servicer.enter_graceful_shutdown()
    events = _event_streams.pop(server, None)
    if events is not None:
        events.close()  # open event streams end now rather than hold the grace period up
    await server.stop(grace)

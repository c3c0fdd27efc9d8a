"""The grpc.aio server: IntegrationService behind the interceptors, health and reflection."""

from __future__ import annotations

import weakref

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.interceptors import (
    AuthInterceptor,
    ErrorMappingInterceptor,
    RequestLoggingInterceptor,
)
from entrypoints.grpc.pagination import PageTokens
from entrypoints.grpc.servicers import GrpcUseCases, IntegrationServiceServicer
from entrypoints.grpc.webhook_servicer import WebhookServiceServicer, WebhookUseCases
from integrations.v1 import (
    integration_service_pb2,
    integration_service_pb2_grpc,
    webhook_service_pb2,
    webhook_service_pb2_grpc,
)

SERVICE_NAME: str = integration_service_pb2.DESCRIPTOR.services_by_name[
    "IntegrationService"
].full_name
WEBHOOK_SERVICE_NAME: str = webhook_service_pb2.DESCRIPTOR.services_by_name[
    "WebhookService"
].full_name

# Each server's health servicer, so that stop_server can report NOT_SERVING before stopping.
_health: weakref.WeakKeyDictionary[grpc.aio.Server, health.aio.HealthServicer] = (
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
) -> tuple[grpc.aio.Server, int]:
    """Start serving on host:port (port 0 picks a free one); returns the server and its port.

    Interceptors run outermost first: logging (binds the request id, logs the outcome), error
    mapping (turns exceptions into statuses), authentication (sets the caller)."""
    server = grpc.aio.server(
        interceptors=[
            RequestLoggingInterceptor(),
            ErrorMappingInterceptor(),
            AuthInterceptor(authenticator),
        ]
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
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {address}")
    for service in ("", *services):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    await server.start()
    _health[server] = health_servicer
    return server, bound


async def stop_server(server: grpc.aio.Server, grace: float | None) -> None:
    """Report NOT_SERVING (so that load balancers stop sending new calls), then stop accepting
    RPCs and give the ones in flight `grace` seconds to finish."""
    health_servicer = _health.pop(server, None)
    if health_servicer is not None:
        await health_servicer.enter_graceful_shutdown()
    await server.stop(grace)

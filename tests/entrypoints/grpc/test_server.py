"""The server around the service: health, reflection, shutdown, request logs, the safety net."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from structlog.testing import capture_logs

from application.use_cases.get_integration import GetIntegrationQuery
from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.interceptors import ServingInterceptor
from entrypoints.grpc.server import SERVICE_NAME, start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from entrypoints.listening import PortInUseError
from entrypoints.logging import merge_request_fields
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc
from tests.entrypoints.grpc.conftest import (
    API_KEY,
    JWT_SECRET,
    PAGE_TOKEN_KEY,
    Service,
    admin_md,
    ghl_integration,
    rejected,
    serve,
)
from tests.fakes import FakeProvider, FakeUnitOfWorkFactory

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_reports_serving_without_a_token(service: Service) -> None:
    health = health_pb2_grpc.HealthStub(service.channel)

    overall = await health.Check(health_pb2.HealthCheckRequest(service=""))
    ours = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))

    assert overall.status == ours.status == SERVING


async def test_reflection_lists_and_describes_the_service_without_a_token(
    service: Service,
) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(service.channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME),
    ]

    responses = [r async for r in reflection.ServerReflectionInfo(iter(requests))]

    services = [s.name for s in responses[0].list_services_response.service]
    assert SERVICE_NAME in services
    assert "grpc.health.v1.Health" in services
    assert responses[1].file_descriptor_response.file_descriptor_proto


async def test_stopping_the_server_reports_not_serving_first(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider],
) -> None:
    server, port = await start_server(
        use_cases[0],
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME)
        )
        first = await watch.read()
        stopping = asyncio.create_task(stop_server(server, grace=1.0))
        second = await watch.read()
        await stopping

    assert first.status == SERVING
    assert second.status == NOT_SERVING


async def test_a_port_in_use_is_a_clear_error_unless_sharing_is_asked_for(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider],
) -> None:
    async def started(port: int, *, reuse_port: bool = False) -> tuple[grpc.aio.Server, int]:
        return await start_server(
            use_cases[0],
            JwtAuthenticator(hs256_secret=JWT_SECRET),
            page_token_key=PAGE_TOKEN_KEY,
            host="127.0.0.1",
            port=port,
            reuse_port=reuse_port,
        )

    first, port = await started(0)
    try:
        with pytest.raises(PortInUseError, match=f"gRPC: 127.0.0.1:{port} is already in use"):
            await started(port)
    finally:
        await stop_server(first, grace=None)

    shared, port = await started(0, reuse_port=True)
    try:
        second, again = await started(port, reuse_port=True)
        await stop_server(second, grace=None)
    finally:
        await stop_server(shared, grace=None)
    assert again == port


async def test_each_rpc_is_logged_once_with_its_request_id_and_no_body(service: Service) -> None:
    with capture_logs(processors=[merge_request_fields]) as logs:
        await service.stub.CreateIntegration(
            pb.CreateIntegrationRequest(integration=ghl_integration()),
            metadata=(*admin_md(), ("x-request-id", "req-7f3a")),
        )

    finished = [e for e in logs if e["event"] == "rpc_finished"]
    assert len(finished) == 1
    assert finished[0]["request_id"] == "req-7f3a"
    assert finished[0]["method"] == "/integrations.v1.IntegrationService/CreateIntegration"
    assert finished[0]["code"] == "OK"
    assert finished[0]["role"] == "admin"
    assert isinstance(finished[0]["duration_ms"], float)
    assert API_KEY not in repr(logs)


@pytest.mark.parametrize("given", ["a b; drop", "x" * 129])
async def test_a_request_id_that_is_not_sane_is_replaced(
    service: Service, given: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "entrypoints.grpc")  # a read that succeeds logs at DEBUG
    with capture_logs(processors=[merge_request_fields]) as logs:
        await service.stub.ListIntegrationTemplates(
            pb.ListIntegrationTemplatesRequest(), metadata=(*admin_md(), ("x-request-id", given))
        )

    request_id = logs[-1]["request_id"]
    assert request_id != given
    assert len(request_id) == 32


async def test_an_error_status_carries_the_request_id_and_the_log_line_the_caller(
    service: Service,
) -> None:
    with capture_logs(processors=[merge_request_fields]) as logs:
        rejection = await rejected(
            service.stub.GetIntegration(
                pb.GetIntegrationRequest(name="integrations/missing"),
                metadata=(*admin_md(), ("x-request-id", "req-404")),
            )
        )

    infos = [
        info
        for detail in rejection.status.details
        if detail.Unpack(info := error_details_pb2.RequestInfo())
    ]
    assert rejection.code is grpc.StatusCode.NOT_FOUND
    assert [info.request_id for info in infos] == ["req-404"]
    assert (logs[-1]["request_id"], logs[-1]["code"], logs[-1]["role"]) == (
        "req-404",
        "NOT_FOUND",
        "admin",
    )


class _Exploding:
    async def execute(self, query: GetIntegrationQuery) -> Any:
        raise RuntimeError("connection string postgres://app:hunter2@db failed")


@pytest.fixture
async def broken(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider],
) -> AsyncIterator[integration_service_pb2_grpc.IntegrationServiceAsyncStub]:
    cases = dataclasses.replace(use_cases[0], get_integration=_Exploding())  # type: ignore[arg-type]
    async for channel, _ in serve(cases):
        yield integration_service_pb2_grpc.IntegrationServiceStub(channel)


async def test_an_unexpected_error_is_internal_without_its_text_and_logged_with_traceback(
    broken: integration_service_pb2_grpc.IntegrationServiceAsyncStub,
) -> None:
    with capture_logs(processors=[merge_request_fields]) as logs:
        rejection = await rejected(
            broken.GetIntegration(
                pb.GetIntegrationRequest(name="integrations/x"), metadata=admin_md()
            )
        )

    assert rejection.code is grpc.StatusCode.INTERNAL
    assert rejection.message == "internal error"
    assert rejection.error_info.reason == "INTERNAL"
    assert b"hunter2" not in rejection.status.SerializeToString()
    unexpected = [e for e in logs if e["event"] == "rpc_unexpected_error"]
    assert isinstance(unexpected[0]["exc_info"], RuntimeError)
    assert unexpected[0]["request_id"] == logs[-1]["request_id"]
    assert logs[-1]["code"] == "INTERNAL"
    assert logs[-1]["log_level"] == "error"


async def test_a_client_streaming_rpc_outside_the_public_services_is_not_served() -> None:
    async def stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request

    async def continuation(details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.stream_stream_rpc_method_handler(stream)

    details = SimpleNamespace(method="/integrations.v1.X/Watch", invocation_metadata=())
    handler = await ServingInterceptor(JwtAuthenticator(hs256_secret=JWT_SECRET)).intercept_service(
        continuation, details
    )

    assert handler is None


async def test_each_method_is_wrapped_once_and_unknown_methods_are_not_remembered() -> None:
    async def unary(request: bytes, context: Any) -> bytes:
        return request

    asked: list[str] = []

    async def continuation(
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        asked.append(details.method)
        if details.method.endswith("/Get"):
            return grpc.unary_unary_rpc_method_handler(unary)
        return None

    interceptor = ServingInterceptor(JwtAuthenticator(hs256_secret=JWT_SECRET))

    def call(method: str) -> SimpleNamespace:
        return SimpleNamespace(method=method, invocation_metadata=())

    first = await interceptor.intercept_service(continuation, call("/integrations.v1.X/Get"))
    again = await interceptor.intercept_service(continuation, call("/integrations.v1.X/Get"))
    for _ in range(2):
        assert await interceptor.intercept_service(continuation, call("/x.Y/Nope")) is None

    assert first is not None
    assert again is first
    assert first.unary_unary is not unary
    assert asked == ["/integrations.v1.X/Get", "/x.Y/Nope", "/x.Y/Nope"]

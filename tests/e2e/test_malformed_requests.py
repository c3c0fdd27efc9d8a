"""Requests the service cannot read, sent to the running process: each is answered with the
service's own error (gRPC status with ErrorInfo, or the webhook port's JSON error body)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from integrations.v1 import integration_pb2 as resources
from integrations.v1 import integration_service_pb2 as pb
from tests.e2e.conftest import Service

# Bytes no protobuf message parses: a varint that never ends.
GARBAGE = b"\xff" * 12

pytestmark = pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)


async def _served_methods(channel: grpc.aio.Channel) -> list[tuple[str, bool]]:
    """Every method with one request message the server serves (found by reflection), and
    whether it streams its answer."""
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    listed = [
        r
        async for r in reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
    ]
    names = [s.name for s in listed[0].list_services_response.service]
    asks = [reflection_pb2.ServerReflectionRequest(file_containing_symbol=n) for n in names]
    methods: list[tuple[str, bool]] = []
    async for answer in reflection.ServerReflectionInfo(iter(asks)):
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            file = descriptor_pb2.FileDescriptorProto.FromString(raw)
            for service in file.service:
                full = f"{file.package}.{service.name}" if file.package else service.name
                if full not in names:
                    continue
                methods.extend(
                    (f"/{full}/{m.name}", m.server_streaming)
                    for m in service.method
                    if not m.client_streaming
                )
    return sorted(set(methods))


async def test_garbage_bytes_as_the_request_of_any_rpc_answer_invalid_argument(
    service: Service,
) -> None:
    metadata = service.metadata("admin")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        methods = await _served_methods(channel)
        services = {m.rsplit("/", 2)[1] for m, _ in methods}
        assert {
            "integrations.v1.IntegrationService",
            "integrations.v1.LeadService",
            "integrations.v1.WebhookService",
            "integrations.v1.DirectoryService",
            "integrations.v1.EventService",
            "grpc.health.v1.Health",
        } <= services
        for method, streams in methods:
            call: Any
            if streams:
                streaming: Any = channel.unary_stream(method)
                call = streaming(GARBAGE, metadata=metadata)
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    async for _ in call:
                        pass
            else:
                unary: Any = channel.unary_unary(method)
                call = unary(GARBAGE, metadata=metadata)
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await call
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (
                method,
                caught.value.code(),
                caught.value.details(),
            )
            status = await rpc_status.aio.from_call(call)
            assert status is not None, method
            infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
            info = error_details_pb2.ErrorInfo()
            infos[0].Unpack(info)
            assert (info.domain, info.reason) == ("integrations", "INVALID_ARGUMENT"), method


async def test_garbage_without_a_token_is_unauthenticated_not_read(service: Service) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        get: Any = channel.unary_unary("/integrations.v1.IntegrationService/GetIntegration")
        call = get(GARBAGE)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_user_updating_any_template_is_denied_not_told_it_is_missing(
    service: Service,
) -> None:
    user = service.metadata("user", "sa-e2e")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        update = channel.unary_unary(
            "/integrations.v1.IntegrationService/UpdateIntegrationTemplate",
            request_serializer=pb.UpdateIntegrationTemplateRequest.SerializeToString,
            response_deserializer=pb.UpdateIntegrationTemplateResponse.FromString,
        )
        for name in ("integrationTemplates/gohighlevel", "integrationTemplates/no_such_template"):
            request = pb.UpdateIntegrationTemplateRequest(
                integration_template=resources.IntegrationTemplate(name=name, display_name="x")
            )
            request.update_mask.paths.append("display_name")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await update(request, metadata=user)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, name


async def _raw_http(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as is; the status, headers and body of the answer (read to the end)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /webhooks/ghl?q=" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /webhooks/ghl HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        + b"".join(b"X-H%d: v\r\n" % n for n in range(300))
        + b"\r\n",
        b"POST /webhooks/ghl HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n",
        b"\x16\x03\x01 not http at all\r\n\r\n",
    ],
    ids=["20-KB-url", "300-headers", "20-KB-header", "not-http"],
)
async def test_a_request_the_webhook_port_cannot_parse_gets_the_json_error_body(
    service: Service, request_bytes: bytes
) -> None:
    assert service.webhook_port is not None
    status, headers, body = await _raw_http(service.webhook_port, request_bytes)

    assert status == 400
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    reasons = {d.get("reason") for d in error["details"]}
    assert "INVALID_ARGUMENT" in reasons
    assert "Traceback" not in service.logs()

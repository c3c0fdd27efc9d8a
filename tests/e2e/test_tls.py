"""`integrations serve` with the gRPC TLS settings: mutual TLS only, and a listed client
certificate calling without a token."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from integrations.v1 import integration_service_pb2, integration_service_pb2_grpc
from tests.e2e.conftest import Service
from tests.support.certificates import Issued, TestCa
from tests.support.databases import Kind

LIST = integration_service_pb2.ListIntegrationsRequest()


@pytest.fixture(scope="module")
def ca() -> TestCa:
    return TestCa()


@pytest.fixture
def database_kind() -> Kind:
    return "sqlite"  # the transport does not depend on the database


@pytest.fixture
def service_extra_env(tmp_path: Path, ca: TestCa) -> dict[str, str]:
    cert, key = ca.server().write(tmp_path, "server")
    client_ca = tmp_path / "clients.pem"
    client_ca.write_bytes(ca.pem)
    return {
        "GRPC_TLS_CERT_FILE": str(cert),
        "GRPC_TLS_KEY_FILE": str(key),
        "GRPC_TLS_CLIENT_CA_FILE": str(client_ca),
        "GRPC_TLS_CLIENT_IDENTITIES": "backend.internal=admin",
    }


async def _list(port: int, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    target = f"127.0.0.1:{port}"
    channel = (
        grpc.aio.insecure_channel(target)
        if credentials is None
        else grpc.aio.secure_channel(target, credentials)
    )
    async with channel:
        stub = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        try:
            await stub.ListIntegrations(LIST, timeout=30)
        except grpc.aio.AioRpcError as err:
            return err.code()
    return grpc.StatusCode.OK


def _presenting(ca: TestCa, client: Issued | None) -> grpc.ChannelCredentials:
    if client is None:
        return grpc.ssl_channel_credentials(ca.pem)
    return grpc.ssl_channel_credentials(ca.pem, client.key_pem, client.cert_pem)


async def test_the_served_port_takes_only_mutual_tls_and_a_listed_certificate_as_a_caller(
    service: Service, ca: TestCa
) -> None:
    listed = ca.client("backend.internal")
    unlisted = ca.client("reports.internal")

    assert await _list(service.port, _presenting(ca, listed)) is grpc.StatusCode.OK
    assert await _list(service.port, _presenting(ca, unlisted)) is grpc.StatusCode.UNAUTHENTICATED
    assert await _list(service.port, _presenting(ca, None)) is grpc.StatusCode.UNAVAILABLE
    assert await _list(service.port, None) is grpc.StatusCode.UNAVAILABLE
    assert "mutual TLS" in service.logs()

"""TLS on the real gRPC server on loopback, with certificates made for each test: TLS only when
configured, client certificates required for mutual TLS and usable as callers, certificate
files read again when they change, and production refusing plaintext unless asked for it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from structlog.testing import capture_logs

from adapters.crypto.master_keys import generate_master_key
from entrypoints.auth import CertificateIdentities, JwtAuthenticator
from entrypoints.config import ConfigurationError, Settings
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from entrypoints.tls_files import TlsFiles
from integrations.v1 import integration_service_pb2, integration_service_pb2_grpc
from tests.entrypoints.grpc.conftest import JWT_SECRET, PAGE_TOKEN_KEY, Metadata, admin_md
from tests.support.certificates import Issued, TestCa

LIST = integration_service_pb2.ListIntegrationsRequest()


@pytest.fixture
def cases(use_cases: tuple[GrpcUseCases, object, object]) -> GrpcUseCases:
    return use_cases[0]


@pytest.fixture
def ca() -> TestCa:
    return TestCa()


@pytest.fixture
def server_files(tmp_path: Path, ca: TestCa) -> TlsFiles:
    cert, key = ca.server().write(tmp_path, "server")
    return TlsFiles(cert, key)


@pytest.fixture
def mutual_files(tmp_path: Path, ca: TestCa, server_files: TlsFiles) -> TlsFiles:
    ca_file = tmp_path / "clients-ca.pem"
    ca_file.write_bytes(ca.pem)
    return TlsFiles(server_files.cert_file, server_files.key_file, ca_file)


@asynccontextmanager
async def serving(
    cases: GrpcUseCases,
    tls: TlsFiles | None,
    certificates: CertificateIdentities | None = None,
) -> AsyncIterator[int]:
    server, port = await start_server(
        cases,
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
        tls=tls,
        certificates=certificates,
    )
    try:
        yield port
    finally:
        await stop_server(server, grace=None)


async def list_integrations(
    port: int,
    *,
    trust: bytes | None,
    client: Issued | None = None,
    metadata: Metadata | None = None,
) -> grpc.StatusCode:
    """The code of one ListIntegrations on a new channel: TLS trusting `trust` (presenting
    `client`'s certificate if given), or plaintext when `trust` is None."""
    target = f"127.0.0.1:{port}"
    if trust is None:
        channel = grpc.aio.insecure_channel(target)
    else:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=trust,
            private_key=None if client is None else client.key_pem,
            certificate_chain=None if client is None else client.cert_pem,
        )
        channel = grpc.aio.secure_channel(target, credentials)
    async with channel:
        stub = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        try:
            await stub.ListIntegrations(LIST, metadata=metadata, timeout=30)
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK


async def test_tls_serves_a_client_that_trusts_the_ca_and_refuses_plaintext(
    cases: GrpcUseCases, ca: TestCa, server_files: TlsFiles
) -> None:
    async with serving(cases, server_files) as port:
        assert (
            await list_integrations(port, trust=ca.pem, metadata=admin_md()) is grpc.StatusCode.OK
        )
        plaintext = await list_integrations(port, trust=None, metadata=admin_md())
        assert plaintext is grpc.StatusCode.UNAVAILABLE
        # TLS alone does not authenticate the caller: the token is still required.
        no_token = await list_integrations(port, trust=ca.pem)
        assert no_token is grpc.StatusCode.UNAUTHENTICATED


async def test_a_client_that_does_not_trust_the_servers_ca_cannot_connect(
    cases: GrpcUseCases, server_files: TlsFiles
) -> None:
    async with serving(cases, server_files) as port:
        code = await list_integrations(port, trust=TestCa("another CA").pem, metadata=admin_md())

    assert code is grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_a_client_without_a_certificate_of_the_ca(
    cases: GrpcUseCases, ca: TestCa, mutual_files: TlsFiles
) -> None:
    stranger = TestCa("a stranger's CA").client("backend.internal")
    async with serving(cases, mutual_files) as port:
        without = await list_integrations(port, trust=ca.pem, metadata=admin_md())
        foreign = await list_integrations(port, trust=ca.pem, client=stranger, metadata=admin_md())
        admitted = await list_integrations(
            port, trust=ca.pem, client=ca.client("reports.internal"), metadata=admin_md()
        )

    assert without is grpc.StatusCode.UNAVAILABLE
    assert foreign is grpc.StatusCode.UNAVAILABLE
    assert admitted is grpc.StatusCode.OK


async def test_a_certificate_on_the_allow_list_is_a_caller_without_a_token(
    cases: GrpcUseCases, ca: TestCa, mutual_files: TlsFiles
) -> None:
    identities = CertificateIdentities.parse(
        "backend.internal=admin, billing.internal=service:sub-acme"
    )
    by_san = ca.client("ignored-cn", dns_names=("backend.internal",))
    by_cn = ca.client("backend.internal")
    unlisted = ca.client("reports.internal", dns_names=("reports.internal",))
    async with serving(cases, mutual_files, identities) as port:
        assert await list_integrations(port, trust=ca.pem, client=by_san) is grpc.StatusCode.OK
        assert await list_integrations(port, trust=ca.pem, client=by_cn) is grpc.StatusCode.OK
        refused = await list_integrations(port, trust=ca.pem, client=unlisted)
        assert refused is grpc.StatusCode.UNAUTHENTICATED
        # A listed certificate carrying a token is the token's caller, not the certificate's.
        expired = await list_integrations(
            port,
            trust=ca.pem,
            client=by_san,
            metadata=(("authorization", "Bearer not-a-jwt"),),
        )
        assert expired is grpc.StatusCode.UNAUTHENTICATED


async def test_a_certificate_with_a_subject_alternative_name_is_known_by_it_not_its_cn(
    cases: GrpcUseCases, ca: TestCa, mutual_files: TlsFiles
) -> None:
    identities = CertificateIdentities.parse("backend.internal=admin")
    client = ca.client("backend.internal", dns_names=("reports.internal",))
    async with serving(cases, mutual_files, identities) as port:
        code = await list_integrations(port, trust=ca.pem, client=client)

    assert code is grpc.StatusCode.UNAUTHENTICATED


async def test_a_service_certificate_reaches_only_its_own_sub_account(
    cases: GrpcUseCases, ca: TestCa, mutual_files: TlsFiles
) -> None:
    identities = CertificateIdentities.parse("billing.internal=service:sub-acme")
    client = ca.client("billing.internal")
    async with serving(cases, mutual_files, identities) as port:
        credentials = grpc.ssl_channel_credentials(ca.pem, client.key_pem, client.cert_pem)
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
            stub = integration_service_pb2_grpc.IntegrationServiceStub(channel)
            own = integration_service_pb2.ListIntegrationsRequest(sub_account_id="sub-acme")
            other = integration_service_pb2.ListIntegrationsRequest(sub_account_id="sub-x")
            await stub.ListIntegrations(own, timeout=30)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ListIntegrations(other, timeout=30)

    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED


def _replace(path: Path, content: bytes) -> None:
    """Swap the file for a new one in one step, as kubelet swaps a mounted secret."""
    fresh = path.with_suffix(".new")
    fresh.write_bytes(content)
    os.replace(fresh, path)


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(
    cases: GrpcUseCases, tmp_path: Path, server_files: TlsFiles, ca: TestCa
) -> None:
    renewing_ca = TestCa("the renewing CA")
    async with serving(cases, server_files) as port:
        assert (
            await list_integrations(port, trust=ca.pem, metadata=admin_md()) is grpc.StatusCode.OK
        )
        early = await list_integrations(port, trust=renewing_ca.pem, metadata=admin_md())
        assert early is grpc.StatusCode.UNAVAILABLE

        renewed = renewing_ca.server()
        _replace(server_files.key_file, renewed.key_pem)
        _replace(server_files.cert_file, renewed.cert_pem)
        with capture_logs() as logs:
            code = await list_integrations(port, trust=renewing_ca.pem, metadata=admin_md())
        stale = await list_integrations(port, trust=ca.pem, metadata=admin_md())

    assert code is grpc.StatusCode.OK
    assert stale is grpc.StatusCode.UNAVAILABLE
    assert "grpc_tls_reloaded" in [line["event"] for line in logs]


async def test_a_renewal_caught_half_way_keeps_the_current_certificate(
    cases: GrpcUseCases, server_files: TlsFiles, ca: TestCa
) -> None:
    async with serving(cases, server_files) as port:
        # The certificate is new but the key is still the old one's: not a usable pair.
        _replace(server_files.cert_file, TestCa("next").server().cert_pem)
        with capture_logs() as logs:
            code = await list_integrations(port, trust=ca.pem, metadata=admin_md())

    assert code is grpc.StatusCode.OK
    assert "grpc_tls_reload_refused" in [line["event"] for line in logs]


def _production(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "INTEGRATIONS_ENV": "production",
        "INTEGRATIONS_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql+asyncpg://svc@db:5432/integrations",
        "INTEGRATIONS_MASTER_KEYS": generate_master_key(),
        "JWT_SECRET": JWT_SECRET,
        "PAGE_TOKEN_SECRET": "page-token-secret-of-enough-length",
        "META_APP_ID": "1234567890",
        "META_APP_SECRET": "a-meta-app-secret",
        "META_WEBHOOK_VERIFY_TOKEN": "a-meta-verify-token",
        "PUBLIC_BASE_URL": "https://integrations.example",
        **extra,
    }


def test_production_refuses_plaintext_grpc_unless_asked_for_explicitly(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(_production(tmp_path))

    [problem] = refused.value.problems
    assert "GRPC_TLS_CERT_FILE" in problem
    assert "GRPC_INSECURE=true" in problem
    insecure = Settings.from_env(_production(tmp_path, GRPC_INSECURE="true"))
    assert insecure.grpc_tls is None
    assert insecure.grpc_transport == "plaintext"


def test_development_serves_plaintext_by_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"INTEGRATIONS_DATA_DIR": str(tmp_path)}, keep_dev_secrets=False)

    assert settings.grpc_tls is None
    assert not settings.grpc_insecure


def test_production_with_tls_files_starts_and_reads_every_tls_setting(
    tmp_path: Path, mutual_files: TlsFiles
) -> None:
    assert mutual_files.client_ca_file is not None
    settings = Settings.from_env(
        _production(
            tmp_path,
            GRPC_TLS_CERT_FILE=str(mutual_files.cert_file),
            GRPC_TLS_KEY_FILE=str(mutual_files.key_file),
            GRPC_TLS_CLIENT_CA_FILE=str(mutual_files.client_ca_file),
            GRPC_TLS_CLIENT_IDENTITIES="backend.internal=admin",
        )
    )

    assert settings.grpc_tls == mutual_files
    assert settings.grpc_transport == "mutual TLS"
    assert settings.grpc_client_identities is not None


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"GRPC_TLS_CERT_FILE": "{cert}"}, "GRPC_TLS_KEY_FILE"),
        ({"GRPC_TLS_CLIENT_CA_FILE": "{ca}"}, "GRPC_TLS_CLIENT_CA_FILE"),
        ({"GRPC_TLS_CERT_FILE": "{cert}", "GRPC_TLS_KEY_FILE": "{cert}"}, "GRPC_TLS_"),
        (
            {"GRPC_TLS_CERT_FILE": "{cert}", "GRPC_TLS_KEY_FILE": "{key}", "GRPC_INSECURE": "1"},
            "GRPC_INSECURE",
        ),
        (
            {
                "GRPC_TLS_CERT_FILE": "{cert}",
                "GRPC_TLS_KEY_FILE": "{key}",
                "GRPC_TLS_CLIENT_IDENTITIES": "backend.internal=admin",
            },
            "GRPC_TLS_CLIENT_IDENTITIES",
        ),
        (
            {
                "GRPC_TLS_CERT_FILE": "{cert}",
                "GRPC_TLS_KEY_FILE": "{key}",
                "GRPC_TLS_CLIENT_CA_FILE": "{ca}",
                "GRPC_TLS_CLIENT_IDENTITIES": "backend.internal=user:sub-1",
            },
            "GRPC_TLS_CLIENT_IDENTITIES",
        ),
    ],
)
def test_an_incomplete_or_unusable_tls_configuration_is_refused(
    tmp_path: Path, mutual_files: TlsFiles, extra: dict[str, str], variable: str
) -> None:
    paths: Callable[[str], str] = lambda value: value.format(  # noqa: E731
        cert=mutual_files.cert_file, key=mutual_files.key_file, ca=mutual_files.client_ca_file
    )
    env = {"INTEGRATIONS_DATA_DIR": str(tmp_path), **{k: paths(v) for k, v in extra.items()}}
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(env, keep_dev_secrets=False)

    assert any(
        problem.startswith(variable) or variable in problem for problem in refused.value.problems
    )
    assert "PRIVATE KEY" not in str(refused.value)

"""The real service, started as a client's operator would: `integrations migrate`, then
`integrations serve`, in a subprocess on a free loopback port, on SQLite or Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from entrypoints.auth import mint_token
from integrations.v1 import connection_service_pb2_grpc, integration_service_pb2_grpc
from tests.e2e.connect_support import SUB_ACCOUNT, FrontEnd
from tests.support.databases import KINDS, Kind, empty_database

ROOT = Path(__file__).resolve().parents[2]
_SERVING = re.compile(rb"gRPC on [0-9.]+:(\d+)")
_WEBHOOKS = re.compile(rb"webhooks on http://[0-9.]+:(\d+)")


@dataclass
class Service:
    """A running `integrations serve` process and what a client needs to reach it."""

    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)
    webhook_port: int | None = None
    """Where the webhook app listens (from the start line)."""

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", *args],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return done.stdout.decode().strip()

    def token(self, role: str = "admin", sub_account: str | None = None) -> str:
        """A bearer token as the platform's identity provider would issue it: signed with the
        service's JWT secret (the dev secret it generated on first start). The first one is
        minted by `integrations token`, so that command is exercised too."""
        key = (role, sub_account)
        if key not in self.tokens:
            if not self.tokens:
                args = ["token", "--role", role, "--subject", f"{role}-e2e"]
                self.tokens[key] = self.cli(
                    *args, *(["--sub-account", sub_account] if sub_account else [])
                )
            else:
                secrets = json.loads(
                    (Path(self.env["INTEGRATIONS_DATA_DIR"]) / "dev-secrets.json").read_text()
                )
                self.tokens[key] = mint_token(
                    secrets["jwt_secret"],
                    subject=f"{role}-e2e",
                    role=role,
                    sub_account_id=sub_account,
                    ttl=timedelta(hours=1),
                )
        return self.tokens[key]

    def metadata(
        self, role: str = "admin", sub_account: str | None = None
    ) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(role, sub_account)}"),)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


UNREACHABLE = "http://127.0.0.1:9"
# The service's own variables: none is inherited from the environment the tests run in.
_SERVICE_PREFIXES = (
    "INTEGRATIONS_",
    "JWT_",
    "GRPC_",
    "WEBHOOK_",
    "GHL_",
    "META_",
    "GA4_",
    "GOOGLE_",
    "PUBLIC_BASE_URL",
    "CONNECT_",
)


def service_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_PREFIXES)}
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        # No test reaches a real provider: those a test does not point at its fake refuse at once
        # (port 9 on loopback: nothing listens).
        META_GRAPH_API_BASE_URL=UNREACHABLE,
        GA4_MP_BASE_URL=UNREACHABLE,
        GA4_ADMIN_BASE_URL=UNREACHABLE,
        GA4_TOKEN_URL=f"{UNREACHABLE}/token",
        INTEGRATIONS_DATA_DIR=str(tmp_path / "var"),
        DATABASE_URL=database_url,
        GRPC_PORT="0",
        WEBHOOK_PORT="0",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    )
    env.update(extra)
    return env


def start_service(env: dict[str, str], log_path: Path) -> Service:
    """Migrate, start, and wait for the line that says which port it serves on."""
    subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "migrate"],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_file,
            cwd=ROOT,
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = _SERVING.search(line)
    if match is None:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"service did not start: {line!r}\n{log_path.read_text()}")
    webhooks = _WEBHOOKS.search(line)
    return Service(
        env=env,
        port=int(match.group(1)),
        process=process,
        log_path=log_path,
        webhook_port=int(webhooks.group(1)) if webhooks else None,
    )


def restart_service(service: Service) -> Service:
    """Stop the process and start a new one on the same database and keys."""
    assert stop_service(service) == 0
    return start_service(service.env, service.log_path.with_suffix(".restarted.log"))


def stop_service(service: Service) -> int:
    service.process.send_signal(signal.SIGTERM)
    try:
        return service.process.wait(timeout=30)
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(timeout=10)
        if service.process.stdout is not None:
            service.process.stdout.close()


@pytest.fixture(params=KINDS, ids=list(KINDS))
def database_kind(request: pytest.FixtureRequest) -> Kind:
    kind: Kind = request.param
    return kind


@pytest.fixture
def service_extra_env() -> dict[str, str]:
    """Extra environment for the service; test modules override it (e.g. GHL_API_BASE_URL)."""
    return {}


@pytest.fixture
async def service(
    database_kind: Kind, tmp_path: Path, service_extra_env: dict[str, str]
) -> AsyncIterator[Service]:
    async with empty_database(database_kind, tmp_path) as url:
        running = await asyncio.to_thread(
            start_service,
            service_env(tmp_path, url, **service_extra_env),
            tmp_path / "service.log",
        )
        try:
            yield running
        finally:
            await asyncio.to_thread(stop_service, running)


@pytest.fixture
async def stub(
    service: Service,
) -> AsyncIterator[integration_service_pb2_grpc.IntegrationServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield integration_service_pb2_grpc.IntegrationServiceStub(channel)


@pytest.fixture
async def front_end(service: Service) -> AsyncIterator[FrontEnd]:
    """The platform's front end connecting accounts by signing in (tests/e2e/connect_support)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield FrontEnd(
            connection_service_pb2_grpc.ConnectionServiceStub(channel),  # type: ignore[arg-type]
            integration_service_pb2_grpc.IntegrationServiceStub(channel),  # type: ignore[arg-type]
            service.metadata("user", SUB_ACCOUNT),
        )

"""What every benchmark needs: tools checked, a fresh Postgres database, the real service in a
subprocess, the fake GHL, signed GHL bodies, wrk runs, peak RSS, medians."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import struct_pb2
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.crypto.master_keys import generate_master_key
from adapters.ghl.fake import FAKE_GHL, FakeGhl, RateLimitConfig, create_app
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from entrypoints.auth import mint_token
from integrations.v1 import integration_pb2, integration_service_pb2, integration_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPT = ROOT / "bench" / "wrk" / "signed_posts.lua"
DEFAULT_SERVER_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SUB_ACCOUNT = "sa-bench"
LOCATION = DEMO_LOCATION_ID
_SERVING = re.compile(rb"gRPC on [0-9.]+:(\d+)|webhooks on http://[0-9.]+:(\d+)")

TOOLS = {
    "wrk": "apt-get update && apt-get install -y wrk",
    "h2load": "apt-get update && apt-get install -y nghttp2-client",
    "valgrind": "apt-get update && apt-get install -y valgrind",
    "callgrind_control": "apt-get update && apt-get install -y valgrind",
}


def require(*tools: str) -> None:
    """Exit with how to install them when a load generator (or valgrind) is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        for tool in missing:
            print(f"{tool} is missing; install it with: {TOOLS[tool]}", file=sys.stderr)
        raise SystemExit(2)


def server_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get(
        "TEST_DATABASE_URL", DEFAULT_SERVER_URL
    )


def asyncpg_dsn(url: str) -> str:
    """The same database as a plain ``postgresql://`` DSN, for the asyncpg baselines."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def median(values: Iterable[float]) -> float:
    listed = list(values)
    return statistics.median(listed) if listed else float("nan")


def machine() -> str:
    """One line: cores, CPU model, memory, kernel and Python, for the record."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, IndexError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    return (
        f"{os.cpu_count()} cores ({model}), {memory} RAM, Linux {os.uname().release}, "
        f"Python {sys.version.split()[0]}"
    )


# --- the database ----------------------------------------------------------------------------


async def _autocommit(statement: str) -> None:
    engine = create_async_engine(server_url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty database on the server (dropped afterwards); yields its URL."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    await _autocommit(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        await _autocommit(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on the database; returns its rows (if any)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            result = await connection.exec_driver_sql(statement)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        await engine.dispose()


# --- keys and signed bodies ------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """The service's keys for one benchmark, and a GHL signing key its verifier trusts."""

    master_keys: str = field(default_factory=generate_master_key)
    jwt_secret: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    page_token_secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    webhook_secret: str = field(default_factory=lambda: "whs-" + uuid.uuid4().hex)
    ghl_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def ghl_public_pem(self) -> bytes:
        return self.ghl_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, role: str = "admin", sub_account_id: str | None = None) -> str:
        return mint_token(
            self.jwt_secret,
            subject=f"bench-{role}",
            role=role,
            sub_account_id=sub_account_id,
            ttl=timedelta(hours=2),
        )

    def sign(self, scheme: str, body: bytes) -> tuple[str, str]:
        """The signature header of `scheme` (``ed25519`` or ``hmac``) for `body`."""
        if scheme == "ed25519":
            return "x-ghl-signature", base64.b64encode(self.ghl_key.sign(body)).decode()
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return "x-webhook-signature", digest


# GHL's webhook route per scheme: its marketplace format for Ed25519, the seed's routed one for
# the per-integration HMAC.
PATHS = {"ed25519": "/webhooks/ghl", "hmac": "/webhooks/ghl/contact.created"}


def contact_body(tag: str, index: int, *, now: datetime | None = None) -> bytes:
    """A GHL ContactCreate of about 1 KB for contact ``c-<tag>-<index>``, as GHL formats it."""
    moment = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    contact = f"c-{tag}-{index}"
    event = {
        "type": "ContactCreate",
        "locationId": LOCATION,
        "id": contact,
        "address1": f"{index % 9000 + 100} W Madison St",
        "city": "Chicago",
        "state": "IL",
        "companyName": "Fake Dental Clinic",
        "country": "US",
        "source": "bench",
        "dateAdded": moment,
        "dateOfBirth": "1990-03-02",
        "dnd": False,
        "email": f"{contact}@example.com",
        "name": f"Bench Contact {index}",
        "firstName": "Bench",
        "lastName": f"Contact {index}",
        "phone": f"+1312555{index % 10000:04d}",
        "postalCode": "60601",
        "tags": ["bench", "new-lead", "website"],
        "website": "https://example.com/landing/spring-whitening-offer",
        "attachments": [],
        "assignedTo": "",
        "customFields": [
            {"id": f"cf{n:02d}", "value": f"answer {n} to intake question {n}"} for n in range(8)
        ],
        "webhookId": str(uuid.uuid4()),
        "timestamp": moment,
    }
    return json.dumps(event, separators=(",", ":")).encode()


def write_bodies(path: Path, keys: Keys, scheme: str, count: int, tag: str) -> Path:
    """`count` distinct signed deliveries, one ``header\\tsignature\\tbody`` line each (the
    format bench/wrk/signed_posts.lua reads)."""
    now = datetime.now(UTC)
    with path.open("wb") as out:
        for index in range(count):
            body = contact_body(tag, index, now=now)
            header, signature = keys.sign(scheme, body)
            out.write(f"{header}\t{signature}\t".encode() + body + b"\n")
    return path


# --- the fake GHL ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fake_ghl(
    seed: Mapping[str, Any] | None = None, *, rate_limit: RateLimitConfig | None = None
) -> AsyncIterator[tuple[str, FakeGhl]]:
    """The fake GHL on a loopback port, in this process; yields its base URL and state."""
    app = create_app(seed, rate_limit=rate_limit or RateLimitConfig())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", app[FAKE_GHL]
    finally:
        await runner.cleanup()


# --- the service -----------------------------------------------------------------------------


def service_env(
    database_url: str, keys: Keys, workdir: Path, *, ghl_url: str, **extra: str
) -> dict[str, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    pem = workdir / "ghl-ed25519.pem"
    pem.write_bytes(keys.ghl_public_pem())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INTEGRATIONS_", "JWT_", "GRPC_", "WEBHOOK_", "GHL_", "DATABASE_"))
    }
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        INTEGRATIONS_DATA_DIR=str(workdir / "var"),
        DATABASE_URL=database_url,
        INTEGRATIONS_MASTER_KEYS=keys.master_keys,
        JWT_SECRET=keys.jwt_secret,
        PAGE_TOKEN_SECRET=keys.page_token_secret,
        GHL_API_BASE_URL=ghl_url,
        GHL_WEBHOOK_ED25519_KEY_FILE=str(pem),
        GRPC_PORT="0",
        WEBHOOK_PORT="0",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def migrate(env: Mapping[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "migrate"],
        env=dict(env),
        check=True,
        timeout=180,
        capture_output=True,
        cwd=ROOT,
    )


@dataclass
class Service:
    """A running `integrations serve` process."""

    process: subprocess.Popen[bytes]
    log_path: Path
    grpc_port: int | None
    webhook_port: int | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mib(self) -> float:
        """The process's peak resident set so far (VmHWM)."""
        return peak_rss_mib(self.pid)

    def stop(self, timeout: float = 30.0) -> tuple[int, float]:
        """SIGTERM, then wait; returns the exit code and the peak RSS read just before."""
        peak = self.peak_rss_mib()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code, peak


def start_service(
    env: Mapping[str, str],
    log_path: Path,
    *,
    only: str | None = None,
    prefix: Sequence[str] = (),
) -> Service:
    """Start `integrations serve` (under `prefix`, a tool such as valgrind, if given) and wait
    for the line naming its ports."""
    args = [
        *prefix,
        sys.executable,
        "-m",
        "entrypoints.cli",
        "serve",
        *(["--only", only] if only else []),
    ]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            args, env=dict(env), stdout=subprocess.PIPE, stderr=log_file, cwd=ROOT
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    ports: dict[str, bytes | None] = {"grpc": None, "webhooks": None}
    for match in _SERVING.finditer(line):
        if match.group(1):
            ports["grpc"] = match.group(1)
        if match.group(2):
            ports["webhooks"] = match.group(2)
    if not line.startswith(b"integrations:"):
        process.kill()
        process.wait(timeout=10)
        raise RuntimeError(f"the service did not start: {line!r}; see {log_path}")
    return Service(
        process,
        log_path,
        int(ports["grpc"]) if ports["grpc"] else None,
        int(ports["webhooks"]) if ports["webhooks"] else None,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def integration_for_deliveries(env: Mapping[str, str], keys: Keys, workdir: Path) -> str:
    """Create, through a short-lived `serve --only grpc` on `env`'s database, the GoHighLevel
    integration that signed deliveries are posted to; returns its id."""
    service = start_service(env, workdir / "service.log", only="grpc")
    try:
        assert service.grpc_port is not None
        return await create_ghl_integration(service.grpc_port, keys)
    finally:
        service.stop()


async def create_ghl_integration(grpc_port: int, keys: Keys, *, location: str = LOCATION) -> str:
    """Create (and so connection-test against the fake GHL) a GoHighLevel integration with a
    webhook secret; returns its id."""
    config = struct_pb2.Struct()
    config.update(
        {"apiKey": DEMO_PRIVATE_TOKEN, "locationId": location, "webhookSecret": keys.webhook_secret}
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        created = await stub.CreateIntegration(
            integration_service_pb2.CreateIntegrationRequest(
                integration=integration_pb2.Integration(
                    sub_account_id=SUB_ACCOUNT,
                    template="integrationTemplates/gohighlevel",
                    display_name="Bench clinic",
                    config=config,
                )
            ),
            metadata=(("authorization", f"Bearer {keys.token()}"),),
            timeout=30,
        )
    name: str = created.integration.name
    return name.rsplit("/", 1)[-1]


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# --- load generators -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    """Non-2xx answers, plus socket errors and timeouts."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.failed


async def run_wrk(
    url: str,
    bodies: Path,
    *,
    connections: int = 64,
    seconds: float = 10.0,
    threads: int = 2,
    prefix: Sequence[str] = (),
) -> LoadResult:
    """wrk (under `prefix`, e.g. taskset, if given) posting the pre-signed bodies of `bodies`
    in turn (each thread its own share, so that every request is a distinct delivery while the
    file lasts)."""
    args = [
        *prefix,
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        str(bodies),
        str(threads),
    ]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=seconds + 120)
    for line in out.decode().splitlines():
        if line.startswith('{"wrk"'):
            data = json.loads(line)["wrk"]
            return LoadResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                failed=data["status"]
                + data["connect"]
                + data["read"]
                + data["write"]
                + data["timeout"],
            )
    raise RuntimeError(f"wrk printed no result: {out.decode()} {err.decode()}")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def print_rows(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table, so the output can go into docs/performance.md as it is."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(_cell(v) for v in row) + " |")


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)

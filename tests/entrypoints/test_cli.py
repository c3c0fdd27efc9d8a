"""The `integrations` command run as an operator runs it: exit statuses, what it prints, what it
loads and what it leaves on disk."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BROKEN = {
    "DATABASE_URL": "mysql://root:hunter2@db/x",
    "JWT_SECRET": "too-short-secret",
    "LOG_LEVEL": "LOUD",
    "INTEGRATIONS_MASTER_KEYS": "k1:not-base64-key-material",
    "INBOX_MAX_ATTEMPTS": "0",
    "WEBHOOK_PORT": "-1",
}
# What the service's parts need and a token does not.
HEAVY = ("sqlalchemy", "grpc", "aiohttp", "dependency_injector", "asyncpg", "structlog")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("INTEGRATIONS_", "JWT_", "GRPC_", "WEBHOOK_", "GHL_", "DATABASE_", "LOG_", "REUSE_")
        )
    }
    env.update(
        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
        INTEGRATIONS_DATA_DIR=str(tmp_path / "var"),
        **extra,
    )
    return env


def _run(
    env: dict[str, str], *args: str, python: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *python, "-m", "entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("command", [["serve"], ["token"], ["migrate"], ["check-config"]])
def test_a_broken_configuration_is_reported_whole_with_exit_2_and_nothing_written(
    tmp_path: Path, command: list[str]
) -> None:
    done = _run(_env(tmp_path, **BROKEN), *command)

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "configuration error (6 problems):"
    for name in BROKEN:
        assert any(line.startswith(f"  - {name}") for line in lines), name
    for value in ("hunter2", "too-short-secret", "not-base64-key-material"):
        assert value not in done.stderr
    assert not (tmp_path / "var").exists()


def test_production_names_every_missing_variable_in_one_run(tmp_path: Path) -> None:
    done = _run(_env(tmp_path, INTEGRATIONS_ENV="production"), "serve")

    assert done.returncode == 2
    names = ("INTEGRATIONS_MASTER_KEYS", "JWT_SECRET", "PAGE_TOKEN_SECRET", "DATABASE_URL")
    for name in (*names, "GRPC_INSECURE"):  # plaintext gRPC only when asked for
        assert name in done.stderr


def test_check_config_passes_a_usable_configuration_and_writes_nothing(tmp_path: Path) -> None:
    done = _run(_env(tmp_path), "check-config")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("configuration OK: development")
    assert not (tmp_path / "var").exists()


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    done = _run(_env(tmp_path), "--version")

    assert done.returncode == 0
    assert done.stdout.strip() == f"integrations {version('integrations')}"


def _imported(stderr: str) -> set[str]:
    """The modules `python -X importtime` reports as imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_token_loads_only_what_a_token_needs(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _run(env, "token", "--role", "admin").returncode == 0  # the dev keys exist now

    done = _run(env, "token", "--role", "admin", python=("-X", "importtime"))

    assert done.returncode == 0
    assert done.stdout.count(".") == 2  # a JWT
    loaded = {name.split(".")[0] for name in _imported(done.stderr)}
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize("command", [["--help"], ["--version"], ["check-config"]])
def test_other_light_commands_do_not_load_the_service_either(
    tmp_path: Path, command: list[str]
) -> None:
    done = _run(_env(tmp_path), *command, python=("-X", "importtime"))

    assert done.returncode == 0
    loaded = {name.split(".")[0] for name in _imported(done.stderr)}
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process listens on, with SO_REUSEPORT as a second copy of the
    service would: gRPC would have joined it silently."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    ("part", "variable"), [("grpc", "GRPC_PORT"), ("webhooks", "WEBHOOK_PORT")]
)
def test_serving_on_a_port_in_use_is_a_clear_start_up_error(
    tmp_path: Path, taken_port: int, part: str, variable: str
) -> None:
    env = _env(tmp_path, **{"GRPC_PORT": "0", "WEBHOOK_PORT": "0", variable: str(taken_port)})

    done = _run(env, "serve", "--only", part)

    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    assert f"127.0.0.1:{taken_port} is already in use" in done.stderr.splitlines()[-1]


def _project_fakes(loaded: set[str]) -> set[str]:
    project = ("domain.", "application.", "adapters.", "entrypoints.")
    return {name for name in loaded if name.startswith(project) and "fake" in name}


def test_fake_ghl_runs_from_the_ghl_provider_package_not_from_the_service_entrypoints(
    tmp_path: Path,
) -> None:
    done = _run(_env(tmp_path), "fake-ghl", "--help", python=("-X", "importtime"))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: integrations fake-ghl")
    fakes = _project_fakes(_imported(done.stderr))
    assert "adapters.ghl.fake.cli" in fakes
    assert {name for name in fakes if name.startswith("entrypoints.")} == set()


def test_serving_loads_no_fake(tmp_path: Path, taken_port: int) -> None:
    env = _env(tmp_path, GRPC_PORT="0", WEBHOOK_PORT=str(taken_port))

    done = _run(env, "serve", "--only", "webhooks", python=("-X", "importtime"))

    assert done.returncode == 1, done.stdout  # stopped at the port, after loading the service
    loaded = _imported(done.stderr)
    assert {"entrypoints.commands", "entrypoints.container"} <= loaded
    assert _project_fakes(loaded) == set()

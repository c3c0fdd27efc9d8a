"""No test depends on how long ago its module was imported: bearer tokens are minted while a test
runs (tests/support/token_guard.py refuses them earlier) and no module reads the clock when it is
imported."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"

_MINTED_AT_IMPORT = """
from datetime import timedelta

from entrypoints.auth import mint_token

TOKEN: str = mint_token("s" * 32, subject="a", role="admin", sub_account_id=None, ttl=timedelta(hours=1))


def test_uses_the_token():
    assert TOKEN
"""

_MINTED_IN_THE_TEST = """
from datetime import timedelta

from entrypoints.auth import mint_token


def test_mints_its_token():
    assert mint_token("s" * 32, subject="a", role="admin", sub_account_id=None, ttl=timedelta(hours=1))
"""

_GUARD = ("-p", "tests.support.token_guard", "--continue-on-collection-errors")

# Calls that read the wall or monotonic clock, by the name they are called with.
_CLOCK_READS = frozenset(
    {
        "datetime.now",
        "datetime.utcnow",
        "datetime.today",
        "date.today",
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.perf_counter",
        "monotonic",
        "perf_counter",
    }
)


def test_the_suite_runs_with_the_token_guard(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("tests.support.token_guard")


def test_a_token_minted_at_import_fails_the_run_and_one_minted_in_a_test_does_not(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_minted_at_import.py").write_text(_MINTED_AT_IMPORT)
    (tmp_path / "test_minted_in_the_test.py").write_text(_MINTED_IN_THE_TEST)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "gen")])}

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *_GUARD, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode != 0, run.stdout
    assert "TokenMintedOutsideATestError" in run.stdout
    assert "1 passed, 1 error" in run.stdout


def _import_time_calls(tree: ast.Module) -> list[ast.Call]:
    """The calls a module makes when it is imported: everything but the bodies of functions."""
    calls: list[ast.Call] = []
    pending: list[ast.AST | None] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Call):
            calls.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            pending.extend([*node.decorator_list, *node.args.defaults, *node.args.kw_defaults])
        elif isinstance(node, ast.Lambda):
            pending.extend([*node.args.defaults, *node.args.kw_defaults])
        elif node is not None:
            pending.extend(ast.iter_child_nodes(node))
    return calls


def test_no_test_module_reads_the_clock_when_it_is_imported() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(call)}"
        for path in sorted(TESTS.rglob("*.py"))
        for call in _import_time_calls(ast.parse(path.read_text(encoding="utf-8")))
        if ast.unparse(call.func) in _CLOCK_READS
    ]

    assert offenders == []

"""Instructions per webhook delivery, counted by callgrind: the service (`integrations serve
--only webhooks` on Postgres) beside the group-commit baseline, each run under valgrind and
loaded by wrk. Unlike the wall-clock benchmarks, a count hardly moves with what else the machine
is doing (within ~2% run to run), so it tells whether a change to the ingest path made it
cheaper even on a shared machine.

What it leaves out: the kernel's work (system calls, the socket writes), cache misses, and the
batch sizes of full speed (valgrind runs the code ~50 times slower, so batches are smaller and
their fixed costs weigh more). It complements bench.ingest; it never replaces it.

Run: ``python -m bench.instructions [--seconds 15] [--schemes hmac ed25519]`` (needs valgrind
and wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    PATHS,
    Keys,
    asyncpg_dsn,
    fake_ghl,
    free_port,
    fresh_database,
    integration_for_deliveries,
    machine,
    migrate,
    require,
    run_wrk,
    service_env,
    sql,
    start_service,
    write_bodies,
)
from bench.ingest import start_baseline

CONNECTIONS = 16
"""Enough to form batches at valgrind's pace, few enough for it to serve them."""


def _callgrind(out: Path) -> list[str]:
    # Counting starts once the process serves and has been warmed up (callgrind_control -i).
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def _instructions(out: Path) -> int:
    """The instructions counted in every dump of one run (a dump on demand, then at exit)."""
    total = 0
    for dump in out.parent.glob(out.name + "*"):
        for line in dump.read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


@dataclass
class Setup:
    workdir: Path
    url: str
    env: dict[str, str]
    keys: Keys
    integration: str
    bodies: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    """Per scheme: the signed deliveries measured, and those of the warm-up."""


async def _control(pid: int, *args: str) -> None:
    """callgrind_control on the process: instrumentation on or off (-i), a dump (-d)."""
    tool = shutil.which("callgrind_control")
    assert tool is not None
    process = await asyncio.create_subprocess_exec(
        tool, *args, str(pid), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if await process.wait() != 0:
        raise RuntimeError(f"callgrind_control {' '.join(args)} failed")


async def measure(variant: str, *, scheme: str, seconds: float, setup: Setup) -> float:
    """Thousands of instructions per delivery answered, for `variant` (service or group)."""
    out = setup.workdir / f"callgrind.{variant}.{scheme}.out"
    await sql(setup.url, "TRUNCATE webhook_deliveries")
    stop: Callable[[], object]
    if variant == "service":
        service = start_service(
            setup.env, setup.workdir / "service.log", only="webhooks", prefix=_callgrind(out)
        )
        pid, port = service.pid, service.webhook_port
        assert port is not None

        def stop() -> object:
            return service.stop(timeout=120)
    else:
        port = free_port()
        process = start_baseline(
            variant,
            port=port,
            scheme=scheme,
            dsn=asyncpg_dsn(setup.url),
            keys=setup.keys,
            integration=setup.integration,
            workdir=setup.workdir,
            prefix=_callgrind(out),
        )
        pid = process.pid

        def stop() -> object:
            process.terminate()
            return process.wait(timeout=120)

    target = f"http://127.0.0.1:{port}{PATHS[scheme]}"
    bodies, warmup = setup.bodies[scheme]
    try:
        await run_wrk(target, warmup, connections=CONNECTIONS, seconds=3)
        await _control(pid, "-i", "on")
        result = await run_wrk(target, bodies, connections=CONNECTIONS, seconds=seconds)
        await _control(pid, "-i", "off")
        await _control(pid, "-d")
    finally:
        stop()
    if result.ok == 0:
        raise RuntimeError(f"{variant}: no delivery was answered 200")
    return _instructions(out) / result.requests / 1000


async def main(args: argparse.Namespace) -> None:
    require("valgrind", "callgrind_control", "wrk")
    keys = Keys()
    workdir = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    print(f"# Instructions per delivery (callgrind): {machine()}")
    print(f"wrk -c{CONNECTIONS} for {args.seconds:g} s per variant; files in {workdir}\n")
    async with fake_ghl() as (ghl_url, _), fresh_database() as url:
        env = service_env(url, keys, workdir, ghl_url=ghl_url)
        migrate(env)
        integration = await integration_for_deliveries(env, keys, workdir)
        setup = Setup(workdir, url, env, keys, integration)
        for scheme in args.schemes:
            setup.bodies[scheme] = (
                write_bodies(workdir / f"{scheme}.tsv", keys, scheme, 20_000, f"i{scheme}"),
                write_bodies(workdir / f"{scheme}-warmup.tsv", keys, scheme, 1_000, f"w{scheme}"),
            )
            group = await measure("group", scheme=scheme, seconds=args.seconds, setup=setup)
            service = await measure("service", scheme=scheme, seconds=args.seconds, setup=setup)
            print(
                f"{scheme:8} group commit baseline {group:7.1f} k, the service {service:7.1f} k "
                f"instructions per delivery: service / baseline {service / group:.2f}",
                flush=True,
            )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--schemes", nargs="+", default=["hmac", "ed25519"])
    return parser


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args()))

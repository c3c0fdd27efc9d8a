"""Benchmark 1: webhook ingest. Signed GHL ContactCreate deliveries (~1 KB, Ed25519 and HMAC)
posted by wrk at concurrency 64 to `integrations serve --only webhooks` on Postgres, and in the
same run to three hand-written baselines (bench/baselines.py: bare aiohttp, naive insert per
request, group commit). Prints throughput, p50/p99 of the answers, the service's peak RSS, and
the ratios service/naive and service/group-commit (medians over the rounds).

Run: ``python bench/ingest.py [--rounds 3] [--seconds 10] [--connections 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.common import (
    PATHS,
    ROOT,
    SUB_ACCOUNT,
    Keys,
    LoadResult,
    asyncpg_dsn,
    cpu_seconds,
    fake_ghl,
    free_port,
    fresh_database,
    integration_for_deliveries,
    machine,
    median,
    migrate,
    print_rows,
    ratio,
    require,
    run_wrk,
    service_env,
    sql,
    start_service,
    wait_for_port,
    write_bodies,
)

VARIANTS = ("bare", "naive", "group", "service")
SERVER_CPU = ("taskset", "-c", "0")
LOAD_CPU = ("taskset", "-c", "1")
LABELS = {
    "bare": "bare aiohttp 200",
    "naive": "naive: verify + INSERT/commit per request",
    "group": "group commit baseline",
    "service": "the service",
}
# Enough distinct deliveries for the fastest database-backed variant (~15,000/s here).
BODIES_PER_SECOND = 20_000


@dataclass
class Run:
    scheme: str
    round: int
    variant: str
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int
    answered_200: int
    rows: int
    cpu_us_per_request: float
    peak_rss_mib: float | None


async def _truncate(url: str) -> None:
    await sql(url, "TRUNCATE webhook_deliveries")


async def _count(url: str) -> int:
    rows = await sql(url, "SELECT count(*) FROM webhook_deliveries")
    return int(rows[0][0])


def start_baseline(
    mode: str,
    *,
    port: int,
    scheme: str,
    dsn: str,
    keys: Keys,
    integration: str,
    workdir: Path,
    prefix: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start a baseline of bench/baselines.py (under `prefix`, if given) on `port`."""
    args = [
        *prefix,
        sys.executable,
        str(ROOT / "bench" / "baselines.py"),
        mode,
        "--port",
        str(port),
        "--dsn",
        dsn,
        "--scheme",
        scheme,
        "--secret",
        keys.webhook_secret,
        "--public-key-file",
        str(workdir / "ghl-ed25519.pem"),
        "--integration",
        integration,
        "--sub-account",
        SUB_ACCOUNT,
        "--uvloop",
    ]
    # A tool's own report (valgrind's) goes to a file, not among the figures.
    with (workdir / "baseline-tool.log").open("ab") as tool_log:
        process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=tool_log if prefix else None, cwd=ROOT
        )
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"serving":
        process.kill()
        raise RuntimeError(f"baseline {mode} did not start")
    wait_for_port(port)
    return process


async def measure(
    variant: str,
    *,
    scheme: str,
    round_: int,
    url: str,
    env: dict[str, str],
    keys: Keys,
    integration: str,
    workdir: Path,
    bodies: Path,
    warmup: Path,
    bodies_count: int,
    seconds: float,
    connections: int,
    pin: bool = False,
) -> Run:
    await _truncate(url)
    peak: float | None = None
    if variant == "service":
        service = start_service(
            env, workdir / "service.log", only="webhooks", prefix=SERVER_CPU if pin else ()
        )
        port = service.webhook_port
        assert port is not None
        pid = service.pid
        stop: Callable[[], tuple[int, float]] = service.stop
    else:
        port = free_port()
        baseline = start_baseline(
            variant,
            port=port,
            scheme=scheme,
            dsn=asyncpg_dsn(url),
            keys=keys,
            integration=integration,
            workdir=workdir,
            prefix=SERVER_CPU if pin else (),
        )
        pid = baseline.pid

        def stop_baseline() -> tuple[int, float]:
            baseline.terminate()
            return baseline.wait(timeout=30), float("nan")

        stop = stop_baseline

    target = f"http://127.0.0.1:{port}{PATHS[scheme]}"
    try:
        load = LOAD_CPU if pin else ()
        await run_wrk(target, warmup, connections=connections, seconds=1, prefix=load)
        await _truncate(url)
        cpu_before = cpu_seconds(pid)
        result: LoadResult = await run_wrk(
            target, bodies, connections=connections, seconds=seconds, prefix=load
        )
        cpu = cpu_seconds(pid) - cpu_before
        rows = await _count(url)
    finally:
        _, peak_rss = stop()
    if variant == "service":
        peak = peak_rss
    if variant != "bare" and rows < min(result.ok, bodies_count):
        raise AssertionError(f"{variant}: {result.ok} answered 200 but only {rows} rows stored")
    return Run(
        scheme=scheme,
        round=round_,
        variant=variant,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        failed=result.failed,
        answered_200=result.ok,
        rows=rows,
        cpu_us_per_request=cpu / result.requests * 1e6 if result.requests else float("nan"),
        peak_rss_mib=peak,
    )


async def main(args: argparse.Namespace) -> list[Run]:
    require("wrk")
    keys = Keys()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    runs: list[Run] = []
    print(f"# Webhook ingest: {machine()}")
    print(
        f"wrk -t2 -c{args.connections} -d{args.seconds:g}s, {args.rounds} round(s), "
        f"schemes {', '.join(args.schemes)}; work files in {workdir}\n",
        flush=True,
    )
    async with fake_ghl() as (ghl_url, _), fresh_database() as url:
        env = service_env(url, keys, workdir, ghl_url=ghl_url)
        migrate(env)
        integration = await integration_for_deliveries(env, keys, workdir)
        count = int(args.seconds * BODIES_PER_SECOND)
        for round_ in range(args.rounds):
            for scheme in args.schemes:
                bodies = write_bodies(
                    workdir / f"{scheme}.tsv", keys, scheme, count, f"r{round_}{scheme}"
                )
                warmup = write_bodies(
                    workdir / f"{scheme}-warmup.tsv", keys, scheme, 4_000, f"w{round_}{scheme}"
                )
                # Rotate the order, so that no variant always runs first (or after the same one).
                order = VARIANTS[round_ % 4 :] + VARIANTS[: round_ % 4]
                for variant in (v for v in order if v in args.variants):
                    run = await measure(
                        variant,
                        scheme=scheme,
                        round_=round_,
                        url=url,
                        env=env,
                        keys=keys,
                        integration=integration,
                        workdir=workdir,
                        bodies=bodies,
                        warmup=warmup,
                        bodies_count=count,
                        seconds=args.seconds,
                        pin=args.pin,
                        connections=args.connections,
                    )
                    runs.append(run)
                    note = " (bodies ran out: duplicates)" if run.answered_200 > count else ""
                    print(
                        f"round {round_} {scheme:7} {variant:7} {run.rps:8,.0f} req/s "
                        f"p50 {run.p50_ms:6.2f} ms p99 {run.p99_ms:7.2f} ms "
                        f"failed {run.failed} rows {run.rows} "
                        f"CPU {run.cpu_us_per_request:.0f} us/req{note}",
                        flush=True,
                    )
    report(runs, args)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return runs


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print()
    for scheme in args.schemes:
        mine = [r for r in runs if r.scheme == scheme]

        rows = []
        for variant in VARIANTS:
            selected = [r for r in mine if r.variant == variant]
            rss = [r.peak_rss_mib for r in selected if r.peak_rss_mib is not None]
            rows.append(
                [
                    LABELS[variant],
                    median(r.rps for r in selected),
                    median(r.p50_ms for r in selected),
                    median(r.p99_ms for r in selected),
                    sum(r.failed for r in selected),
                    f"{max(rss):.0f} MiB" if rss else "",
                ]
            )
        print(f"## {scheme}: medians of {args.rounds} run(s)\n")
        print_rows(["", "req/s", "p50 ms", "p99 ms", "failed", "peak RSS"], rows)
        by_round = {(r.round, r.variant): r for r in mine}

        ratios = {
            "service / naive (req/s)": per_round(by_round, args.rounds, "service", "naive"),
            "service / group commit (req/s)": per_round(by_round, args.rounds, "service", "group"),
            "service p99 / group commit p99": per_round(
                by_round, args.rounds, "service", "group", p99=True
            ),
            "group commit / naive (req/s)": per_round(by_round, args.rounds, "group", "naive"),
            "naive / bare (req/s)": per_round(by_round, args.rounds, "naive", "bare"),
        }
        print()
        for name, value in ratios.items():
            print(f"- {name}: {value:.2f}")
        print(flush=True)


def per_round(
    by_round: dict[tuple[int, str], Run], rounds: int, a: str, b: str, *, p99: bool = False
) -> float:
    """The ratio a/b within each round (same conditions), then the median; NaN when a round
    lacks either variant."""
    values = []
    for n in range(rounds):
        first, second = by_round.get((n, a)), by_round.get((n, b))
        if first is None or second is None:
            continue
        values.append(ratio(first.p99_ms, second.p99_ms) if p99 else ratio(first.rps, second.rps))
    return median(values)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--schemes", nargs="+", default=["ed25519", "hmac"])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--pin",
        action="store_true",
        help="server on CPU 0, wrk on CPU 1 (taskset); Postgres free: the server's core is its own",
    )
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    return parser


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args()))

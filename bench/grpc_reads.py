"""Benchmark 3: gRPC reads. GetIntegration and ListIntegrations (a page of 20 of a sub-account's
50 integrations, as that sub-account's user) posted by h2load at concurrency 64 to
`integrations serve --only grpc` on Postgres, and in the same run to a bare grpc.aio + asyncpg
baseline (bench/grpc_baseline.py). Prints throughput, p50/p99, the service's peak RSS and the
ratio service/baseline (medians over the rounds).

Run: ``python bench/grpc_reads.py [--rounds 3] [--seconds 10] [--connections 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.protobuf.message import Message

from bench.common import (
    ROOT,
    SUB_ACCOUNT,
    Keys,
    LoadResult,
    asyncpg_dsn,
    cpu_seconds,
    create_ghl_integration,
    fake_ghl,
    free_port,
    fresh_database,
    machine,
    median,
    migrate,
    print_rows,
    ratio,
    require,
    service_env,
    start_service,
    wait_for_port,
)
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc

INTEGRATIONS = 50
PAGE = 20
METHOD = "/integrations.v1.IntegrationService/{}"
_FINISHED = re.compile(r"finished in ([0-9.]+)s, ([0-9.]+) req/s")
_REQUESTS = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded")
_DATA = re.compile(r"traffic: .*?(\d+) \(\d+\) data")


@dataclass
class Run:
    rpc: str
    round: int
    variant: str
    result: LoadResult
    cpu_us_per_request: float
    peak_rss_mib: float | None


def framed(message: Message) -> bytes:
    """A gRPC message on the wire: uncompressed flag, big-endian length, the protobuf."""
    payload = message.SerializeToString()
    return struct.pack(">BI", 0, len(payload)) + payload


async def run_h2load(
    url: str, body: Path, token: str, log: Path, *, connections: int, seconds: float
) -> LoadResult:
    args = [
        "h2load",
        "-t2",
        f"-c{connections}",
        "-m1",
        f"-D{seconds:g}",
        "--warm-up-time=1",
        f"--data={body}",
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        "-H",
        f"authorization: Bearer {token}",
        f"--log-file={log}",
        url,
    ]
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out = (await asyncio.wait_for(process.communicate(), timeout=seconds + 60))[0].decode()
    finished = _FINISHED.search(out)
    counts = _REQUESTS.search(out)
    if finished is None or counts is None:
        raise RuntimeError(f"h2load printed no result:\n{out}")
    latencies = sorted(int(line.split("\t")[2]) for line in log.read_text().splitlines())
    done, succeeded = int(counts.group(3)), int(counts.group(4))

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, round(p / 100 * (len(latencies) - 1)))] / 1000

    return LoadResult(
        requests=done,
        seconds=float(finished.group(1)),
        p50_ms=pct(50),
        p99_ms=pct(99),
        failed=done - succeeded,
    )


async def check(port: int, method: str, request: Message, token: str) -> int:
    """Call once with a real client: the answer must be OK (h2load sees HTTP 200 whatever the
    gRPC status). Returns the framed size of the answer."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = integration_service_pb2_grpc.IntegrationServiceStub(channel)
        response = await getattr(stub, method)(
            request, metadata=(("authorization", f"Bearer {token}"),), timeout=10
        )
    return len(framed(response))


async def main(args: argparse.Namespace) -> None:
    require("h2load")
    keys = Keys()
    workdir = Path(tempfile.mkdtemp(prefix="bench-grpc-"))
    token = keys.token("user", SUB_ACCOUNT)
    print(f"# gRPC reads: {machine()}")
    print(
        f"h2load -t2 -c{args.connections} -m1 -D{args.seconds:g} --warm-up-time=1, "
        f"{args.rounds} round(s); files in {workdir}\n",
        flush=True,
    )
    runs: list[Run] = []
    async with fake_ghl() as (ghl_url, _), fresh_database() as url:
        env = service_env(url, keys, workdir, ghl_url=ghl_url)
        migrate(env)
        setup = start_service(env, workdir / "service.log", only="grpc")
        try:
            assert setup.grpc_port is not None
            ids = [await create_ghl_integration(setup.grpc_port, keys) for _ in range(INTEGRATIONS)]
        finally:
            setup.stop()
        requests: dict[str, Message] = {
            "GetIntegration": pb.GetIntegrationRequest(name=f"integrations/{ids[0]}"),
            "ListIntegrations": pb.ListIntegrationsRequest(
                sub_account_id=SUB_ACCOUNT, page_size=PAGE
            ),
        }
        bodies = {}
        for rpc, request in requests.items():
            bodies[rpc] = workdir / f"{rpc}.bin"
            bodies[rpc].write_bytes(framed(request))
        for round_ in range(args.rounds):
            for variant in ("service", "baseline") if round_ % 2 == 0 else ("baseline", "service"):
                if variant == "service":
                    service = start_service(env, workdir / "service.log", only="grpc")
                    port, pid = service.grpc_port, service.pid
                    assert port is not None
                else:
                    port = free_port()
                    baseline = subprocess.Popen(
                        [
                            sys.executable,
                            str(ROOT / "bench" / "grpc_baseline.py"),
                            "--port",
                            str(port),
                            "--dsn",
                            asyncpg_dsn(url),
                            "--uvloop",
                        ],
                        stdout=subprocess.PIPE,
                        cwd=ROOT,
                    )
                    assert baseline.stdout is not None
                    baseline.stdout.readline()
                    wait_for_port(port)
                    pid = baseline.pid
                try:
                    for rpc, request in requests.items():
                        size = await check(port, rpc, request, token)
                        before = cpu_seconds(pid)
                        result = await run_h2load(
                            f"http://127.0.0.1:{port}{METHOD.format(rpc)}",
                            bodies[rpc],
                            token,
                            workdir / "h2load.log",
                            connections=args.connections,
                            seconds=args.seconds,
                        )
                        cpu = (cpu_seconds(pid) - before) / max(1, result.requests) * 1e6
                        runs.append(Run(rpc, round_, variant, result, cpu, None))
                        print(
                            f"round {round_} {rpc:16} {variant:8} {result.rps:7,.0f} req/s "
                            f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:6.2f} ms "
                            f"failed {result.failed} answer {size} B CPU {cpu:.0f} us/req "
                            "(incl. warm-up)",
                            flush=True,
                        )
                finally:
                    if variant == "service":
                        _, peak = service.stop()
                        for run in runs[-len(requests) :]:
                            run.peak_rss_mib = peak
                    else:
                        baseline.terminate()
                        baseline.wait(timeout=30)
    print()
    for rpc in requests:
        mine = [r for r in runs if r.rpc == rpc]
        rows = []
        for variant in ("baseline", "service"):
            selected = [r for r in mine if r.variant == variant]
            rss = [r.peak_rss_mib for r in selected if r.peak_rss_mib is not None]
            rows.append(
                [
                    "bare grpc.aio + asyncpg" if variant == "baseline" else "the service",
                    median(r.result.rps for r in selected),
                    median(r.result.p50_ms for r in selected),
                    median(r.result.p99_ms for r in selected),
                    sum(r.result.failed for r in selected),
                    f"{max(rss):.0f} MiB" if rss else "",
                ]
            )
        print(f"## {rpc}: medians of {args.rounds} run(s)\n")
        print_rows(["", "req/s", "p50 ms", "p99 ms", "failed", "peak RSS"], rows)
        by = {(r.round, r.variant): r for r in mine}
        value = median(
            ratio(by[(n, "service")].result.rps, by[(n, "baseline")].result.rps)
            for n in range(args.rounds)
        )
        print(f"\n- service / bare baseline (req/s): {value:.2f}\n", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    return parser


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args()))

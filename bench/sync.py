"""Benchmark 4: sync. 10,000 contacts pulled from the fake GHL, which enforces GHL's real limit
(100 requests per 10 s window, per location), by `SyncIntegration` on `integrations serve
--only grpc` over Postgres. Prints the wall time, the GHL requests made and the 429s received
(should be 0), and the ratio of the fastest time the limit allows for those requests (whole
windows of 100 at most) to the wall time; plus the CPU seconds the sync took in the service, in
the Postgres server processes serving it (when the server runs on this machine) and in this
process (the fake GHL and the gRPC client), which share the machine's cores; and the peak RSS.

Run: ``python bench/sync.py [--contacts 10000] [--rounds 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

from adapters.ghl.fake import RateLimitConfig
from adapters.ghl.fake.seed import DEFAULT_SEED
from bench.common import (
    LOCATION,
    Keys,
    cpu_seconds,
    create_ghl_integration,
    fake_ghl,
    fresh_database,
    machine,
    median,
    migrate,
    print_rows,
    service_env,
    sql,
    start_service,
)
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc

# GHL's limit per location (reference/ghl/rate-limit-headers.json).
WINDOW_SECONDS = 10.0
WINDOW_REQUESTS = 100
PAGE = 500
"""Contacts per search page the sync asks for (GHL's maximum)."""


def seed(contacts: int) -> dict[str, Any]:
    """The fake's demo location with `contacts` contacts, changed over the last month."""
    data = copy.deepcopy(DEFAULT_SEED)
    start = datetime.now(UTC) - timedelta(days=30)
    data["contacts"] = [
        {
            "id": f"benchContact{index:08d}",
            "locationId": LOCATION,
            "firstName": "Bench",
            "lastName": f"Contact {index}",
            "email": f"contact{index}@example.com",
            "phone": f"+1312555{index % 10000:04d}",
            "postalCode": "60601",
            "country": "US",
            "tags": ["bench"],
            "customFields": [],
            "dateAdded": _iso(start + timedelta(seconds=index * 60)),
            "dateUpdated": _iso(start + timedelta(seconds=index * 60 + 30)),
        }
        for index in range(contacts)
    ]
    return data


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def database_cpu_seconds(url: str) -> dict[int, float]:
    """The CPU seconds so far of each server process connected to the database (the
    service's), by pid; NaN when the server is not on this machine."""
    rows = await sql(
        url,
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    return {pid: cpu_seconds(pid) for (pid,) in rows}


def ceiling_seconds(requests: int, per_window: int, window: float) -> float:
    """The least time `requests` can take under the limit: a window admits `per_window`, the
    next one opens `window` seconds after the first request of the previous one."""
    return max(0, math.ceil(requests / per_window) - 1) * window


async def one_round(args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    keys = Keys()
    limit = RateLimitConfig(args.window_requests, int(args.window_seconds * 1000))
    async with (
        fake_ghl(seed(args.contacts), rate_limit=limit) as (ghl_url, fake),
        fresh_database() as url,
    ):
        env = service_env(url, keys, workdir, ghl_url=ghl_url)
        migrate(env)
        service = start_service(env, workdir / "service.log", only="grpc")
        try:
            assert service.grpc_port is not None
            integration = await create_ghl_integration(service.grpc_port, keys)
            await asyncio.sleep(args.window_seconds)  # a fresh window: creating it made requests
            fake.log.clear()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
                stub = integration_service_pb2_grpc.IntegrationServiceStub(channel)
                db_before = await database_cpu_seconds(url)
                cpu_before = cpu_seconds(service.pid)
                bench_cpu_before = time.process_time()
                started = time.monotonic()
                result = await stub.SyncIntegration(
                    pb.SyncIntegrationRequest(name=f"integrations/{integration}"),
                    metadata=(("authorization", f"Bearer {keys.token()}"),),
                    timeout=1800,
                )
                wall = time.monotonic() - started
                cpu = cpu_seconds(service.pid) - cpu_before
                bench_cpu = time.process_time() - bench_cpu_before
                db_after = await database_cpu_seconds(url)
        finally:
            _, peak = service.stop()
        requests = [r for r in fake.log if r.status is not None]
        leads = (await sql(url, "SELECT count(*) FROM leads"))[0][0]
    too_many = sum(1 for r in requests if r.status == 429)
    ceiling = ceiling_seconds(len(requests), args.window_requests, args.window_seconds)
    # The steady pace the limit allows, in contacts: full pages at the window's rate.
    allowed_rate = PAGE * args.window_requests / args.window_seconds
    return {
        "wall_s": wall,
        "requests": len(requests),
        "429s": too_many,
        "pulled": result.sync_run.pulled_count,
        "leads": leads,
        "ceiling_s": ceiling,
        "ratio": ceiling / wall if wall else float("nan"),
        "contacts_per_s": args.contacts / wall if wall else float("nan"),
        "contacts_per_s / allowed": args.contacts / wall / allowed_rate if wall else 0.0,
        "service_cpu_s": cpu,
        "service_cpu_us / contact": cpu / args.contacts * 1e6,
        "postgres_cpu_s": sum(db_after[pid] - db_before.get(pid, 0.0) for pid in db_after),
        "bench_cpu_s": bench_cpu,
        "peak_rss_mib": peak,
        "state": float(result.sync_run.state),
    }


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    print(f"# Sync: {machine()}")
    print(
        f"{args.contacts} contacts, the fake GHL at {args.window_requests} requests / "
        f"{args.window_seconds:g} s, {args.rounds} round(s); files in {workdir}\n",
        flush=True,
    )
    rounds = []
    for n in range(args.rounds):
        figures = await one_round(args, workdir)
        rounds.append(figures)
        print(f"round {n}: " + ", ".join(f"{k} {v:,.2f}" for k, v in figures.items()), flush=True)
    print()
    print_rows(
        ["", "median"],
        [[name, median(r[name] for r in rounds)] for name in rounds[0]],
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--window-requests", type=int, default=WINDOW_REQUESTS, help="the fake's limit"
    )
    parser.add_argument("--window-seconds", type=float, default=WINDOW_SECONDS)
    return parser


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args()))

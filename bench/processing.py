"""Benchmark 2: processing. Signed ContactCreate deliveries posted at a fixed rate to the whole
service (`integrations serve`: webhooks, worker, gRPC in one process): the time from each 200
to its lead being stored (the delivery's ``processed_at``, stamped in the transaction that
stores the lead), p50 and p99; then the inbox drain rate: a backlog stored with the worker off,
drained by `integrations serve --only worker`. Load: a Python client in this process (a fixed,
modest rate needs no wrk). Peak RSS of each service process.

Run: ``python bench/processing.py [--rate 50] [--seconds 10] [--backlog 3000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import (
    PATHS,
    Keys,
    contact_body,
    create_ghl_integration,
    fake_ghl,
    fresh_database,
    machine,
    migrate,
    print_rows,
    service_env,
    sql,
    start_service,
)

SCHEME = "ed25519"
_PENDING = (
    "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing', 'failed')"
)


async def post(
    session: aiohttp.ClientSession, url: str, keys: Keys, body: bytes
) -> tuple[int, float]:
    """POST one signed delivery; its status and the wall-clock time of the answer."""
    header, signature = keys.sign(SCHEME, body)
    async with session.post(
        url, data=body, headers={header: signature, "Content-Type": "application/json"}
    ) as response:
        await response.read()
        return response.status, time.time()


async def paced(url: str, keys: Keys, *, rate: float, seconds: float) -> dict[str, float]:
    """Deliveries at `rate` per second for `seconds`: webhookId -> when its 200 arrived."""
    answered: dict[str, float] = {}
    count = int(rate * seconds)
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:

        async def one(index: int) -> None:
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            body = contact_body("paced", index)
            status, at = await post(session, url, keys, body)
            if status == 200:
                answered[_webhook_id(body)] = at

        await asyncio.gather(*(one(i) for i in range(count)))
    return answered


def _webhook_id(body: bytes) -> str:
    import json

    webhook_id: str = json.loads(body)["webhookId"]
    return webhook_id


async def backlog(url: str, keys: Keys, count: int, *, concurrency: int = 32) -> int:
    """Store `count` deliveries as fast as `concurrency` clients go; returns how many got 200."""
    ok = 0
    queue = iter(range(count))
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            nonlocal ok
            for index in queue:
                status, _ = await post(session, url, keys, contact_body("backlog", index))
                ok += status == 200

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return ok


async def wait_drained(url: str, *, within: float) -> float:
    """Seconds until nothing is left to process (bounded by `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if (await sql(url, _PENDING))[0][0] == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the inbox was not drained within {within:.0f} s")


async def main(args: argparse.Namespace) -> None:
    keys = Keys()
    workdir = Path(tempfile.mkdtemp(prefix="bench-processing-"))
    print(f"# Processing: {machine()}")
    print(
        f"{args.rate:g} deliveries/s for {args.seconds:g} s to `integrations serve`, then a "
        f"backlog of {args.backlog} drained by `serve --only worker`; files in {workdir}\n",
        flush=True,
    )
    async with fake_ghl() as (ghl_url, _), fresh_database() as url:
        env = service_env(url, keys, workdir, ghl_url=ghl_url)
        migrate(env)
        service = start_service(env, workdir / "service.log")
        try:
            assert service.grpc_port is not None
            await create_ghl_integration(service.grpc_port, keys)
            target = f"http://127.0.0.1:{service.webhook_port}{PATHS[SCHEME]}"
            answered = await paced(target, keys, rate=args.rate, seconds=args.seconds)
            await wait_drained(url, within=120)
        finally:
            _, serve_rss = service.stop()
        rows = await sql(
            url,
            "SELECT delivery_id, EXTRACT(EPOCH FROM processed_at) FROM webhook_deliveries "
            "WHERE status = 'done'",
        )
        leads = (await sql(url, "SELECT count(*) FROM leads"))[0][0]
        latencies = sorted((float(at) - answered[d]) * 1000 for d, at in rows if d in answered)
        sent = int(args.rate * args.seconds)

        await sql(url, "TRUNCATE webhook_deliveries, leads")
        ingest = start_service(env, workdir / "service.log", only="webhooks")
        try:
            target = f"http://127.0.0.1:{ingest.webhook_port}{PATHS[SCHEME]}"
            stored = await backlog(target, keys, args.backlog)
        finally:
            ingest.stop()
        worker = start_service(env, workdir / "service.log", only="worker")
        try:
            drain_seconds = await wait_drained(url, within=600)
        finally:
            _, worker_rss = worker.stop()
        drained_leads = (await sql(url, "SELECT count(*) FROM leads"))[0][0]

    print_rows(
        ["", "value"],
        [
            ["deliveries sent / answered 200", f"{sent} / {len(answered)}"],
            ["leads stored (one per contact)", leads],
            ["200 -> lead stored, p50 (ms)", _percentile(latencies, 50)],
            ["200 -> lead stored, p99 (ms)", _percentile(latencies, 99)],
            ["200 -> lead stored, max (ms)", latencies[-1] if latencies else float("nan")],
            ["peak RSS, serve (MiB)", serve_rss],
            ["backlog stored / leads after drain", f"{stored} / {drained_leads}"],
            ["drain time (s)", drain_seconds],
            ["drain rate (deliveries/s)", stored / drain_seconds if drain_seconds else 0.0],
            ["peak RSS, worker (MiB)", worker_rss],
        ],
    )


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backlog", type=int, default=3000)
    return parser


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args()))

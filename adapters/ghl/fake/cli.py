"""``integrations fake-ghl``: run the fake GHL on loopback."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from adapters.ghl.fake.app import create_app
from adapters.ghl.fake.core import FAKE_GHL
from adapters.ghl.fake.faults import FaultPlan
from adapters.ghl.fake.limits import RateLimitConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="integrations fake-ghl",
        description="A stateful fake of GoHighLevel's API v2, for tests, benchmarks and demos.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--seed", type=Path, help="JSON seed file (default: a demo location)")
    p.add_argument("--webhook-url", help="where to POST signed webhooks when data changes")
    p.add_argument("--webhook-retry-delay", type=float, default=600.0, metavar="SECONDS")
    p.add_argument(
        "--validate-against",
        type=Path,
        metavar="DIR",
        help="GHL's openapi/ folder: check every request against the specs",
    )
    p.add_argument("--rate-limit-max", type=int, default=100, help="requests per interval")
    p.add_argument("--rate-limit-interval-ms", type=int, default=10_000)
    p.add_argument("--daily-limit", type=int, default=200_000)
    p.add_argument("--error-rate", type=float, default=0.0, help="share of answers that fail")
    p.add_argument("--error-status", type=int, default=503)
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--timeout-rate", type=float, default=0.0, help="share of answers held back")
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped")
    p.add_argument("--random-seed", type=int, help="make ids and fault draws reproducible")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    app = create_app(
        args.seed,
        rate_limit=RateLimitConfig(
            args.rate_limit_max, args.rate_limit_interval_ms, args.daily_limit
        ),
        faults=FaultPlan(
            error_rate=args.error_rate,
            error_status=args.error_status,
            latency_ms=args.latency_ms,
            timeout_rate=args.timeout_rate,
            drop_rate=args.drop_rate,
        ),
        webhook_url=args.webhook_url,
        webhook_retry_delay=args.webhook_retry_delay,
        validate_requests_against=args.validate_against,
        random_seed=args.random_seed,
    )
    print("Webhook signing key (Ed25519, x-ghl-signature):")
    print(app[FAKE_GHL].webhooks.public_key_pem(), flush=True)
    web.run_app(app, host=args.host, port=args.port, print=print)
    return 0

"""``integrations fake-meta``: run the fake Meta on loopback."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from adapters.meta.fake.app import create_app
from adapters.meta.fake.core import FAKE_META


class _AccessLogger(AbstractAccessLogger):
    """The access log without query strings: Graph clients send ``access_token`` there."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="integrations fake-meta",
        description="A stateful fake of Meta's Graph API (Lead Ads, Conversions API, Facebook "
        "Login) and of its leadgen webhooks, for tests and demos. Control routes under /_fake/.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8091)
    p.add_argument("--seed", type=Path, help="JSON seed file (default: a demo app and pages)")
    p.add_argument("--webhook-url", help="the service's Meta webhook route, e.g. .../webhooks/meta")
    p.add_argument(
        "--require-appsecret-proof",
        action="store_true",
        help="refuse user and page tokens sent without appsecret_proof",
    )
    p.add_argument("--usage-step", type=float, default=0.1, metavar="PERCENT",
                   help="how much X-App-Usage rises per call")  # fmt: skip
    p.add_argument("--random-seed", type=int, help="make ids reproducible")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    app = create_app(
        args.seed,
        webhook_url=args.webhook_url,
        require_appsecret_proof=args.require_appsecret_proof,
        usage_step_percent=args.usage_step,
        random_seed=args.random_seed,
    )
    fake = app[FAKE_META]
    print(f"Fake Meta app {fake.state.app_id}; pages: {', '.join(fake.state.pages)}", flush=True)
    user = fake.login.user(fake.login.plan.user_id)
    if user is not None:
        print(
            f"Facebook Login at /{{version}}/dialog/oauth signs in {user['name']} "
            "(PUT /_fake/login to change who and what they grant)",
            flush=True,
        )
    web.run_app(app, host=args.host, port=args.port, print=print, access_log_class=_AccessLogger)
    return 0

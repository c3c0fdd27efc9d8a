"""``integrations fake-ga4``: run the fake GA4 on loopback."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from aiohttp import web

from adapters.ga4.fake.app import create_app
from adapters.ga4.fake.seed import (
    AGENCY_USER_EMAIL,
    DEMO_API_SECRET,
    DEMO_MEASUREMENT_ID,
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    DEMO_PROPERTY_ID,
    DEMO_USER_EMAIL,
    NO_ANALYTICS_USER_EMAIL,
    service_account_key,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="integrations fake-ga4",
        description="A fake of GA4's Measurement Protocol and Admin API, for tests and demos.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8091)
    p.add_argument(
        "--user",
        default=DEMO_USER_EMAIL,
        choices=[DEMO_USER_EMAIL, AGENCY_USER_EMAIL, NO_ANALYTICS_USER_EMAIL],
        help="the Google user the sign-in page signs in: one web stream, three, or none",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base = f"http://{args.host}:{args.port}"
    print(f"GA4_MP_BASE_URL={base} GA4_ADMIN_BASE_URL={base} GA4_TOKEN_URL={base}/token")
    print(f"propertyId={DEMO_PROPERTY_ID} measurementId={DEMO_MEASUREMENT_ID}")
    print(f"apiSecret={DEMO_API_SECRET}")
    print(
        f"GOOGLE_OAUTH_AUTHORIZE_URL={base}/o/oauth2/v2/auth GOOGLE_OAUTH_TOKEN_URL={base}/token "
        f"GOOGLE_OAUTH_CLIENT_ID={DEMO_OAUTH_CLIENT_ID} "
        f"GOOGLE_OAUTH_CLIENT_SECRET={DEMO_OAUTH_CLIENT_SECRET}"
    )
    print(f"signing in as {args.user}")
    print("serviceAccountKey (a demo key, generated for this run):")
    print(service_account_key(f"{base}/token"), flush=True)
    web.run_app(create_app(user=args.user), host=args.host, port=args.port, print=print)
    return 0

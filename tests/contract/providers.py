"""The providers under contract: what each one's tests need to drive it as the service does (its
webhook sender, how it signs, an account its test credentials reach, its connection test against
its fake on loopback). A new provider adds one entry to `PROVIDERS`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from aiohttp.test_utils import TestServer

from adapters.clock import SystemClock
from adapters.crypto.signatures import (
    APP_HMAC_HEADER,
    WebhookSignatureVerifier,
    app_hmac_signature,
)
from adapters.ga4.fake.seed import DEMO_MEASUREMENT_ID
from adapters.ga4.provider import Ga4Provider, stream_account
from adapters.ga4.template import TEMPLATES as GA4_TEMPLATES
from adapters.ghl.client import HttpGhlClient
from adapters.ghl.fake import create_app
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from adapters.ghl.provider import GhlProvider
from adapters.ghl.templates import TEMPLATES as GHL_TEMPLATES
from adapters.ghl.webhooks import GhlWebhooks, location_account
from adapters.meta.fake import create_app as create_fake_meta
from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_VERIFY_TOKEN,
)
from adapters.meta.graph import MetaGraph
from adapters.meta.provider import MetaProvider
from adapters.meta.settings import MetaSettings
from adapters.meta.template import TEMPLATES as META_TEMPLATES
from adapters.meta.webhooks import MetaWebhooks, page_account
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import (
    Credentials,
    IntegrationProvider,
    ProviderContext,
    SignatureVerifier,
    WebhookSender,
)
from domain.values import ProviderAccount, SecretStr
from tests.fakes import FixedClock
from tests.integration.ga4.support import ga4_context, running_ga4
from tests.integration.ghl.support import FAST_RETRY, FAST_TIMEOUTS
from tests.integration.webhooks.support import Signer


@dataclass(frozen=True)
class Connection:
    """A provider's connection test, and contexts with credentials that do and do not work."""

    provider: IntegrationProvider
    good: ProviderContext
    bad: ProviderContext


@dataclass(frozen=True)
class ProviderUnderTest:
    name: str
    templates: tuple[Mapping[str, Any], ...]
    sender: WebhookSender | None
    """None for a provider that receives no webhooks."""
    account: ProviderAccount
    """An account the test credentials reach."""
    verifier: Callable[[], SignatureVerifier]
    delivery: Callable[[str], bytes]
    """The body of a delivery for `account`, with the sender's own delivery id."""
    sign: Callable[[bytes], dict[str, str]]
    """Headers that sign a body as the provider does."""
    connection: Callable[[], AbstractAsyncContextManager[Connection]]
    batches: bool = False
    """The sender batches several accounts' changes into one body: a change for an account
    nobody owns is kept as the platform's rather than refused (the others go on)."""


def _context(template: str, config: dict[str, Any], secret: str, token: str) -> ProviderContext:
    """A contract test's integration of `template`, its credential `secret` set to `token`."""
    return ProviderContext(
        integration_id="contract-integration",
        sub_account_id="contract-sub-account",
        template_name=template,
        config=config,
        credentials=Credentials({secret: SecretStr(token)}),
        rate_limit_per_minute=6000,
    )


def _ghl_context(token: str) -> ProviderContext:
    return _context("gohighlevel", {"locationId": DEMO_LOCATION_ID}, "apiKey", token)


@asynccontextmanager
async def _ghl_connection() -> AsyncIterator[Connection]:
    server = TestServer(create_app(random_seed=7), host="127.0.0.1", port=0)
    await server.start_server()
    client = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        base_url=str(server.make_url("")).rstrip("/"),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    try:
        yield Connection(
            GhlProvider(client), _ghl_context(DEMO_PRIVATE_TOKEN), _ghl_context("pit-revoked")
        )
    finally:
        await client.close()
        await server.close()


def _ghl_delivery(delivery_id: str) -> bytes:
    return json.dumps(
        {
            "type": "ContactCreate",
            "locationId": DEMO_LOCATION_ID,
            "id": "contract-contact",
            "webhookId": delivery_id,
        }
    ).encode()


@asynccontextmanager
async def _ga4_connection() -> AsyncIterator[Connection]:
    async with running_ga4() as running:
        yield Connection(
            Ga4Provider(running.http, clock=FixedClock()),
            ga4_context(key=running.key),
            ga4_context(key=running.key, api_secret="pit-revoked"),
        )


def _receives_no_webhooks(*_: object) -> NoReturn:
    raise AssertionError("this provider receives no webhooks")


_GHL_SIGNER = Signer()


META_SETTINGS = MetaSettings(
    app_id=DEMO_APP_ID,
    app_secret=SecretStr(DEMO_APP_SECRET),
    webhook_verify_token=SecretStr(DEMO_VERIFY_TOKEN),
)


def _meta_context(token: str) -> ProviderContext:
    return _context("facebook_ads", {"pageId": DEMO_PAGE_ID}, "accessToken", token)


@asynccontextmanager
async def _meta_connection() -> AsyncIterator[Connection]:
    server = TestServer(create_fake_meta(random_seed=7), host="127.0.0.1", port=0)
    await server.start_server()
    graph = MetaGraph(
        replace(META_SETTINGS, graph_base_url=str(server.make_url("")).rstrip("/")),
        rate_limiter=TokenBucketRateLimiter(),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    try:
        yield Connection(
            MetaProvider(graph, clock=SystemClock()),
            _meta_context(DEMO_PAGE_TOKEN),
            _meta_context("pit-revoked"),
        )
    finally:
        await graph.close()
        await server.close()


def _meta_delivery(delivery_id: str) -> bytes:
    """One leadgen change in Meta's batch envelope, sent now (the suite's clock)."""
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": DEMO_PAGE_ID,
                    "time": 1772443800,
                    "changes": [
                        {
                            "field": "leadgen",
                            "value": {
                                "leadgen_id": delivery_id,
                                "page_id": DEMO_PAGE_ID,
                                "form_id": "987654321098765",
                                "created_time": 1772443800,
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def _meta_sign(body: bytes) -> dict[str, str]:
    return {APP_HMAC_HEADER: app_hmac_signature(META_SETTINGS.app_secret, body)}


PROVIDERS = (
    ProviderUnderTest(
        name="ghl",
        templates=GHL_TEMPLATES,
        sender=GhlWebhooks(),
        account=location_account(DEMO_LOCATION_ID),
        verifier=_GHL_SIGNER.verifier,
        delivery=_ghl_delivery,
        sign=_GHL_SIGNER.ghl,
        connection=_ghl_connection,
    ),
    ProviderUnderTest(
        name="ga4",
        templates=GA4_TEMPLATES,
        sender=None,
        account=stream_account(DEMO_MEASUREMENT_ID),
        verifier=_receives_no_webhooks,
        delivery=_receives_no_webhooks,
        sign=_receives_no_webhooks,
        connection=_ga4_connection,
    ),
    ProviderUnderTest(
        name="meta",
        templates=META_TEMPLATES,
        sender=MetaWebhooks(verify_token=META_SETTINGS.webhook_verify_token),
        account=page_account(DEMO_PAGE_ID),
        verifier=lambda: WebhookSignatureVerifier(app_secret=META_SETTINGS.app_secret),
        delivery=_meta_delivery,
        sign=_meta_sign,
        connection=_meta_connection,
        batches=True,
    ),
)

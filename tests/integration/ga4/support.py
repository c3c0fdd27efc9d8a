"""Helpers of the GA4 adapter tests: the fake GA4 on a loopback port, a Ga4Http pointed at it,
and integration contexts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestServer

from adapters.ga4.client import Ga4Http
from adapters.ga4.fake import FAKE_GA4, FakeGa4, create_app
from adapters.ga4.fake.seed import (
    DEMO_API_SECRET,
    DEMO_MEASUREMENT_ID,
    DEMO_PROPERTY_ID,
    service_account_key,
)
from adapters.ga4.settings import Ga4Settings
from adapters.http import HttpTimeouts, RetryPolicy
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import Credentials, ProviderCall, ProviderContext
from domain.values import SecretStr
from tests.support.reference import provider_reference

GA4_EXAMPLES = provider_reference("ga4") / "examples"

FAST_RETRY = RetryPolicy(
    max_attempts=4, base_delay=0.02, max_delay=0.1, total_seconds=5.0, rate_limit_wait=2.0
)
FAST_TIMEOUTS = HttpTimeouts(connect=1.0, read=2.0)


@dataclass(frozen=True)
class RunningGa4:
    url: str
    fake: FakeGa4
    http: Ga4Http

    @property
    def key(self) -> str:
        """The demo service account's JSON key, its token_uri the fake's."""
        return service_account_key(f"{self.url}/token")


def settings_for(url: str, *, eu_url: str | None = None) -> Ga4Settings:
    return Ga4Settings(
        mp_base_url=url,
        mp_eu_base_url=eu_url or url,
        admin_base_url=url,
        token_url=f"{url}/token",
    )


@asynccontextmanager
async def running_ga4(**fake_kwargs: Any) -> AsyncIterator[RunningGa4]:
    app = create_app(**fake_kwargs)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    http = Ga4Http(
        rate_limiter=TokenBucketRateLimiter(),
        settings=settings_for(url),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    try:
        yield RunningGa4(url, app[FAKE_GA4], http)
    finally:
        await http.close()
        await server.close()


def ga4_context(
    *,
    key: str | None,
    api_secret: str = DEMO_API_SECRET,
    measurement_id: str = DEMO_MEASUREMENT_ID,
    property_id: str | None = DEMO_PROPERTY_ID,
    **config: Any,
) -> ProviderContext:
    secrets = {"apiSecret": SecretStr(api_secret)}
    if key is not None:
        secrets["serviceAccountKey"] = SecretStr(key)
    full_config: dict[str, Any] = {"measurementId": measurement_id, **config}
    if property_id is not None:
        full_config["propertyId"] = property_id
    return ProviderContext(
        integration_id="ga4-integration",
        sub_account_id="sa-1",
        template_name="google_analytics",
        config=full_config,
        credentials=Credentials(secrets),
        rate_limit_per_minute=6000,
    )


def ga4_call(**kwargs: Any) -> ProviderCall:
    return ProviderCall.of(ga4_context(key=None, **kwargs))

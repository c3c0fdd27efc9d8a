"""Builders of the Meta adapter's unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.meta.auth import PageAuth
from adapters.meta.graph import MetaGraph
from adapters.meta.settings import MetaSettings
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import Credentials, ProviderCall
from domain.values import SecretStr

APP_ID = "1122334455667788"
PAGE_ID = "104561234567890"
PAGE_TOKEN = "EAAGpage-token-0123456789abcdef"
SETTINGS = MetaSettings(
    app_id=APP_ID,
    app_secret=SecretStr("3f1c0a9be2d84c7f9a6b5e4d3c2b1a00"),
    webhook_verify_token=SecretStr("my-verify-token-123"),
)


def meta_call(
    *, integration_id: str = "fb-1", token: str = PAGE_TOKEN, **config: Any
) -> ProviderCall:
    return ProviderCall(
        integration_id=integration_id,
        sub_account_id="sa-1",
        template_name="facebook_ads",
        config={"pageId": PAGE_ID, **config},
        credentials=Credentials({"accessToken": SecretStr(token)}),
        rate_limit_per_minute=6000,
    )


class RecordingGraph(MetaGraph):
    """A MetaGraph whose Conversions API call is recorded instead of sent."""

    def __init__(self) -> None:
        super().__init__(SETTINGS, rate_limiter=TokenBucketRateLimiter())
        self.sent: list[tuple[str, str, list[Mapping[str, Any]]]] = []

    async def send_events(
        self, page: PageAuth, dataset_id: str, events: Sequence[Mapping[str, Any]]
    ) -> int:
        self.sent.append((page.page_id, dataset_id, list(events)))
        return len(events)

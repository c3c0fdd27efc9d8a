"""Ga4Http: GA4's two APIs through the shared outbound HTTP machinery: the Measurement Protocol's
collection hosts (global and EU) and the Admin API's reads, rate-limited per property."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

from adapters.ga4.config import Ga4Config
from adapters.ga4.http_policy import Ga4Call, Ga4HttpPolicy
from adapters.ga4.settings import Ga4Settings
from adapters.http import HttpAnswer, HttpRequest, HttpTimeouts, ProviderHttpClient, RetryPolicy
from application.ports.rate_limits import RateLimiter
from domain.errors import ProviderError

_MAX_PAGES = 50
"""A listing that pages on past this is not the Admin API's."""


class Ga4Http:
    """Create it once per process and `close()` it at shutdown; its sessions open on first use."""

    def __init__(
        self,
        *,
        rate_limiter: RateLimiter,
        settings: Ga4Settings | None = None,
        timeouts: HttpTimeouts = HttpTimeouts(),
        retry: RetryPolicy = RetryPolicy(),
        rng: random.Random | None = None,
    ) -> None:
        policy = Ga4HttpPolicy()
        settings = settings or Ga4Settings()

        def client(base_url: str) -> ProviderHttpClient[Ga4Call]:
            return ProviderHttpClient(
                policy,
                rate_limiter=rate_limiter,
                base_url=base_url,
                timeouts=timeouts,
                retry=retry,
                rng=rng,
            )

        self.settings = settings
        self._collect = {
            region: client(settings.mp_base_url_for(region)) for region in ("global", "eu")
        }
        self._admin = client(settings.admin_base_url)

    async def close(self) -> None:
        for client in (*self._collect.values(), self._admin):
            await client.close()

    async def collect(
        self, call: Ga4Call, config: Ga4Config, body: dict[str, Any], *, debug: bool
    ) -> HttpAnswer:
        """POST one Measurement Protocol request to the integration's collection host, or to its
        validation server. Repeating it after a lost answer may count its events twice in GA4,
        never invent one: it is sent again, as the outbox would anyway."""
        request = HttpRequest(
            "POST",
            "/debug/mp/collect" if debug else "/mp/collect",
            idempotent=True,
            params={
                "measurement_id": config.measurement_id,
                "api_secret": config.api_secret.reveal(),
            },
            json=body,
        )
        return await self._collect[config.region].call(call, request)

    async def list_account_summaries(self, call: Ga4Call) -> list[dict[str, Any]]:
        """The accounts and properties the bearer (a person who signed in) may read."""
        return await self._list(
            call, "/v1beta/accountSummaries", "accountSummaries", 200, ("accounts", "of the user")
        )

    async def get_property(self, call: Ga4Call, property_name: str) -> dict[str, Any]:
        """`property_name`: ``properties/{p}``."""
        return await self._get(call, property_name, "property")

    async def get_data_stream(self, call: Ga4Call, stream_name: str) -> dict[str, Any]:
        """`stream_name`: ``properties/{p}/dataStreams/{s}``."""
        return await self._get(call, stream_name, "data stream")

    async def create_mp_secret(
        self, call: Ga4Call, stream_name: str, display_name: str
    ) -> dict[str, Any]:
        """A new Measurement Protocol secret of the stream (needs the analytics.edit scope, and
        the property's acknowledgement of user data collection). Not repeated after a lost
        answer: that would make two."""
        answer = await self._admin.call(
            call,
            HttpRequest(
                "POST",
                f"/v1beta/{quote(stream_name, safe='/')}/measurementProtocolSecrets",
                idempotent=False,
                json={"displayName": display_name},
                resource=("data stream", stream_name),
            ),
        )
        return answer.body if isinstance(answer.body, dict) else {}

    async def list_data_streams(self, call: Ga4Call, property_id: str) -> list[dict[str, Any]]:
        path = f"/v1beta/properties/{quote(property_id, safe='')}/dataStreams"
        return await self._list(call, path, "dataStreams", 200, ("property", property_id))

    async def list_mp_secrets(self, call: Ga4Call, stream_name: str) -> list[dict[str, Any]]:
        """`stream_name`: the stream's resource name, ``properties/{p}/dataStreams/{s}``."""
        path = f"/v1beta/{quote(stream_name, safe='/')}/measurementProtocolSecrets"
        return await self._list(
            call, path, "measurementProtocolSecrets", 10, ("data stream", stream_name)
        )

    async def _get(self, call: Ga4Call, name: str, kind: str) -> dict[str, Any]:
        answer = await self._admin.call(
            call,
            HttpRequest(
                "GET", f"/v1beta/{quote(name, safe='/')}", idempotent=True, resource=(kind, name)
            ),
        )
        return answer.body if isinstance(answer.body, dict) else {}

    async def _list(
        self, call: Ga4Call, path: str, key: str, page_size: int, resource: tuple[str, str]
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        for _ in range(_MAX_PAGES):
            params = {"pageSize": str(page_size)}
            if token:
                params["pageToken"] = token
            answer = await self._admin.call(
                call, HttpRequest("GET", path, idempotent=True, params=params, resource=resource)
            )
            body = answer.body if isinstance(answer.body, dict) else {}
            page = body.get(key)
            if isinstance(page, list):
                items.extend(item for item in page if isinstance(item, dict))
            token = body.get("nextPageToken") or ""
            if not isinstance(token, str) or not token:
                return items
        raise ProviderError(f"Google Analytics' {key} listing did not end")

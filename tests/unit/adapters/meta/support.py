"""A MetaGraph for the Meta adapter's unit tests that records instead of sending."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters.meta.auth import PageAuth
from adapters.meta.graph import MetaGraph
from adapters.ratelimit import TokenBucketRateLimiter
from tests.support.meta import SETTINGS


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

"""What the health checks read: webhook activity, rate-limit state and sync runs, one port each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class HealthState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILING = "failing"

    @staticmethod
    def worst(*states: HealthState) -> HealthState:
        order = (HealthState.OK, HealthState.DEGRADED, HealthState.FAILING)
        return max(states, key=order.index, default=HealthState.OK)


# --- webhooks --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredWebhookActivity:
    """What the inbox holds for one integration. Every stored delivery passed verification."""

    last_stored_at: datetime | None
    """When the newest stored delivery arrived (accepted or refused as not active)."""
    rejected: int
    """Stored deliveries refused because the integration was not active, in the window."""
    dead_lettered: int
    """Deliveries that arrived in the window and were given up on."""
    backlog: int
    """Deliveries waiting to be processed: pending, or failed and waiting for a retry."""
    oldest_due_at: datetime | None
    """When the delivery that has been due the longest became due; None if none is due."""


class WebhookActivityReader(Protocol):
    async def webhook_activity(
        self, integration_id: str, *, since: datetime, now: datetime
    ) -> StoredWebhookActivity:
        """The integration's inbox: counts over the deliveries that arrived since `since`, the
        backlog as of `now`."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class InboxStats:
    """The whole inbox at one moment, for metrics."""

    pending: int
    failed: int
    """Waiting for a retry (due or not yet)."""
    processing: int
    dead: int
    """Dead letters not replayed (yet)."""
    due: int
    """Pending or failed deliveries whose time has come."""
    oldest_due_at: datetime | None


class InboxStatsReader(Protocol):
    async def inbox_stats(self, *, now: datetime) -> InboxStats:
        """A few index-range counts: cheap enough for every metrics scrape."""
        ...


@dataclass(frozen=True, slots=True)
class UnverifiedDeliveries:
    count: int
    """Deliveries that carried a signature of a scheme the integration uses, and failed it."""
    last_at: datetime | None
    unsigned: int = 0
    """Deliveries that carried no signature of a scheme the integration uses: anyone can send
    them, so they are counted apart and say nothing about the integration's signing."""


class UnverifiedDeliveryLog(Protocol):
    """Deliveries refused because their signature did not verify. They are never stored (a
    flood of forged requests must not cost writes), so each copy of the service knows only the
    ones it refused itself."""

    def unverified_since(self, integration_id: str, since: datetime) -> UnverifiedDeliveries:
        """How many of the integration's deliveries this copy refused since `since`, and when it
        last refused one whose signature failed (whenever that was); the unsigned apart."""
        ...


# --- rate limits -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderLimitReport:
    """The provider's limits as its newest answer that reported them said (the provider's
    ``X-RateLimit-*`` headers); None where it said nothing."""

    reported_at: datetime
    burst_limit: int | None = None
    burst_remaining: int | None = None
    burst_interval_seconds: float | None = None
    daily_limit: int | None = None
    daily_remaining: int | None = None
    last_throttled_at: datetime | None = None
    """When the provider last answered 429."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketState:
    """The service's own limiter for one key, as it stands now."""

    limit_per_minute: int
    tokens: float
    """Requests the bucket would allow at once (it refills to `limit_per_minute`)."""
    paused_for_seconds: float
    """How long calls stay held back after a 429 or an exhausted daily quota (0: not)."""
    in_flight: int
    shared: bool
    """Shared by every copy of the service (Redis), or this copy's own."""


@dataclass(frozen=True, slots=True)
class RateLimitState:
    provider: ProviderLimitReport | None
    """None until an answer for the key reported limits (in this copy of the service)."""
    bucket: BucketState | None
    """None until the key made a call."""


class RateLimitMonitor(Protocol):
    """Read-only: what the rate limiter and the provider's answers say about one key."""

    async def rate_limit_state(self, key: str) -> RateLimitState: ...


# --- sync ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncRunSummary:
    started_at: datetime
    finished_at: datetime | None
    """None while it runs."""
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncActivity:
    last_run: SyncRunSummary | None
    pulled: int
    """Records the runs in the window found changed at the provider."""
    missed_by_webhooks: int
    """Of those, the ones no webhook had delivered."""


class SyncHistory(Protocol):
    async def sync_activity(self, integration_id: str, *, since: datetime) -> SyncActivity:
        """The integration's newest sync run, and the counts of the runs started since `since`."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationSyncStats:
    """One integration's sync runs, for metrics: those started in a window, and its newest."""

    integration_id: str
    runs: int
    failed_runs: int
    pulled: int
    missed_by_webhooks: int
    last_started_at: datetime
    last_finished_at: datetime | None
    last_failed: bool


class SyncStatsReader(Protocol):
    async def sync_stats(self, *, since: datetime) -> list[IntegrationSyncStats]:
        """Every integration that ever ran a sync, its runs started since `since` added up."""
        ...

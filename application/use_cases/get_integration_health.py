"""GetIntegrationHealth: how well an integration works right now, check by check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.access import visible_integration
from application.connection import ConnectionTester
from application.dto import IntegrationView
from application.observability import (
    BucketState,
    HealthState,
    ProviderLimitReport,
    RateLimitMonitor,
    SyncActivity,
    SyncHistory,
    UnverifiedDeliveryLog,
    WebhookActivityReader,
)
from application.ports import Clock, FunnelActivity, FunnelQueue, UnitOfWorkFactory
from domain.errors import DomainError, ErrorCode
from domain.integration import Integration, IntegrationStatus
from domain.template import IntegrationTemplate
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class GetIntegrationHealthQuery:
    actor: Principal
    integration_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionHealth:
    state: HealthState
    reason: str
    latency_ms: float | None = None
    error_code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookHealth:
    state: HealthState
    reason: str
    last_received_at: datetime | None
    last_verified_at: datetime | None
    rejected: int
    dead_lettered: int
    backlog: int
    oldest_due_age: timedelta
    unauthenticated: int = 0
    """Requests naming the integration that carried no signature of a scheme it uses: anyone
    can send them, so they are counted here and never make the check worse."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitHealth:
    state: HealthState
    reason: str
    provider: ProviderLimitReport | None
    bucket: BucketState | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncHealth:
    state: HealthState
    reason: str
    activity: SyncActivity


@dataclass(frozen=True, slots=True)
class FunnelHealth:
    """The lead-funnel events sent to the integration's provider (ad conversions, analytics)."""

    state: HealthState
    reason: str
    activity: FunnelActivity
    oldest_due_age: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationHealth:
    integration: IntegrationView
    state: HealthState
    connection: ConnectionHealth
    webhooks: WebhookHealth
    rate_limits: RateLimitHealth
    sync: SyncHealth
    checked_at: datetime
    funnel: FunnelHealth | None = None
    """For an integration whose provider takes funnel events; None otherwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """Where ok ends and degraded or failing begins."""

    window: timedelta = timedelta(hours=24)
    """Counts (rejected, dead letters, sync results) cover this much of the past."""
    connection_timeout_seconds: float = 10.0
    slow_connection_ms: float = 2000.0
    backlog_degraded_after: timedelta = timedelta(minutes=5)
    backlog_failing_after: timedelta = timedelta(hours=1)
    throttled_recently: timedelta = timedelta(minutes=5)
    low_daily_quota_share: float = 0.1
    sync_stale_after: timedelta = timedelta(hours=1)
    miss_rate_degraded: float = 0.05
    miss_rate_min_pulled: int = 20
    """Below this many pulled records a miss rate says too little to act on."""


class _Findings:
    """What a check found; the check's state is the worst finding's, its reason theirs."""

    def __init__(self) -> None:
        self._found: list[tuple[HealthState, str]] = []

    def add(self, state: HealthState, reason: str) -> None:
        self._found.append((state, reason))

    def verdict(self, ok_reason: str) -> tuple[HealthState, str]:
        if not self._found:
            return HealthState.OK, ok_reason
        state = HealthState.worst(*(s for s, _ in self._found))
        return state, "; ".join(r for s, r in self._found if s is state)


class GetIntegrationHealth:
    """Rules: visible like GetIntegration (another tenant's integration is not found). The
    connection check calls the provider live, bounded by the policy's timeout, and never moves
    the integration's state (TestIntegration does); a switched-off or disconnected integration
    is not called and its connection fails the check. Only deliveries that carry a signature of
    a scheme the integration uses and fail it count against its webhooks; unsigned requests,
    which anyone can send, are only counted. The rate-limit check runs after the live
    call, so the provider's limits it reports are fresh. The overall state is the worst check's,
    and failing whenever the integration is in error."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        tester: ConnectionTester,
        webhooks: WebhookActivityReader,
        unverified: UnverifiedDeliveryLog,
        rate_limits: RateLimitMonitor,
        rate_limit_key: Callable[[Integration], str],
        sync: SyncHistory,
        clock: Clock,
        policy: HealthPolicy | None = None,
        funnel: FunnelQueue | None = None,
        takes_funnel: Callable[[str], bool] = lambda template: False,
    ) -> None:
        """`rate_limit_key`: what the integration's provider limits its calls by;
        `takes_funnel`: whether a template's provider is sent funnel events (then `funnel`
        reports them)."""
        self._uow = uow
        self._tester = tester
        self._webhooks = webhooks
        self._unverified = unverified
        self._rate_limits = rate_limits
        self._rate_limit_key = rate_limit_key
        self._sync = sync
        self._clock = clock
        self._policy = policy or HealthPolicy()
        self._funnel = funnel
        self._takes_funnel = takes_funnel

    async def execute(self, query: GetIntegrationHealthQuery) -> IntegrationHealth:
        async with self._uow() as uow:
            integration = visible_integration(
                query.actor, await uow.integrations.get(query.integration_id), query.integration_id
            )
            template = await uow.templates.get(integration.template_id)
        now = self._clock.now()
        connection, webhooks, sync = await asyncio.gather(
            self._connection(integration, template),
            self._webhook_health(integration, now),
            self._sync_health(integration, now),
        )
        rate_limits = await self._rate_limit_health(self._rate_limit_key(integration), now)
        funnel = (
            await self._funnel_health(self._funnel, integration, now)
            if self._funnel is not None and self._takes_funnel(integration.template_name)
            else None
        )
        state = HealthState.worst(
            connection.state,
            webhooks.state,
            rate_limits.state,
            sync.state,
            *((funnel.state,) if funnel else ()),
        )
        if integration.status is IntegrationStatus.ERROR:
            state = HealthState.FAILING
        return IntegrationHealth(
            integration=IntegrationView.of(integration),
            state=state,
            connection=connection,
            webhooks=webhooks,
            rate_limits=rate_limits,
            sync=sync,
            checked_at=now,
            funnel=funnel,
        )

    async def _connection(
        self, integration: Integration, template: IntegrationTemplate | None
    ) -> ConnectionHealth:
        if not integration.is_active:
            return ConnectionHealth(
                state=HealthState.FAILING, reason="switched off by an admin: not tested"
            )
        if integration.status is IntegrationStatus.DISCONNECTED:
            return ConnectionHealth(
                state=HealthState.FAILING, reason="disconnected: reactivate it to connect again"
            )
        timeout = self._policy.connection_timeout_seconds
        try:
            result = await asyncio.wait_for(self._tester.test(integration, template), timeout)
        except TimeoutError:
            return ConnectionHealth(
                state=HealthState.FAILING,
                reason=f"the provider did not answer within {timeout:g} s",
                error_code=ErrorCode.CONNECTION_FAILED.value,
            )
        except DomainError as err:  # the credentials cannot be opened, say
            return ConnectionHealth(
                state=HealthState.FAILING, reason=err.message, error_code=err.code.value
            )
        latency = result.latency_ms
        if not result.success:
            code = result.error_code or ErrorCode.CONNECTION_FAILED
            # Throttled means reachable and the credentials good: the calls wait, they work.
            throttled = code is ErrorCode.RATE_LIMIT_EXCEEDED
            return ConnectionHealth(
                state=HealthState.DEGRADED if throttled else HealthState.FAILING,
                reason=result.message,
                latency_ms=latency,
                error_code=code.value,
            )
        if latency is not None and latency > self._policy.slow_connection_ms:
            return ConnectionHealth(
                state=HealthState.DEGRADED,
                reason=f"{result.message}, slowly: {latency:.0f} ms",
                latency_ms=latency,
            )
        answered = f" in {latency:.0f} ms" if latency is not None else ""
        return ConnectionHealth(
            state=HealthState.OK, reason=result.message + answered, latency_ms=latency
        )

    async def _webhook_health(self, integration: Integration, now: datetime) -> WebhookHealth:
        policy = self._policy
        since = now - policy.window
        stored = await self._webhooks.webhook_activity(integration.id, since=since, now=now)
        unverified = self._unverified.unverified_since(integration.id, since)
        received = [t for t in (stored.last_stored_at, unverified.last_at) if t is not None]
        due_age = max(timedelta(0), now - stored.oldest_due_at) if stored.oldest_due_at else None

        found = _Findings()
        if due_age is not None and due_age >= policy.backlog_degraded_after:
            found.add(
                HealthState.FAILING
                if due_age >= policy.backlog_failing_after
                else HealthState.DEGRADED,
                f"{stored.backlog} deliveries wait; the oldest has been due for "
                f"{_span(due_age)}: is the worker running?",
            )
        last_verified = stored.last_stored_at
        if unverified.last_at is not None and (
            last_verified is None or unverified.last_at > last_verified
        ):
            found.add(
                HealthState.FAILING,
                "the newest deliveries fail signature verification: check the webhook secret "
                "and the provider's signing key",
            )
        elif unverified.count:
            found.add(
                HealthState.DEGRADED,
                f"{unverified.count} deliveries failed signature verification in the last "
                f"{_span(policy.window)}",
            )
        if stored.dead_lettered:
            found.add(
                HealthState.DEGRADED,
                f"{stored.dead_lettered} deliveries were dead-lettered in the last "
                f"{_span(policy.window)}: replay them once the cause is fixed",
            )
        if stored.rejected:
            found.add(
                HealthState.DEGRADED,
                f"{stored.rejected} deliveries were refused while the integration was switched "
                "off: replay them if their events still matter",
            )
        ok = (
            "no webhook received yet"
            if not received
            else f"last delivery {_span(now - max(received))} ago, nothing waiting"
            if not stored.backlog
            else f"last delivery {_span(now - max(received))} ago, {stored.backlog} waiting"
        )
        state, reason = found.verdict(ok)
        return WebhookHealth(
            state=state,
            reason=reason,
            last_received_at=max(received) if received else None,
            last_verified_at=last_verified,
            rejected=stored.rejected + unverified.count,
            dead_lettered=stored.dead_lettered,
            backlog=stored.backlog,
            oldest_due_age=due_age or timedelta(0),
            unauthenticated=unverified.unsigned,
        )

    async def _funnel_health(
        self, funnel: FunnelQueue, integration: Integration, now: datetime
    ) -> FunnelHealth:
        policy = self._policy
        activity = await funnel.activity(integration.id, since=now - policy.window, now=now)
        due_age = (
            max(timedelta(0), now - activity.oldest_due_at) if activity.oldest_due_at else None
        )
        window = _span(policy.window)
        found = _Findings()
        if due_age is not None and due_age >= policy.backlog_degraded_after:
            found.add(
                HealthState.FAILING
                if due_age >= policy.backlog_failing_after
                else HealthState.DEGRADED,
                f"{activity.backlog} funnel events wait; the oldest has been due for "
                f"{_span(due_age)}: is the worker running, or the provider refusing them?",
            )
        if activity.dead_lettered:
            found.add(
                HealthState.DEGRADED,
                f"{activity.dead_lettered} funnel events were given up on in the last {window}",
            )
        if activity.dropped:
            found.add(
                HealthState.DEGRADED,
                f"{activity.dropped} funnel events were dropped before sending (stale or "
                f"invalid) in the last {window}",
            )
        ok = (
            "no funnel event sent yet"
            if activity.last_sent_at is None
            else f"last funnel event sent {_span(now - activity.last_sent_at)} ago, "
            f"{activity.sent} in the last {window}"
        )
        state, reason = found.verdict(ok)
        return FunnelHealth(
            state=state,
            reason=reason,
            activity=activity,
            oldest_due_age=due_age or timedelta(0),
        )

    async def _rate_limit_health(self, key: str, now: datetime) -> RateLimitHealth:
        policy = self._policy
        observed = await self._rate_limits.rate_limit_state(key)
        provider, bucket = observed.provider, observed.bucket
        found = _Findings()
        if provider is not None and provider.daily_remaining is not None:
            if provider.daily_remaining <= 0:
                found.add(HealthState.FAILING, "the provider's daily quota is used up")
            elif (
                provider.daily_limit
                and provider.daily_remaining < provider.daily_limit * policy.low_daily_quota_share
            ):
                found.add(
                    HealthState.DEGRADED,
                    f"only {provider.daily_remaining} of {provider.daily_limit} daily requests "
                    "are left",
                )
        if bucket is not None and bucket.paused_for_seconds > 0:
            found.add(
                HealthState.DEGRADED,
                f"calls are held back for {bucket.paused_for_seconds:.0f} s more",
            )
        throttled_at = provider.last_throttled_at if provider is not None else None
        if throttled_at is not None and now - throttled_at <= policy.throttled_recently:
            found.add(
                HealthState.DEGRADED,
                f"the provider answered 429 (too many requests) {_span(now - throttled_at)} ago",
            )
        state, reason = found.verdict(_limits_summary(provider))
        return RateLimitHealth(state=state, reason=reason, provider=provider, bucket=bucket)

    async def _sync_health(self, integration: Integration, now: datetime) -> SyncHealth:
        policy = self._policy
        activity = await self._sync.sync_activity(integration.id, since=now - policy.window)
        run = activity.last_run
        found = _Findings()
        if run is not None and run.finished_at is not None and run.error:
            found.add(HealthState.FAILING, f"the last sync failed: {run.error}")
        latest = None if run is None else run.finished_at or run.started_at
        if (
            integration.is_operational
            and latest is not None
            and now - latest > policy.sync_stale_after
        ):
            found.add(HealthState.DEGRADED, f"no sync for {_span(now - latest)}")
        if activity.pulled >= policy.miss_rate_min_pulled:
            rate = activity.missed_by_webhooks / activity.pulled
            if rate > policy.miss_rate_degraded:
                found.add(
                    HealthState.DEGRADED,
                    f"webhooks missed {rate:.0%} of the changes sync found in the last "
                    f"{_span(policy.window)}",
                )
        if run is None:
            ok = "never synced"
        elif run.finished_at is None:
            ok = f"a sync has been running for {_span(now - run.started_at)}"
        else:
            ok = f"last sync {_span(now - run.finished_at)} ago succeeded"
        state, reason = found.verdict(ok)
        return SyncHealth(state=state, reason=reason, activity=activity)


def _limits_summary(provider: ProviderLimitReport | None) -> str:
    if provider is None:
        return "no answer from the provider has reported its limits yet"
    parts = []
    if provider.burst_remaining is not None and provider.burst_limit is not None:
        parts.append(f"{provider.burst_remaining} of {provider.burst_limit} left in the burst")
    if provider.daily_remaining is not None and provider.daily_limit is not None:
        parts.append(f"{provider.daily_remaining} of {provider.daily_limit} left today")
    return ", ".join(parts) or "within the provider's limits"


def _span(delta: timedelta) -> str:
    """A duration as people say it: 40 s, 12 min, 3 h, 2 d."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"

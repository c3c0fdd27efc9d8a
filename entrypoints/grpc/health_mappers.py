"""GetIntegrationHealth's result as an IntegrationHealth message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

from application.observability import HealthState
from application.use_cases.get_integration_health import FunnelHealth, IntegrationHealth
from entrypoints.grpc import mappers
from integrations.v1 import integration_health_pb2 as pb

State = pb.IntegrationHealth.State
STATES: Mapping[HealthState, State.ValueType] = {
    HealthState.OK: State.STATE_OK,
    HealthState.DEGRADED: State.STATE_DEGRADED,
    HealthState.FAILING: State.STATE_FAILING,
}


def health_to_proto(health: IntegrationHealth) -> pb.IntegrationHealth:
    view = health.integration
    connection, webhooks, limits, sync = (
        health.connection,
        health.webhooks,
        health.rate_limits,
        health.sync,
    )
    provider, bucket = limits.provider, limits.bucket
    run = sync.activity.last_run
    pulled, missed = sync.activity.pulled, sync.activity.missed_by_webhooks
    return pb.IntegrationHealth(
        name=mappers.integration_name(view.id),
        display_name=view.name,
        template=mappers.template_name(view.template_name),
        integration_state=mappers.STATES[view.status],
        is_active=view.is_active,
        last_sync_time=_timestamp(view.last_sync_at),
        error_code=view.error_code or "",
        error_message=view.error_message or "",
        state=STATES[health.state],
        connection=pb.ConnectionCheck(
            state=STATES[connection.state],
            reason=connection.reason,
            latency=None
            if connection.latency_ms is None
            else _duration(timedelta(milliseconds=connection.latency_ms)),
            error_code=connection.error_code or "",
        ),
        webhooks=pb.WebhookCheck(
            state=STATES[webhooks.state],
            reason=webhooks.reason,
            last_receive_time=_timestamp(webhooks.last_received_at),
            last_verify_time=_timestamp(webhooks.last_verified_at),
            rejected_count=webhooks.rejected,
            dead_letter_count=webhooks.dead_lettered,
            backlog_count=webhooks.backlog,
            oldest_due_age=_duration(webhooks.oldest_due_age),
            unauthenticated_count=webhooks.unauthenticated,
        ),
        rate_limits=pb.RateLimitCheck(
            state=STATES[limits.state],
            reason=limits.reason,
            report_time=_timestamp(provider.reported_at if provider else None),
            burst_limit=provider.burst_limit if provider else None,
            burst_remaining=provider.burst_remaining if provider else None,
            burst_interval=None
            if provider is None or provider.burst_interval_seconds is None
            else _duration(timedelta(seconds=provider.burst_interval_seconds)),
            daily_limit=provider.daily_limit if provider else None,
            daily_remaining=provider.daily_remaining if provider else None,
            last_throttle_time=_timestamp(provider.last_throttled_at if provider else None),
            bucket_limit_per_minute=bucket.limit_per_minute if bucket else 0,
            bucket_tokens=bucket.tokens if bucket else 0.0,
            pause_remaining=_duration(
                timedelta(seconds=bucket.paused_for_seconds if bucket else 0.0)
            ),
            requests_in_flight=bucket.in_flight if bucket else 0,
            bucket_shared=bucket.shared if bucket else False,
        ),
        sync=pb.SyncCheck(
            state=STATES[sync.state],
            reason=sync.reason,
            last_run_start_time=_timestamp(run.started_at if run else None),
            last_run_end_time=_timestamp(run.finished_at if run else None),
            last_run_error=(run.error or "") if run else "",
            pulled_count=pulled,
            missed_by_webhooks_count=missed,
            webhook_miss_rate=missed / pulled if pulled else 0.0,
        ),
        check_time=_timestamp(health.checked_at),
        funnel=None if health.funnel is None else _funnel_check(health.funnel),
    )


def _funnel_check(funnel: FunnelHealth) -> pb.FunnelCheck:
    activity = funnel.activity
    return pb.FunnelCheck(
        state=STATES[funnel.state],
        reason=funnel.reason,
        last_send_time=_timestamp(activity.last_sent_at),
        sent_count=activity.sent,
        dropped_count=activity.dropped,
        dead_letter_count=activity.dead_lettered,
        backlog_count=activity.backlog,
        oldest_due_age=_duration(funnel.oldest_due_age),
    )


def _timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _duration(delta: timedelta) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(delta)
    return duration

"""Sync's records ⇄ protobuf: the runs answered by SyncIntegration."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import timestamp_pb2

from application.sync_records import RunStatus, SyncRun
from entrypoints.grpc import mappers
from integrations.v1 import integration_service_pb2 as pb

RunState = pb.SyncRun.State
RUN_STATES: Mapping[RunStatus, RunState.ValueType] = {
    RunStatus.RUNNING: RunState.STATE_RUNNING,
    RunStatus.SUCCEEDED: RunState.STATE_SUCCEEDED,
    RunStatus.FAILED: RunState.STATE_FAILED,
}


def sync_run_name(integration_id: str, run_id: str) -> str:
    return f"{mappers.integration_name(integration_id)}/syncRuns/{run_id}"


def sync_run_to_proto(run: SyncRun) -> pb.SyncRun:
    started = timestamp_pb2.Timestamp()
    started.FromDatetime(run.started_at)
    ended = None
    if run.finished_at is not None:
        ended = timestamp_pb2.Timestamp()
        ended.FromDatetime(run.finished_at)
    return pb.SyncRun(
        name=sync_run_name(run.integration_id, run.id),
        state=RUN_STATES[run.status],
        start_time=started,
        end_time=ended,
        attempts=run.attempts,
        pulled_count=run.pulled,
        pushed_count=run.pushed,
        conflict_count=run.conflicts,
        failure_count=run.failures,
        missed_by_webhooks_count=run.missed_by_webhooks,
        error_code=run.error_code or "",
        error_message=run.error_message or "",
    )

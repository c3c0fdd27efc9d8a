"""A sync through a misbehaving GHL: 20% of its answers 5xx, 10% 429 and 5% held back until the
client gives up. Local leads are pushed and GHL's contacts pulled; the sync completes (asked
again by the operator if a run gives up), nothing is duplicated on either side, and the run and
the integration's health say what happened."""

from __future__ import annotations

import asyncio
import copy
import random
from pathlib import Path

import grpc
import pytest

from adapters.ghl.fake import FaultPlan, RateLimitConfig, ScriptedFault
from bench.common import LOCATION, sql
from bench.sync import seed
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import (
    integration_service_pb2_grpc,
    lead_pb2,
    lead_service_pb2,
    lead_service_pb2_grpc,
)
from tests.reliability.support import Deployment, deployment, record

pytestmark = pytest.mark.postgres


class MixedFaults(FaultPlan):
    """20% 5xx (500, 502 or 503), 10% 429, 5% timeouts, drawn from a seeded generator."""

    def __init__(self, *, hang_seconds: float, seed: int = 6) -> None:
        super().__init__(hang_seconds=hang_seconds)
        self.draws = random.Random(seed)
        self.injected: dict[str, int] = {"5xx": 0, "429": 0, "timeout": 0}

    def pick(self, method: str, path: str, rng: random.Random) -> ScriptedFault | None:
        draw = self.draws.random()
        if draw < 0.05:
            self.injected["timeout"] += 1
            return ScriptedFault(kind="timeout")
        if draw < 0.15:
            self.injected["429"] += 1
            return ScriptedFault(status=429)
        if draw < 0.35:
            self.injected["5xx"] += 1
            return ScriptedFault(status=self.draws.choice([500, 502, 503]))
        return None


async def _sync_through_faults(
    tmp_path: Path,
    *,
    contacts: int,
    local_leads: int,
    hang_seconds: float,
    limit: RateLimitConfig | None = None,
) -> None:
    async with deployment(
        tmp_path, only="grpc", fake_ghl_seed=seed(contacts), fake_ghl_limit=limit
    ) as running:
        assert running.ghl is not None
        name = f"integrations/{running.integration_id}"
        auth = (("authorization", f"Bearer {running.keys.token()}"),)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            leads = lead_service_pb2_grpc.LeadServiceStub(channel)
            for index in range(local_leads):
                await leads.CreateLead(
                    lead_service_pb2.CreateLeadRequest(
                        parent=name,
                        lead=lead_pb2.Lead(
                            first_name="Local",
                            last_name=f"Lead {index}",
                            email=f"local{index}@example.com",
                        ),
                        request_id=f"local-{index}",
                    ),
                    metadata=auth,
                )
            faults = MixedFaults(hang_seconds=hang_seconds)
            running.ghl.faults = faults
            api = integration_service_pb2_grpc.IntegrationServiceStub(channel)
            runs, outcomes = await _until_synced(api, name, auth)
            running.ghl.faults = FaultPlan()
            health = await api.GetIntegrationHealth(
                pb.GetIntegrationHealthRequest(name=name), metadata=auth
            )
            # A push that failed in the storm waits for its retry: clean runs finish the job.
            retried = await _until_pushed(api, name, auth, running)
        local = await _leads(running)
        remote = [c for c in running.ghl.state.contacts.values() if c["locationId"] == LOCATION]

    emails = [c.get("email") for c in remote]
    record(
        "sync through GHL faults",
        contacts=contacts,
        local_leads=local_leads,
        injected=faults.injected,
        runs=outcomes,
        clean_runs_to_push=retried,
        remote=len(remote),
        **local,
    )
    assert runs[-1].state == pb.SyncRun.STATE_SUCCEEDED, outcomes
    assert sum(faults.injected.values()) > 0, faults.injected
    assert len(remote) == contacts + local_leads, (
        faults.injected,
        outcomes,
        local,
    )  # ours pushed once
    assert len(set(emails)) == len(emails)
    assert local["rows"] == local["external_ids"] == contacts + local_leads  # one each
    assert local["unpushed"] == 0
    assert retried < 30
    assert health.integration_health.sync.last_run_error == ""
    assert health.integration_health.sync.HasField("last_run_end_time")
    if faults.injected["429"]:
        assert health.integration_health.rate_limits.HasField("last_throttle_time")  # on record
    assert runs[-1].attempts >= 1


async def _until_synced(
    api: integration_service_pb2_grpc.IntegrationServiceAsyncStub,
    name: str,
    auth: tuple[tuple[str, str], ...],
) -> tuple[list[pb.SyncRun], list[str]]:
    """SyncIntegration until a run succeeds, as an operator would (at most 5 times)."""
    runs: list[pb.SyncRun] = []
    outcomes: list[str] = []
    for _ in range(5):
        try:
            result = await api.SyncIntegration(
                pb.SyncIntegrationRequest(name=name), metadata=auth, timeout=900
            )
        except grpc.aio.AioRpcError as err:
            outcomes.append(f"{err.code().name}: {err.details()}")
            continue
        runs.append(copy.copy(result.sync_run))
        outcomes.append(pb.SyncRun.State.Name(result.sync_run.state))
        if result.sync_run.state == pb.SyncRun.STATE_SUCCEEDED:
            break
    return runs, outcomes


async def _until_pushed(
    api: integration_service_pb2_grpc.IntegrationServiceAsyncStub,
    name: str,
    auth: tuple[tuple[str, str], ...],
    running: Deployment,
) -> int:
    """Clean sync runs until every local lead is on GHL (bounded); returns how many it took."""
    for extra in range(30):
        if (await _leads(running))["unpushed"] == 0:
            return extra
        await asyncio.sleep(1.0)
        await api.SyncIntegration(pb.SyncIntegrationRequest(name=name), metadata=auth, timeout=300)
    return 30


async def _leads(running: Deployment) -> dict[str, int]:
    [(rows, external_ids, unpushed)] = await sql(
        running.database_url,
        "SELECT count(*), count(DISTINCT external_id), count(*) FILTER "
        "(WHERE external_id LIKE 'local:%') FROM leads",
    )
    return {"rows": int(rows), "external_ids": int(external_ids), "unpushed": int(unpushed)}


async def test_a_sync_through_5xx_429s_and_timeouts_completes_without_duplicates(
    tmp_path: Path,
) -> None:
    # GHL's 100 requests per 10 s, in a 1 s window: a 429 pauses the client for 1 s, not 10.
    await _sync_through_faults(
        tmp_path,
        contacts=300,
        local_leads=5,
        hang_seconds=1.0,
        limit=RateLimitConfig(max_requests=100, interval_ms=1000),
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_10000_contacts_sync_through_5xx_429s_and_real_timeouts_without_duplicates(
    tmp_path: Path,
) -> None:
    # Held back past the client's 30 s read timeout: real timeouts, retried.
    await _sync_through_faults(tmp_path, contacts=10_000, local_leads=50, hang_seconds=45.0)

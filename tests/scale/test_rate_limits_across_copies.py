"""Three copies syncing three integrations, and answering live calls for all of them at once,
against the fake GHL: the budget each location has at GHL is shared through Redis, so the fake's
own request log shows no location over its limit in any window, and no 429."""

from __future__ import annotations

import asyncio
import collections
import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from adapters.ghl.fake import LoggedRequest, RateLimitConfig
from adapters.ghl.fake.seed import DEFAULT_SEED
from bench.common import sql
from integrations.v1 import integration_service_pb2, integration_service_pb2_grpc
from tests.scale.support import Cluster, cluster, create_integration

pytestmark = pytest.mark.postgres

COPIES = 3
CONTACTS = 40
CALLS_PER_COPY_AND_INTEGRATION = 8
# GHL allows 100 requests per 10 s per location; the fake is set to the same ratio, faster.
LIMIT = RateLimitConfig(max_requests=10, interval_ms=1_000)


def location(n: int) -> str:
    return f"scaleLocation0000000{n}"


def seed() -> dict[str, Any]:
    """Three locations like the demo one, each with its token, a calendar and contacts."""
    [demo_location] = DEFAULT_SEED["locations"]
    [demo_calendar] = DEFAULT_SEED["calendars"]
    start = datetime.now(UTC) - timedelta(days=3)
    data: dict[str, Any] = {
        "locations": [],
        "privateIntegrationTokens": [],
        "calendars": [],
        "contacts": [],
    }
    for n in range(COPIES):
        data["locations"].append(copy.deepcopy(demo_location) | {"id": location(n)})
        data["privateIntegrationTokens"].append(
            {"token": f"pit-scale-{n}", "locationId": location(n)}
        )
        data["calendars"].append(
            copy.deepcopy(demo_calendar)
            | {"id": f"scaleCalendar000000{n}", "locationId": location(n)}
        )
        for i in range(CONTACTS):
            moment = (start + timedelta(minutes=i)).isoformat(timespec="milliseconds")
            data["contacts"].append(
                {
                    "id": f"scaleContact{n}{i:07d}",
                    "locationId": location(n),
                    "firstName": "Scale",
                    "lastName": f"Contact {n}-{i}",
                    "email": f"contact-{n}-{i}@example.com",
                    "tags": [],
                    "customFields": [],
                    "dateAdded": moment.replace("+00:00", "Z"),
                }
            )
    return data


def busiest_window(requests: list[LoggedRequest], interval: float) -> int:
    """The most requests that arrived within any `interval` seconds (sliding, so at least what
    any of the fake's fixed windows counted)."""
    times = sorted(r.at for r in requests)
    return max(
        (sum(1 for t in times[i:] if t < start + interval) for i, start in enumerate(times)),
        default=0,
    )


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


async def load(running: Cluster, names: list[str]) -> tuple[list[int], collections.Counter[str]]:
    """Each copy syncs one integration and, meanwhile, asks every integration's free slots
    CALLS_PER_COPY_AND_INTEGRATION times at once; returns the syncs' states and the calls'
    status codes."""
    now = datetime.now(UTC)
    channels = [grpc.aio.insecure_channel(running.grpc_target(c)) for c in range(COPIES)]
    stubs = [integration_service_pb2_grpc.IntegrationServiceStub(ch) for ch in channels]
    codes: collections.Counter[str] = collections.Counter()

    async def free_slots(
        stub: integration_service_pb2_grpc.IntegrationServiceAsyncStub, name: str
    ) -> None:
        try:
            await stub.GetFreeSlots(
                integration_service_pb2.GetFreeSlotsRequest(
                    name=name,
                    start_time=stamp(now),
                    end_time=stamp(now + timedelta(days=7)),
                    time_zone="America/Chicago",
                ),
                metadata=running.admin(),
                timeout=30,
            )
            codes["OK"] += 1
        except grpc.aio.AioRpcError as err:
            codes[err.code().name] += 1

    async def sync(
        stub: integration_service_pb2_grpc.IntegrationServiceAsyncStub, name: str
    ) -> int:
        reply = await stub.SyncIntegration(
            integration_service_pb2.SyncIntegrationRequest(name=name),
            metadata=running.admin(),
            timeout=60,
        )
        state: int = reply.sync_run.state
        return state

    try:
        syncs = [sync(stubs[c], names[c]) for c in range(COPIES)]
        calls = [
            free_slots(stub, name)
            for stub in stubs
            for name in names
            for _ in range(CALLS_PER_COPY_AND_INTEGRATION)
        ]
        states, _ = await asyncio.gather(asyncio.gather(*syncs), asyncio.gather(*calls))
    finally:
        for channel in channels:
            await channel.close()
    return states, codes


async def test_three_copies_keep_every_location_within_its_limit_at_the_fake_ghl(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, copies=COPIES, seed=seed(), ghl_limit=LIMIT) as running:
        names = [
            await create_integration(
                running.grpc_target(n),
                running.keys,
                location_id=location(n),
                api_key=f"pit-scale-{n}",
                calendar_id=f"scaleCalendar000000{n}",
            )
            for n in range(COPIES)
        ]
        states, codes = await load(running, names)
        log = list(running.ghl.log)
        [(leads,)] = await sql(running.database_url, "SELECT count(*) FROM leads")

    assert states == [integration_service_pb2.SyncRun.STATE_SUCCEEDED] * COPIES
    assert leads == COPIES * CONTACTS
    assert codes == {"OK": COPIES * COPIES * CALLS_PER_COPY_AND_INTEGRATION}
    by_location = collections.defaultdict(list)
    for request in log:
        by_location[request.location_id].append(request)
    assert set(by_location) == {location(n) for n in range(COPIES)}
    for requests in by_location.values():
        assert len(requests) > 2 * LIMIT.max_requests  # the limit had to be waited for
        assert [r for r in requests if r.status == 429] == []
        assert busiest_window(requests, LIMIT.interval_ms / 1000) <= LIMIT.max_requests

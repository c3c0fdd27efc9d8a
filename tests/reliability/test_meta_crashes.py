"""Meta's leadgen webhooks while the service is killed with SIGKILL again and again: every
change answered 200 becomes exactly one lead (its answers fetched from the fake Meta), every
lead's first stage reaches the Conversions API under one event id, and nothing is lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from aiohttp.test_utils import TestServer
from google.protobuf import struct_pb2

from adapters.crypto.signatures import APP_HMAC_HEADER, app_hmac_signature
from adapters.meta.fake import FAKE_META, FakeMeta, Submission, create_app
from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_DATASET_ID,
    DEMO_FORM_ID,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_VERIFY_TOKEN,
)
from bench.common import sql
from domain.values import SecretStr
from integrations.v1 import integration_pb2, integration_service_pb2, integration_service_pb2_grpc
from tests.reliability.support import (
    Deployment,
    counts,
    deliver,
    deployment,
    record,
    wait_settled,
)

pytestmark = pytest.mark.postgres

LEADS = 120
CHANGES_PER_BODY = 3


@pytest.fixture
async def fake_meta() -> AsyncIterator[tuple[str, FakeMeta]]:
    app = create_app(usage_step_percent=0.0)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app[FAKE_META]
    await server.close()


async def create_page_integration(running: Deployment) -> str:
    config = struct_pb2.Struct()
    config.update(
        {"pageId": DEMO_PAGE_ID, "accessToken": DEMO_PAGE_TOKEN, "datasetId": DEMO_DATASET_ID}
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        created = await integration_service_pb2_grpc.IntegrationServiceStub(
            channel
        ).CreateIntegration(
            integration_service_pb2.CreateIntegrationRequest(
                integration=integration_pb2.Integration(
                    sub_account_id="sa-meta",
                    template="integrationTemplates/facebook_ads",
                    display_name="Page",
                    config=config,
                )
            ),
            metadata=(("authorization", f"Bearer {running.keys.token()}"),),
            timeout=30,
        )
    assert created.connection_test.success, created.connection_test.message
    return created.integration.name.rsplit("/", 1)[-1]


def leadgen_bodies(lead_ids: list[str]) -> list[bytes]:
    """Meta's notification bodies, a few changes each, ids as numbers (as Meta often sends)."""
    bodies = []
    for start in range(0, len(lead_ids), CHANGES_PER_BODY):
        changes = [
            {
                "field": "leadgen",
                "value": {
                    "leadgen_id": int(lead_id),
                    "page_id": int(DEMO_PAGE_ID),
                    "form_id": int(DEMO_FORM_ID),
                    "created_time": 1785311990,
                },
            }
            for lead_id in lead_ids[start : start + CHANGES_PER_BODY]
        ]
        body = {
            "object": "page",
            "entry": [{"id": DEMO_PAGE_ID, "time": 1785312000, "changes": changes}],
        }
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def sign(body: bytes) -> tuple[str, str]:
    return APP_HMAC_HEADER, app_hmac_signature(SecretStr(DEMO_APP_SECRET), body)


async def test_meta_changes_through_kill_9s_each_become_exactly_one_lead(
    tmp_path: Path, fake_meta: tuple[str, FakeMeta]
) -> None:
    meta_url, fake = fake_meta
    submitted = await fake.submit_leads(
        [Submission(page_id=DEMO_PAGE_ID) for _ in range(LEADS)], deliver=False
    )
    lead_ids = [lead["id"] for lead in submitted.leads]
    bodies = leadgen_bodies(lead_ids)
    async with deployment(
        tmp_path,
        META_GRAPH_API_BASE_URL=meta_url,
        META_APP_ID=DEMO_APP_ID,
        META_APP_SECRET=DEMO_APP_SECRET,
        META_WEBHOOK_VERIFY_TOKEN=DEMO_VERIFY_TOKEN,
    ) as running:
        await create_page_integration(running)
        url = f"http://127.0.0.1:{running.webhook_port}/webhooks/meta"
        sending = asyncio.create_task(
            deliver(url, running.keys, bodies, sign=sign, rate=25, deadline=240)
        )
        kills = 0
        while not sending.done():
            done, _ = await asyncio.wait({sending}, timeout=0.8)
            if done:
                break
            await asyncio.to_thread(running.kill)
            kills += 1
            await asyncio.to_thread(running.start)
        sent = await sending
        await wait_settled(running.database_url, expected=LEADS, within=180)
        staged = await _leads_staged(fake, within=120)
        found = await counts(running.database_url)
        [(distinct,)] = await sql(
            running.database_url, "SELECT count(DISTINCT delivery_id) FROM webhook_deliveries"
        )
    record("kill -9 during Meta ingest", kills=kills, statuses=dict(sent.statuses), **found)

    assert sent.server_errors == 0, sent.statuses
    assert len(sent.answered) == len(bodies), sent.statuses
    assert distinct == LEADS
    assert found == {
        "deliveries_done": LEADS,
        "leads": LEADS,
        "contacts": LEADS,
        "lead_captured": LEADS,
    }
    assert kills >= 1
    # At least once across the kills, and Meta deduplicates by event id: one id per lead.
    assert set(staged) == set(lead_ids)
    assert all(len(ids) == 1 for ids in staged.values())


async def _leads_staged(fake: FakeMeta, *, within: float) -> dict[str, set[str]]:
    """The event ids of the "Lead" stage the Conversions API received, by lead, once every lead
    has one (or `within` seconds have passed)."""
    give_up = asyncio.get_running_loop().time() + within
    while True:
        staged: dict[str, set[str]] = {}
        for received in fake.capi_events:
            if received.event["event_name"] == "Lead":
                lead_id = str(received.event["user_data"]["lead_id"])
                staged.setdefault(lead_id, set()).add(str(received.event["event_id"]))
        if len(staged) >= LEADS or asyncio.get_running_loop().time() > give_up:
            return staged
        await asyncio.sleep(0.2)

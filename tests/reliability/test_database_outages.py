"""Postgres going away during ingest: the service answers 429 (the only answer GHL retries) while
it cannot store a delivery, recovers by itself when the database is back, and loses nothing.
While developing, a proxy the test can cut stands in for the database; the slow test restarts
the real server (once, at the very end of a run: other suites share it). Over gRPC, a call that
needs the database while it is cut off, or gone, answers UNAVAILABLE with RetryInfo."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from bench.common import SUB_ACCOUNT, contact_body, server_url
from integrations.v1 import (
    directory_service_pb2,
    integration_pb2,
    integration_service_pb2,
    lead_pb2,
    lead_service_pb2,
    webhook_service_pb2,
)
from tests.reliability.support import (
    DelayProxy,
    Deployment,
    Sent,
    counts,
    deliver,
    deployment,
    record,
    wait_settled,
)
from tests.support.databases import drop_postgres_database

pytestmark = pytest.mark.postgres


def _expect_nothing_lost(sent: Sent, found: dict[str, int], deliveries: int, test: str) -> None:
    record(test, statuses=dict(sent.statuses), **found)
    assert sent.statuses[429] > 0, sent.statuses  # the outage was seen, and answered 429
    assert sent.server_errors == 0, sent.statuses
    assert len(sent.answered) == deliveries
    assert found == {
        "deliveries_done": deliveries,
        "leads": deliveries,
        "contacts": deliveries,
        "lead_captured": deliveries,
    }


async def _through_outages(
    tmp_path: Path, *, deliveries: int, rate: float, outages: int, outage_seconds: float
) -> None:
    proxy = DelayProxy("127.0.0.1", 5432)
    try:
        async with deployment(tmp_path, database_via=proxy.start) as running:
            bodies = [contact_body("outage", i) for i in range(deliveries)]
            sending = asyncio.create_task(
                deliver(running.url(), running.keys, bodies, rate=rate, deadline=120)
            )
            for _ in range(outages):
                await asyncio.sleep(deliveries / rate / (outages + 1))
                proxy.cut()
                await asyncio.sleep(outage_seconds)
                proxy.restore()
            sent = await sending
            await wait_settled(running.database_url, expected=deliveries, within=60)
            found = await counts(running.database_url)
            assert running.service is not None
            assert running.service.process.poll() is None  # recovered without a restart
    finally:
        await proxy.close()
    _expect_nothing_lost(
        sent, found, deliveries, f"{outages} database outage(s) of {outage_seconds} s"
    )


async def test_a_database_cut_off_mid_ingest_gets_429s_then_everything_is_stored_once(
    tmp_path: Path,
) -> None:
    await _through_outages(tmp_path, deliveries=200, rate=100, outages=1, outage_seconds=1.0)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_repeated_database_outages_under_load_lose_nothing(tmp_path: Path) -> None:
    await _through_outages(tmp_path, deliveries=3000, rate=200, outages=4, outage_seconds=2.0)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_a_real_postgres_restart_mid_ingest_gets_429s_and_loses_nothing(
    tmp_path: Path,
) -> None:
    # A real restart of the shared server: run this alone, once (`make test-reliability`).
    [version] = os.listdir("/etc/postgresql")
    deliveries, rate = 2000, 200
    async with deployment(tmp_path) as running:
        bodies = [contact_body("restart", i) for i in range(deliveries)]
        sending = asyncio.create_task(
            deliver(running.url(), running.keys, bodies, rate=rate, deadline=180)
        )
        await asyncio.sleep(deliveries / rate / 3)
        await asyncio.to_thread(
            subprocess.run,
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            timeout=120,
        )
        sent = await sending
        await wait_settled(running.database_url, expected=deliveries, within=120)
        found = await counts(running.database_url)
        assert running.service is not None
        assert running.service.process.poll() is None
    _expect_nothing_lost(sent, found, deliveries, "a real Postgres restart")


def _calls_needing_the_database(integration: str) -> list[tuple[str, Message]]:
    """A call of every service that reads or writes the database. (An event stream is left
    out: it waits for the database to come back.)"""
    created = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/gohighlevel",
        display_name="Another clinic",
    )
    created.config.update({"apiKey": "pit-0123456789abcdef", "locationId": "anotherLocation01"})
    s = "/integrations.v1.IntegrationService/"
    return [
        (f"{s}ListIntegrationTemplates", integration_service_pb2.ListIntegrationTemplatesRequest()),
        (
            f"{s}GetIntegrationTemplate",
            integration_service_pb2.GetIntegrationTemplateRequest(
                name="integrationTemplates/gohighlevel"
            ),
        ),
        (f"{s}ListIntegrations", integration_service_pb2.ListIntegrationsRequest()),
        (f"{s}GetIntegration", integration_service_pb2.GetIntegrationRequest(name=integration)),
        (
            f"{s}CreateIntegration",
            integration_service_pb2.CreateIntegrationRequest(integration=created),
        ),
        (f"{s}TestIntegration", integration_service_pb2.TestIntegrationRequest(name=integration)),
        (
            f"{s}DeactivateIntegration",
            integration_service_pb2.DeactivateIntegrationRequest(name=integration),
        ),
        (
            f"{s}GetIntegrationHealth",
            integration_service_pb2.GetIntegrationHealthRequest(name=integration),
        ),
        (f"{s}SyncIntegration", integration_service_pb2.SyncIntegrationRequest(name=integration)),
        (
            "/integrations.v1.LeadService/ListLeads",
            lead_service_pb2.ListLeadsRequest(parent="integrations/-"),
        ),
        (
            "/integrations.v1.LeadService/CreateLead",
            lead_service_pb2.CreateLeadRequest(
                parent=integration, lead=lead_pb2.Lead(first_name="Ada", email="ada@example.com")
            ),
        ),
        (
            "/integrations.v1.WebhookService/ListWebhookDeliveries",
            webhook_service_pb2.ListWebhookDeliveriesRequest(parent="integrations/-"),
        ),
        (
            "/integrations.v1.DirectoryService/ListDirectoryUsers",
            directory_service_pb2.ListDirectoryUsersRequest(sub_account_id=SUB_ACCOUNT),
        ),
    ]


async def _answers_without_the_database(running: Deployment) -> dict[str, str]:
    """Each call's status code, and whether it came with RetryInfo ("UNAVAILABLE+retry")."""
    metadata = (("authorization", f"Bearer {running.keys.token()}"),)
    answers: dict[str, str] = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        for path, request in _calls_needing_the_database(f"integrations/{running.integration_id}"):
            method = path.rsplit("/", 1)[-1]
            unary = channel.unary_unary(path, request_serializer=_serialize)
            try:
                await unary(request, metadata=metadata, timeout=30)
                answers[method] = "OK"
            except grpc.aio.AioRpcError as err:
                answers[method] = err.code().name + ("+retry" if _retry_info(err) else "")
    return answers


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _retry_info(err: grpc.aio.AioRpcError) -> error_details_pb2.RetryInfo | None:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info) and info.retry_delay.ToNanoseconds() > 0:
                    return info
    return None


async def test_calls_that_need_the_database_answer_unavailable_with_retry_info_while_it_is_gone(
    tmp_path: Path,
) -> None:
    proxy = DelayProxy("127.0.0.1", 5432)
    try:
        async with deployment(tmp_path, database_via=proxy.start) as running:
            proxy.cut()
            cut_off = await _answers_without_the_database(running)
            proxy.restore()
            await drop_postgres_database(running.database_url, server_url())
            dropped = await _answers_without_the_database(running)
    finally:
        await proxy.close()

    expected = dict.fromkeys(cut_off, "UNAVAILABLE+retry")
    assert cut_off == expected
    assert dropped == expected

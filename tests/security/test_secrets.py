"""Secrets in the running service: their plaintext never appears in logs (at DEBUG), responses,
error details or metrics; ciphertexts moved to another integration or another field do not
decrypt; and a key rotation while deliveries arrive loses none of them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import grpc
import pytest
from google.protobuf import struct_pb2

from adapters.crypto.master_keys import generate_master_key
from adapters.ghl.fake.seed import DEMO_PRIVATE_TOKEN
from bench.common import ROOT, contact_body, create_ghl_integration, sql
from integrations.v1 import integration_pb2 as resources
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc
from tests.reliability.support import (
    Deployment,
    counts,
    deliver,
    deployment,
    record,
    wait_settled,
)
from tests.security.conftest import draw
from tests.security.grpc_support import all_rpcs, call, messages

pytestmark = pytest.mark.postgres


def stub(channel: grpc.aio.Channel) -> integration_service_pb2_grpc.IntegrationServiceAsyncStub:
    return integration_service_pb2_grpc.IntegrationServiceStub(channel)


def auth(
    running: Deployment, role: str = "admin", sub: str | None = None
) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {running.keys.token(role, sub)}"),)


async def exercise(running: Deployment) -> list[bytes]:
    """Use every surface once in ways that touch the secrets; returns every answer."""
    seen: list[bytes] = []
    name = f"integrations/{running.integration_id}"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        api = stub(channel)
        current = await api.GetIntegration(
            pb.GetIntegrationRequest(name=name), metadata=auth(running)
        )
        seen.append(current.SerializeToString())
        listed = await api.ListIntegrations(
            pb.ListIntegrationsRequest(), metadata=auth(running, "user", "sa-bench")
        )
        seen.append(listed.SerializeToString())
        tested = await api.TestIntegration(
            pb.TestIntegrationRequest(name=name), metadata=auth(running)
        )
        seen.append(tested.SerializeToString())
        bad = struct_pb2.Struct()
        bad.update({"apiKey": 42, "webhookSecret": ["x"], "unknown": "y"})
        stale_or_invalid: tuple[pb.UpdateIntegrationRequest, ...] = (
            pb.UpdateIntegrationRequest(  # a stale etag: ABORTED
                integration=resources.Integration(name=name, display_name="x", etag='W/"99"')
            ),
            pb.UpdateIntegrationRequest(  # an invalid config: BadRequest details
                integration=resources.Integration(
                    name=name, config=bad, etag=current.integration.etag
                )
            ),
        )
        for update in stale_or_invalid:
            try:
                await api.UpdateIntegration(update, metadata=auth(running))
            except grpc.aio.AioRpcError as err:
                seen.append((err.details() or "").encode())
                seen.extend(v for _, v in err.trailing_metadata() or () if isinstance(v, bytes))
        for rpc in all_rpcs():  # every RPC once, with fuzzed requests aimed at the integration
            for request in draw(messages(rpc.request, [name, "sa-bench"]), 2, fixed=True):
                seen.append((await call(channel, rpc, request, running.keys.token()))[1])
    body = contact_body("secrets", 1)
    async with aiohttp.ClientSession() as session:
        for headers in (
            dict([running.keys.sign("hmac", body)]),
            {"x-webhook-signature": "0" * 64},
        ):
            async with session.post(running.url("hmac"), data=body, headers=headers) as response:
                seen.append(await response.read())
        for path in ("/metrics", "/healthz", "/readyz"):
            async with session.get(f"http://127.0.0.1:{running.webhook_port}{path}") as response:
                seen.append(await response.read())
    return seen


async def test_no_secret_in_plaintext_reaches_logs_answers_errors_or_metrics(
    tmp_path: Path,
) -> None:
    async with deployment(tmp_path, LOG_LEVEL="DEBUG") as running:
        answers = await exercise(running)
        await wait_settled(running.database_url, expected=1, within=30)
        logs = running.logs()
    secrets = {
        "the API key": DEMO_PRIVATE_TOKEN,
        "the webhook secret": running.keys.webhook_secret,
        "the master key": running.keys.master_keys.split(":", 1)[1],
        "the JWT secret": running.keys.jwt_secret,
        "a bearer token": running.keys.token(),
    }

    assert len(answers) > len(all_rpcs())
    assert "webhook_request" in logs or "rpc_finished" in logs  # DEBUG lines were written
    for what, plaintext in secrets.items():
        assert plaintext not in logs, f"{what} is in the logs"
        for answer in answers:
            assert plaintext.encode() not in answer, f"{what} is in an answer: {answer[:200]!r}"


async def test_ciphertexts_moved_to_another_integration_or_field_do_not_decrypt(
    tmp_path: Path,
) -> None:
    async with deployment(tmp_path) as running:
        other = await create_ghl_integration(running.grpc_port, running.keys)
        mine = running.integration_id
        rows = dict(
            await sql(
                running.database_url,
                f"SELECT id, secrets::text FROM integrations WHERE id IN ('{mine}', '{other}')",  # noqa: S608 - ids we made
            )
        )
        mine_secrets = json.loads(rows[mine])
        fields_swapped = {
            "apiKey": mine_secrets["webhookSecret"],
            "webhookSecret": mine_secrets["apiKey"],
        }
        # Mine gets its own ciphertexts in each other's field; the other gets mine whole.
        for target, value in ((mine, fields_swapped), (other, mine_secrets)):
            await sql(
                running.database_url,
                f"UPDATE integrations SET secrets = '{json.dumps(value)}'::jsonb WHERE id = '{target}'",  # noqa: S608 - ours
            )
        await asyncio.to_thread(running.terminate)  # drop every cache
        await asyncio.to_thread(running.start)
        results = {}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            for integration in (mine, other):
                try:
                    tested = await stub(channel).TestIntegration(
                        pb.TestIntegrationRequest(name=f"integrations/{integration}"),
                        metadata=auth(running),
                    )
                    results[integration] = (
                        tested.connection_test.success,
                        tested.connection_test.error_code,
                    )
                except grpc.aio.AioRpcError as err:
                    results[integration] = (False, err.code().name)
        body = contact_body("swapped", 1)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                running.url("hmac"), data=body, headers=dict([running.keys.sign("hmac", body)])
            ) as response,
        ):
            hmac_status = response.status
        logs = running.logs()

    assert results[mine][0] is False, results
    assert results[other][0] is False, results
    assert hmac_status == 401  # the webhook secret no longer opens: nothing verifies
    assert DEMO_PRIVATE_TOKEN not in logs
    assert running.keys.webhook_secret not in logs


@pytest.mark.parametrize("deliveries", [150])
async def test_a_key_rotation_while_deliveries_arrive_loses_none(
    tmp_path: Path, deliveries: int
) -> None:
    async with deployment(tmp_path) as running:
        old = running.keys.master_keys
        new = generate_master_key()
        running.env["INTEGRATIONS_MASTER_KEYS"] = f"{new},{old}"  # every copy learns the new key
        await asyncio.to_thread(running.terminate)
        await asyncio.to_thread(running.start)
        bodies = [contact_body("rotation", i) for i in range(deliveries)]
        sending = asyncio.create_task(
            deliver(running.url("hmac"), running.keys, bodies, scheme="hmac", rate=100, deadline=60)
        )
        await asyncio.sleep(0.5)
        rotated = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "entrypoints.cli", "keys", "rotate", "--data-keys"],
            env=running.env,
            cwd=ROOT,
            capture_output=True,
            timeout=120,
            check=True,
        )
        sent = await sending
        await wait_settled(running.database_url, expected=deliveries, within=60)
        found = await counts(running.database_url)
        wrapped_by = {
            row[0] for row in await sql(running.database_url, "SELECT master_key_id FROM data_keys")
        }
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            tested = await stub(channel).TestIntegration(
                pb.TestIntegrationRequest(name=f"integrations/{running.integration_id}"),
                metadata=auth(running),
            )

    record(
        "key rotation under load",
        statuses=dict(sent.statuses),
        rotation=rotated.stdout.decode().strip(),
        **found,
    )
    assert b"re-encrypted" in rotated.stdout
    assert sent.statuses == {200: deliveries}, sent.statuses  # no 401: the secret kept opening
    assert found["deliveries_done"] == found["leads"] == deliveries
    assert wrapped_by == {new.split(":", 1)[0]}
    assert tested.connection_test.success  # the re-encrypted API key opens under the new keys

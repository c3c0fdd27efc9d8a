"""Every RPC of every gRPC service, against the real service on Postgres: fuzzed requests built
from the descriptors never get INTERNAL or UNKNOWN nor stop the process, and a refused request
writes nothing; and every RPC is refused as DESIGN.md §5 says without a token, to a non-admin
(admin-only RPCs) and to another tenant (another sub-account's resources are NOT_FOUND, and
nothing of them is ever answered)."""

from __future__ import annotations

import collections
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from integrations.v1 import integration_pb2 as pb_resources
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc
from tests.reliability.support import Deployment, deployment, record
from tests.security.conftest import draw
from tests.security.grpc_support import Rpc, all_rpcs, call, message_class, messages, row_counts

pytestmark = pytest.mark.postgres

SERVER_ERRORS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
# These record what they tried (a connection test, a sync run) whatever its outcome.
RECORD_FAILURES = {"TestIntegration", "SyncIntegration", "ReactivateIntegration"}
ADMIN_ONLY = {
    "CreateIntegrationTemplate",
    "UpdateIntegrationTemplate",
    "CreateIntegration",
    "UpdateIntegration",
    "DeleteIntegration",
}
# Integration RPCs whose `name` is the integration: another tenant's is NOT_FOUND (or, for
# admin-only ones, refused before any lookup).
BY_INTEGRATION_NAME = {
    "GetIntegration",
    "TestIntegration",
    "DeactivateIntegration",
    "ReactivateIntegration",
    "GetFreeSlots",
    "CreateBlockSlot",
    "GetIntegrationHealth",
    "SyncIntegration",
    "UpdateIntegration",
    "DeleteIntegration",
}
OTHER_TENANT = "sa-intruder"


def anchors(running: Deployment) -> list[str]:
    integration = f"integrations/{running.integration_id}"
    return [
        integration,
        running.integration_id,
        "sa-bench",
        OTHER_TENANT,
        "integrationTemplates/gohighlevel",
        "gohighlevel",
        f"{integration}/leads/c-1",
        f"{integration}/webhookDeliveries/x",
        "*",
    ]


async def fuzz(
    running: Deployment, per_rpc: int, *, fixed: bool
) -> dict[str, collections.Counter[str]]:
    tokens = [
        running.keys.token("admin"),
        running.keys.token("user", "sa-bench"),
        running.keys.token("service", OTHER_TENANT),
    ]
    seen: dict[str, collections.Counter[str]] = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        for rpc in all_rpcs():
            codes = seen.setdefault(rpc.path, collections.Counter())
            for index, request in enumerate(
                draw(messages(rpc.request, anchors(running)), per_rpc, fixed=fixed)
            ):
                before = await row_counts(running.database_url)
                code, answer = await call(channel, rpc, request, tokens[index % len(tokens)])
                after = await row_counts(running.database_url)
                example = (rpc.path, str(request)[:400], code, answer[:300])
                assert code not in SERVER_ERRORS, example
                if code is not grpc.StatusCode.OK and rpc.name not in RECORD_FAILURES:
                    assert after == before, example
                codes[code.name] += 1
    assert running.service is not None
    assert running.service.process.poll() is None  # still serving
    totals: collections.Counter[str] = collections.Counter()
    for codes in seen.values():
        totals.update(codes)
    record("gRPC fuzz", rpcs=len(seen), per_rpc=per_rpc, codes=dict(totals))
    return seen


async def test_fuzzed_requests_to_every_rpc_never_get_internal_nor_write_when_refused(
    tmp_path: Path,
) -> None:
    async with deployment(tmp_path, only="grpc") as running:
        seen = await fuzz(running, per_rpc=6, fixed=True)
        logs = running.logs()

    assert len(seen) == len(all_rpcs())
    assert "Traceback" not in logs


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_many_fuzzed_requests_to_every_rpc_never_get_internal_nor_write_when_refused(
    tmp_path: Path,
) -> None:
    async with deployment(tmp_path, only="grpc") as running:
        seen = await fuzz(running, per_rpc=150, fixed=False)

    assert len(seen) == len(all_rpcs())


def aimed_at(rpc: Rpc, integration: str, sub_account: str) -> Message:
    """A request for `rpc` whose resource fields name `integration` (or its sub-account)."""
    request = message_class(rpc.request)()
    for field in rpc.request.fields:
        if field.type != field.TYPE_STRING or field.is_repeated:
            continue
        if field.name in ("name", "parent", "integration"):
            setattr(request, field.name, integration)
        elif field.name == "sub_account_id":
            setattr(request, field.name, sub_account)
    return request


def well_formed_requests(integration: pb_resources.Integration) -> dict[str, Message]:
    """Well-formed requests of the admin-only RPCs and of those that check their arguments
    first, so that only who calls (and whose integration it is) can refuse them."""
    schema = struct_pb2.Struct()
    schema.update({"type": "object", "properties": {"token": {"type": "string"}}})
    template = pb_resources.IntegrationTemplate(
        name="integrationTemplates/gohighlevel", display_name="Renamed", etag='W/"1"'
    )
    start, end = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start.FromDatetime(datetime.now(UTC) + timedelta(days=1))
    end.FromDatetime(datetime.now(UTC) + timedelta(days=2))
    renamed = pb_resources.Integration(
        name=integration.name, display_name="Renamed", etag=integration.etag
    )
    return {
        "CreateIntegrationTemplate": pb.CreateIntegrationTemplateRequest(
            integration_template_id="crm-y",
            integration_template=pb_resources.IntegrationTemplate(
                display_name="CRM Y", category="CRM", config_schema=schema
            ),
        ),
        "UpdateIntegrationTemplate": pb.UpdateIntegrationTemplateRequest(
            integration_template=template,
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        "CreateIntegration": pb.CreateIntegrationRequest(
            integration=pb_resources.Integration(
                sub_account_id="sa-bench",
                template="integrationTemplates/gohighlevel",
                display_name="Another",
                config=integration.config,
            )
        ),
        "UpdateIntegration": pb.UpdateIntegrationRequest(
            integration=renamed, update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
        ),
        "DeleteIntegration": pb.DeleteIntegrationRequest(
            name=integration.name, etag=integration.etag
        ),
        "GetFreeSlots": pb.GetFreeSlotsRequest(
            name=integration.name, start_time=start, end_time=end, time_zone="America/Chicago"
        ),
        "CreateBlockSlot": pb.CreateBlockSlotRequest(
            name=integration.name, start_time=start, end_time=end, title="Blocked"
        ),
    }


async def test_every_rpc_is_refused_without_a_token_to_non_admins_and_to_other_tenants(
    tmp_path: Path,
) -> None:
    async with deployment(tmp_path, only="grpc") as running:
        integration = f"integrations/{running.integration_id}"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            stub = integration_service_pb2_grpc.IntegrationServiceStub(channel)
            current = await stub.GetIntegration(
                pb.GetIntegrationRequest(name=integration),
                metadata=(("authorization", f"Bearer {running.keys.token()}"),),
            )
        well_formed = well_formed_requests(current.integration)
        before = await row_counts(running.database_url)
        unauthenticated, as_user, as_intruder = {}, {}, {}
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            for rpc in all_rpcs():
                mine = well_formed.get(rpc.name) or aimed_at(rpc, integration, "sa-bench")
                unauthenticated[rpc.name] = (await call(channel, rpc, mine, None))[0]
                user = running.keys.token("user", "sa-bench")
                if rpc.name in ADMIN_ONLY:
                    as_user[rpc.name] = (await call(channel, rpc, mine, user))[0]
                intruder = running.keys.token("user", OTHER_TENANT)
                code, answer = await call(channel, rpc, mine, intruder)
                as_intruder[rpc.name] = code
                if code is grpc.StatusCode.OK:  # errors may echo the ids the caller sent
                    assert running.integration_id.encode() not in answer, (rpc.name, answer)
                    assert b"sa-bench" not in answer, (rpc.name, answer)
            after = await row_counts(running.database_url)
            # Then as the owner's own user: what it may not do, the intruder may not either;
            # what it may, the intruder finds NOT_FOUND.
            as_owner = {}
            for rpc in all_rpcs():
                if rpc.name in BY_INTEGRATION_NAME:
                    mine = well_formed.get(rpc.name) or aimed_at(rpc, integration, "sa-bench")
                    as_owner[rpc.name] = (await call(channel, rpc, mine, user))[0]

    assert set(unauthenticated.values()) == {grpc.StatusCode.UNAUTHENTICATED}, unauthenticated
    assert set(as_user.values()) == {grpc.StatusCode.PERMISSION_DENIED}, as_user
    assert len(as_user) == len(ADMIN_ONLY)
    assert as_owner.keys() == BY_INTEGRATION_NAME
    for name, owner in as_owner.items():
        denied = owner is grpc.StatusCode.PERMISSION_DENIED
        expected = grpc.StatusCode.PERMISSION_DENIED if denied else grpc.StatusCode.NOT_FOUND
        assert as_intruder[name] == expected, (name, as_intruder[name], owner)
    refused = {
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
    assert {n: c for n, c in as_intruder.items() if c not in refused} == {
        n: grpc.StatusCode.OK
        for n, c in as_intruder.items()
        if c is grpc.StatusCode.OK and n.startswith(("List", "Get", "Stream"))
    }  # what is answered at all is a read of the caller's own (empty) data
    assert after == before  # nothing written for anyone

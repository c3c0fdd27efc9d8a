"""A client's view of the running service: generated stubs, real tokens, a real database."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from integrations.v1 import integration_pb2 as resources
from integrations.v1 import integration_service_pb2 as pb
from integrations.v1 import integration_service_pb2_grpc
from tests.e2e.conftest import Service

Stub = integration_service_pb2_grpc.IntegrationServiceStub
FB_TOKEN = "EAAB-fb-token-0123456789abcdefXYZ9"


def fb_config(**overrides: str) -> struct_pb2.Struct:
    config = struct_pb2.Struct()
    config.update(
        {
            "accessToken": FB_TOKEN,
            "pageId": "104561234567890",
            **overrides,
        }
    )
    return config


async def test_an_integration_round_trips_through_the_running_service_without_leaking_secrets(
    service: Service, stub: Stub
) -> None:
    admin = service.metadata("admin")
    templates = await stub.ListIntegrationTemplates(
        pb.ListIntegrationTemplatesRequest(), metadata=admin
    )
    assert {t.name for t in templates.integration_templates} >= {
        "integrationTemplates/gohighlevel",
        "integrationTemplates/facebook_ads",
        "integrationTemplates/google_analytics",
    }

    created = await stub.CreateIntegration(
        pb.CreateIntegrationRequest(
            integration=resources.Integration(
                sub_account_id="sa-e2e",
                template="integrationTemplates/facebook_ads",
                display_name="Lead ads",
                config=fb_config(),
            ),
            request_id="e2e-create-1",
        ),
        metadata=admin,
    )
    # Facebook cannot be reached (the test points the service nowhere): an honest failure.
    assert not created.connection_test.success
    assert created.connection_test.error_code == "CONNECTION_FAILED"
    assert created.integration.state == resources.Integration.STATE_ERROR
    assert created.integration.config["accessToken"] == "••••XYZ9"

    user = service.metadata("user", "sa-e2e")
    fetched = await stub.GetIntegration(
        pb.GetIntegrationRequest(name=created.integration.name), metadata=user
    )
    assert fetched.integration == created.integration

    updated = await stub.UpdateIntegration(
        pb.UpdateIntegrationRequest(
            integration=resources.Integration(
                name=created.integration.name,
                display_name="Lead ads (EU)",
                config=fb_config(accessToken="••••XYZ9", pageId="209876543210987"),
                etag=fetched.integration.etag,
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "config"]),
        ),
        metadata=admin,
    )
    assert updated.integration.display_name == "Lead ads (EU)"
    assert updated.integration.config["pageId"] == "209876543210987"
    assert updated.integration.config["accessToken"] == "••••XYZ9"

    off = await stub.DeactivateIntegration(
        pb.DeactivateIntegrationRequest(name=created.integration.name), metadata=admin
    )
    assert off.integration.state == resources.Integration.STATE_DISCONNECTED

    listed = await stub.ListIntegrations(pb.ListIntegrationsRequest(page_size=10), metadata=user)
    assert [i.name for i in listed.integrations] == [created.integration.name]

    await stub.DeleteIntegration(
        pb.DeleteIntegrationRequest(name=created.integration.name), metadata=admin
    )
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await stub.GetIntegration(
            pb.GetIntegrationRequest(name=created.integration.name), metadata=admin
        )
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    logs = service.logs()
    assert "CreateIntegration" in logs  # the requests were logged...
    for secret in (
        FB_TOKEN,
        service.token("admin"),
        service.token("user", "sa-e2e"),
    ):
        assert secret not in logs  # ...and no secret with them


async def test_the_running_service_refuses_bad_callers_with_precise_statuses(
    service: Service, stub: Stub
) -> None:
    admin = service.metadata("admin")
    created = await stub.CreateIntegration(
        pb.CreateIntegrationRequest(
            integration=resources.Integration(
                sub_account_id="sa-1",
                template="integrationTemplates/facebook_ads",
                display_name="Ads",
                config=fb_config(),
            )
        ),
        metadata=admin,
    )
    name = created.integration.name

    async def status_of(call: object) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call  # type: ignore[misc]
        status = rpc_status.from_call(caught.value)
        assert status is not None
        reason = ""
        for detail in status.details:
            if detail.type_url.endswith("google.rpc.ErrorInfo"):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
        return caught.value.code(), reason

    assert await status_of(stub.GetIntegration(pb.GetIntegrationRequest(name=name))) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "UNAUTHENTICATED",
    )
    assert await status_of(
        stub.GetIntegration(
            pb.GetIntegrationRequest(name=name), metadata=(("authorization", "Bearer nope"),)
        )
    ) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    assert await status_of(
        stub.DeleteIntegration(
            pb.DeleteIntegrationRequest(name=name), metadata=service.metadata("user", "sa-1")
        )
    ) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert await status_of(
        stub.GetIntegration(
            pb.GetIntegrationRequest(name=name), metadata=service.metadata("user", "sa-2")
        )
    ) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    assert await status_of(
        stub.DeleteIntegration(
            pb.DeleteIntegrationRequest(name=name, etag='W/"999"'), metadata=admin
        )
    ) == (grpc.StatusCode.ABORTED, "VERSION_CONFLICT")
    assert await status_of(
        stub.CreateIntegration(
            pb.CreateIntegrationRequest(
                integration=resources.Integration(
                    sub_account_id="sa-1",
                    template="integrationTemplates/facebook_ads",
                    display_name="Ads",
                    config=fb_config(pageId="page-1"),
                )
            ),
            metadata=admin,
        )
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "CONFIG_SCHEMA_INVALID")

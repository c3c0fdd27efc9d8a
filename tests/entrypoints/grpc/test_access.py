"""Who may call what, over a real channel: tokens, roles and tenants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
from google.protobuf import field_mask_pb2

from domain.values import Role
from integrations.v1 import integration_pb2
from integrations.v1 import integration_service_pb2 as pb
from tests.entrypoints.grpc.conftest import (
    JWT_SECRET,
    Metadata,
    Service,
    admin_md,
    bearer,
    create_ghl,
    ghl_integration,
    other_user_md,
    rejected,
    user_md,
)


def raw_token(
    claims: dict[str, object], *, secret: str = JWT_SECRET, expiring: bool = True
) -> Metadata:
    """A token of exactly these claims, plus an expiry five minutes from now if `expiring`."""
    if expiring:
        claims = {**claims, "exp": datetime.now(UTC) + timedelta(minutes=5)}
    return (("authorization", "Bearer " + jwt.encode(claims, secret, algorithm="HS256")),)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        pytest.param(lambda: (), "a bearer token is required", id="no token"),
        pytest.param(
            lambda: (("authorization", "Basic YWRtaW46YWRtaW4="),), "Bearer", id="not bearer"
        ),
        pytest.param(lambda: (("authorization", "Bearer not-a-jwt"),), "not valid", id="garbage"),
        pytest.param(
            lambda: raw_token(
                {"sub": "a", "role": "admin"}, secret="another-secret-of-at-least-32-bytes!!"
            ),
            "not valid",
            id="bad signature",
        ),
        pytest.param(
            lambda: bearer(Role.ADMIN, ttl=timedelta(minutes=-5)), "expired", id="expired token"
        ),
        pytest.param(lambda: raw_token({"sub": "a", "role": "root"}), "role", id="unknown role"),
        pytest.param(
            lambda: raw_token({"sub": "u", "role": "user"}),
            "sub_account_id",
            id="user without sub-account",
        ),
        pytest.param(
            lambda: raw_token({"sub": "a", "role": "admin"}, expiring=False), "exp", id="no expiry"
        ),
    ],
)
async def test_a_call_without_a_valid_token_is_unauthenticated(
    service: Service, metadata: Callable[[], Metadata], message: str
) -> None:
    rejection = await rejected(
        service.stub.ListIntegrationTemplates(
            pb.ListIntegrationTemplatesRequest(), metadata=metadata()
        )
    )

    assert rejection.code is grpc.StatusCode.UNAUTHENTICATED
    assert rejection.error_info.reason == "UNAUTHENTICATED"
    assert message in rejection.message


async def test_a_non_admin_cannot_create_update_delete_or_switch_integrations(
    service: Service,
) -> None:
    name = (await create_ghl(service)).integration.name
    calls = [
        service.stub.CreateIntegration(
            pb.CreateIntegrationRequest(integration=ghl_integration()), metadata=user_md()
        ),
        service.stub.UpdateIntegration(
            pb.UpdateIntegrationRequest(
                integration=integration_pb2.Integration(name=name, description="mine"),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
            metadata=user_md(),
        ),
        service.stub.DeleteIntegration(pb.DeleteIntegrationRequest(name=name), metadata=user_md()),
        service.stub.DeactivateIntegration(
            pb.DeactivateIntegrationRequest(name=name), metadata=user_md()
        ),
        service.stub.ReactivateIntegration(
            pb.ReactivateIntegrationRequest(name=name), metadata=user_md()
        ),
    ]

    for call in calls:
        rejection = await rejected(call)
        assert rejection.code is grpc.StatusCode.PERMISSION_DENIED
        assert rejection.error_info.reason == "PERMISSION_DENIED"


async def test_another_tenants_integration_is_not_found_like_a_missing_one(
    service: Service,
) -> None:
    name = (await create_ghl(service)).integration.name
    missing = "integrations/id-999999"

    theirs = await rejected(
        service.stub.GetIntegration(pb.GetIntegrationRequest(name=name), metadata=other_user_md())
    )
    absent = await rejected(
        service.stub.GetIntegration(
            pb.GetIntegrationRequest(name=missing), metadata=other_user_md()
        )
    )
    tested = await rejected(
        service.stub.TestIntegration(pb.TestIntegrationRequest(name=name), metadata=other_user_md())
    )

    assert theirs.code is absent.code is tested.code is grpc.StatusCode.NOT_FOUND
    assert theirs.error_info.reason == absent.error_info.reason == "NOT_FOUND"
    assert theirs.message == absent.message.replace(missing.split("/")[1], name.split("/")[1])


async def test_a_user_lists_only_their_own_sub_accounts_integrations(service: Service) -> None:
    mine = (await create_ghl(service)).integration
    await create_ghl(service, "sub-globex")

    listed = await service.stub.ListIntegrations(pb.ListIntegrationsRequest(), metadata=user_md())
    everything = await service.stub.ListIntegrations(
        pb.ListIntegrationsRequest(), metadata=admin_md()
    )
    refused = await rejected(
        service.stub.ListIntegrations(
            pb.ListIntegrationsRequest(sub_account_id="sub-globex"), metadata=user_md()
        )
    )

    assert [i.name for i in listed.integrations] == [mine.name]
    assert len(everything.integrations) == 2
    assert refused.code is grpc.StatusCode.PERMISSION_DENIED

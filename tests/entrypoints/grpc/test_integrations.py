"""The integration RPCs over a real channel: lifecycle, validation, masking, etags, pagination."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from application.ports import ConnectionTestResult
from domain.errors import ErrorCode
from integrations.v1 import integration_pb2
from integrations.v1 import integration_service_pb2 as pb
from tests.entrypoints.grpc.conftest import (
    API_KEY,
    OTHER_TENANT,
    TENANT,
    WEBHOOK_SECRET,
    Service,
    admin_md,
    create_ghl,
    ghl_integration,
    rejected,
    user_md,
)

State = integration_pb2.Integration.State


async def test_creating_an_integration_tests_it_and_returns_it_active(service: Service) -> None:
    response = await create_ghl(service)
    integration = response.integration

    assert integration.name.startswith("integrations/")
    assert integration.state == State.STATE_ACTIVE
    assert integration.is_active
    assert integration.sub_account_id == TENANT
    assert integration.template == "integrationTemplates/gohighlevel"
    assert integration.config["locationId"] == "loc-1"
    assert list(integration.secret_fields) == ["apiKey", "webhookSecret"]
    assert integration.creator == "admin-subject"
    assert integration.HasField("last_test_time")
    assert response.connection_test.success
    assert response.connection_test.details["account_name"] == "Acme"
    assert service.provider.calls[0].credentials.values["apiKey"].reveal() == API_KEY


async def test_secrets_come_back_masked_with_their_last_four_characters(service: Service) -> None:
    integration = (await create_ghl(service)).integration

    assert integration.config["apiKey"] == "••••" + API_KEY[-4:]
    assert integration.config["webhookSecret"] == "••••" + WEBHOOK_SECRET[-4:]


async def test_no_response_of_a_full_lifecycle_holds_a_plaintext_secret(service: Service) -> None:
    new_key = "pit-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    created = await create_ghl(service)
    name = created.integration.name
    responses: list[Message] = [created]
    responses.append(
        await service.stub.GetIntegration(pb.GetIntegrationRequest(name=name), metadata=user_md())
    )
    responses.append(
        await service.stub.ListIntegrations(pb.ListIntegrationsRequest(), metadata=admin_md())
    )
    change = integration_pb2.Integration(name=name)
    change.config.update({"apiKey": new_key})
    responses.append(
        await service.stub.UpdateIntegration(
            pb.UpdateIntegrationRequest(
                integration=change,
                update_mask=field_mask_pb2.FieldMask(paths=["config.apiKey"]),
            ),
            metadata=admin_md(),
        )
    )
    responses.append(
        await service.stub.TestIntegration(pb.TestIntegrationRequest(name=name), metadata=user_md())
    )
    responses.append(
        await service.stub.DeactivateIntegration(
            pb.DeactivateIntegrationRequest(name=name), metadata=admin_md()
        )
    )
    responses.append(
        await service.stub.ReactivateIntegration(
            pb.ReactivateIntegrationRequest(name=name), metadata=admin_md()
        )
    )

    for response in responses:
        wire = response.SerializeToString()
        for secret in (API_KEY, WEBHOOK_SECRET, new_key):
            assert secret.encode() not in wire, type(response).__name__
    assert service.provider.calls[-1].credentials.values["apiKey"].reveal() == new_key


async def test_a_config_breaking_the_schema_lists_every_violation_by_request_path(
    service: Service,
) -> None:
    integration = ghl_integration(apiKey="", calendarId=7, colour="blue")

    rejection = await rejected(
        service.stub.CreateIntegration(
            pb.CreateIntegrationRequest(integration=integration), metadata=admin_md()
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.error_info.reason == "CONFIG_SCHEMA_INVALID"
    assert rejection.bad_request is not None
    fields = sorted(v.field for v in rejection.bad_request.field_violations)
    assert fields == [
        "integration.config.apiKey",
        "integration.config.calendarId",
        "integration.config.colour",
        "integration.config.locationId",
    ]
    assert service.uow.store.integrations == {}


async def test_an_unsupported_provider_leaves_the_integration_in_error(service: Service) -> None:
    integration = integration_pb2.Integration(
        sub_account_id=TENANT,
        template="integrationTemplates/facebook_ads",
        display_name="Acme leads",
    )
    integration.config.update(
        {"accessToken": "EAAB-long-access-token", "pageId": "104561234567890"}
    )

    response = await service.stub.CreateIntegration(
        pb.CreateIntegrationRequest(integration=integration), metadata=admin_md()
    )

    assert response.integration.state == State.STATE_ERROR
    assert response.integration.error_code == "PROVIDER_NOT_SUPPORTED"
    assert "not supported" in response.integration.error_message
    assert not response.connection_test.success
    assert response.connection_test.error_code == "PROVIDER_NOT_SUPPORTED"
    assert "not supported" in response.connection_test.message


async def test_a_failed_connection_test_reports_its_error_and_latency(service: Service) -> None:
    service.provider.result = ConnectionTestResult(
        success=False,
        message="the API key was refused",
        error_code=ErrorCode.INVALID_CREDENTIALS,
        latency_ms=12.5,
    )

    response = await create_ghl(service)

    assert response.integration.state == State.STATE_ERROR
    assert response.integration.error_code == "INVALID_CREDENTIALS"
    assert response.connection_test.error_code == "INVALID_CREDENTIALS"
    assert response.connection_test.latency.ToMilliseconds() == 12


async def test_a_retried_create_with_the_same_request_id_returns_the_first_integration(
    service: Service,
) -> None:
    request = pb.CreateIntegrationRequest(
        integration=ghl_integration(), request_id="6f1d8a3e-33b9-4bb1-9e0c-2f8f5d1a7c11"
    )

    first = await service.stub.CreateIntegration(request, metadata=admin_md())
    second = await service.stub.CreateIntegration(request, metadata=admin_md())

    assert second.integration.name == first.integration.name
    assert not second.HasField("connection_test")
    assert len(service.uow.store.integrations) == 1


async def test_an_integration_is_read_back_by_its_name(service: Service) -> None:
    created = (await create_ghl(service)).integration

    fetched = await service.stub.GetIntegration(
        pb.GetIntegrationRequest(name=created.name), metadata=user_md()
    )

    assert fetched.integration == created


async def test_a_malformed_name_is_invalid_argument(service: Service) -> None:
    rejection = await rejected(
        service.stub.GetIntegration(
            pb.GetIntegrationRequest(name="integrations/a/b"), metadata=user_md()
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.error_info.reason == "INVALID_ARGUMENT"
    assert rejection.bad_request is not None
    assert rejection.bad_request.field_violations[0].field == "name"


async def test_integrations_page_through_with_a_page_token(service: Service) -> None:
    created = [(await create_ghl(service, display_name=f"n{i}")).integration for i in range(5)]
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await service.stub.ListIntegrations(
            pb.ListIntegrationsRequest(page_size=2, page_token=token), metadata=user_md()
        )
        names += [i.name for i in page.integrations]
        pages += 1
        token = page.next_page_token
        if not token:
            break

    assert pages == 3
    assert names == [i.name for i in created]


async def test_a_tampered_page_token_is_invalid_argument(service: Service) -> None:
    for i in range(3):
        await create_ghl(service, display_name=f"n{i}")
    token = (
        await service.stub.ListIntegrations(
            pb.ListIntegrationsRequest(page_size=1), metadata=admin_md()
        )
    ).next_page_token
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]

    rejection = await rejected(
        service.stub.ListIntegrations(
            pb.ListIntegrationsRequest(page_size=1, page_token=tampered), metadata=admin_md()
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.bad_request is not None
    assert rejection.bad_request.field_violations[0].field == "page_token"


async def test_a_page_token_reused_with_other_filters_is_invalid_argument(
    service: Service,
) -> None:
    for i in range(3):
        await create_ghl(service, display_name=f"n{i}")
    token = (
        await service.stub.ListIntegrations(
            pb.ListIntegrationsRequest(page_size=1), metadata=admin_md()
        )
    ).next_page_token

    rejection = await rejected(
        service.stub.ListIntegrations(
            pb.ListIntegrationsRequest(page_size=1, page_token=token, states=[State.STATE_ERROR]),
            metadata=admin_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_negative_page_size_is_invalid_argument(service: Service) -> None:
    rejection = await rejected(
        service.stub.ListIntegrations(pb.ListIntegrationsRequest(page_size=-1), metadata=user_md())
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.bad_request is not None
    assert rejection.bad_request.field_violations[0].field == "page_size"


async def test_integrations_are_filtered_by_state_template_and_sub_account(
    service: Service,
) -> None:
    active = (await create_ghl(service)).integration
    await create_ghl(service, OTHER_TENANT)
    service.provider.result = ConnectionTestResult(success=False, message="refused")
    failed = (await create_ghl(service)).integration

    errors = await service.stub.ListIntegrations(
        pb.ListIntegrationsRequest(states=[State.STATE_ERROR]), metadata=admin_md()
    )
    mine = await service.stub.ListIntegrations(
        pb.ListIntegrationsRequest(
            sub_account_id=TENANT,
            states=[State.STATE_ACTIVE, State.STATE_ERROR],
            template="integrationTemplates/gohighlevel",
        ),
        metadata=admin_md(),
    )
    other_template = await service.stub.ListIntegrations(
        pb.ListIntegrationsRequest(template="integrationTemplates/facebook_ads"),
        metadata=admin_md(),
    )

    assert [i.name for i in errors.integrations] == [failed.name]
    assert [i.name for i in mine.integrations] == [active.name, failed.name]
    assert list(other_template.integrations) == []


async def test_an_unspecified_state_filter_is_invalid_argument(service: Service) -> None:
    rejection = await rejected(
        service.stub.ListIntegrations(
            pb.ListIntegrationsRequest(states=[State.STATE_UNSPECIFIED]), metadata=admin_md()
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT


async def test_an_update_changes_the_display_name_and_keeps_the_secrets(service: Service) -> None:
    created = (await create_ghl(service)).integration
    change = integration_pb2.Integration(
        name=created.name, etag=created.etag, display_name="Acme CRM (EU)"
    )

    response = await service.stub.UpdateIntegration(
        pb.UpdateIntegrationRequest(
            integration=change, update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
        ),
        metadata=admin_md(),
    )

    assert response.integration.display_name == "Acme CRM (EU)"
    assert response.integration.config == created.config
    assert response.integration.etag != created.etag
    assert not response.HasField("connection_test")


async def test_new_credentials_are_re_tested_and_masked(service: Service) -> None:
    created = (await create_ghl(service)).integration
    new_key = "pit-99999999-8888-7777-6666-555555554321"
    change = integration_pb2.Integration(name=created.name, etag=created.etag)
    change.config.update({"apiKey": new_key})

    response = await service.stub.UpdateIntegration(
        pb.UpdateIntegrationRequest(
            integration=change, update_mask=field_mask_pb2.FieldMask(paths=["config.apiKey"])
        ),
        metadata=admin_md(),
    )

    assert response.connection_test.success
    assert response.integration.config["apiKey"] == "••••4321"
    assert response.integration.config["locationId"] == "loc-1"
    assert service.provider.calls[-1].credentials.values["apiKey"].reveal() == new_key


async def test_an_update_with_a_stale_etag_is_aborted(service: Service) -> None:
    created = (await create_ghl(service)).integration
    await service.stub.UpdateIntegration(
        pb.UpdateIntegrationRequest(
            integration=integration_pb2.Integration(
                name=created.name, etag=created.etag, description="first"
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
        ),
        metadata=admin_md(),
    )

    rejection = await rejected(
        service.stub.UpdateIntegration(
            pb.UpdateIntegrationRequest(
                integration=integration_pb2.Integration(
                    name=created.name, etag=created.etag, description="second"
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            ),
            metadata=admin_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.ABORTED
    assert rejection.error_info.reason == "VERSION_CONFLICT"


async def test_an_etag_this_service_did_not_issue_is_invalid_argument(service: Service) -> None:
    created = (await create_ghl(service)).integration

    rejection = await rejected(
        service.stub.DeleteIntegration(
            pb.DeleteIntegrationRequest(name=created.name, etag="v7"), metadata=admin_md()
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.bad_request is not None
    assert rejection.bad_request.field_violations[0].field == "etag"


async def test_a_deleted_integration_is_gone(service: Service) -> None:
    created = (await create_ghl(service)).integration

    response = await service.stub.DeleteIntegration(
        pb.DeleteIntegrationRequest(name=created.name, etag=created.etag), metadata=admin_md()
    )
    rejection = await rejected(
        service.stub.GetIntegration(
            pb.GetIntegrationRequest(name=created.name), metadata=admin_md()
        )
    )

    assert response == pb.DeleteIntegrationResponse()
    assert rejection.code is grpc.StatusCode.NOT_FOUND


async def test_a_delete_with_a_stale_etag_is_aborted(service: Service) -> None:
    created = (await create_ghl(service)).integration
    await service.stub.TestIntegration(
        pb.TestIntegrationRequest(name=created.name), metadata=admin_md()
    )

    rejection = await rejected(
        service.stub.DeleteIntegration(
            pb.DeleteIntegrationRequest(name=created.name, etag=created.etag), metadata=admin_md()
        )
    )

    assert rejection.code is grpc.StatusCode.ABORTED


async def test_testing_an_integration_moves_it_from_error_to_active(service: Service) -> None:
    service.provider.result = ConnectionTestResult(success=False, message="refused")
    created = (await create_ghl(service)).integration
    service.provider.result = ConnectionTestResult(success=True, message="connected")

    response = await service.stub.TestIntegration(
        pb.TestIntegrationRequest(name=created.name), metadata=user_md()
    )

    assert created.state == State.STATE_ERROR
    assert response.connection_test.success
    assert response.integration.state == State.STATE_ACTIVE
    assert response.integration.error_code == ""


async def test_deactivating_disconnects_and_reactivating_tests_again(service: Service) -> None:
    created = (await create_ghl(service)).integration

    off = await service.stub.DeactivateIntegration(
        pb.DeactivateIntegrationRequest(name=created.name), metadata=admin_md()
    )
    on = await service.stub.ReactivateIntegration(
        pb.ReactivateIntegrationRequest(name=created.name), metadata=admin_md()
    )

    assert off.integration.state == State.STATE_DISCONNECTED
    assert not off.integration.is_active
    assert on.integration.state == State.STATE_ACTIVE
    assert on.integration.is_active
    assert on.connection_test.success
    assert len(service.provider.calls) == 2


async def test_a_throttled_test_is_resource_exhausted_with_retry_info_and_keeps_the_state(
    service: Service,
) -> None:
    created = (await create_ghl(service)).integration
    service.provider.result = ConnectionTestResult(
        success=False,
        message="GoHighLevel's rate limit was reached",
        error_code=ErrorCode.RATE_LIMIT_EXCEEDED,
        retry_after_seconds=4.5,
    )

    rejection = await rejected(
        service.stub.TestIntegration(
            pb.TestIntegrationRequest(name=created.name), metadata=user_md()
        )
    )

    assert rejection.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rejection.error_info.reason == "RATE_LIMIT_EXCEEDED"
    [retry] = [d for d in rejection.status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    info = error_details_pb2.RetryInfo()
    retry.Unpack(info)
    assert info.retry_delay.ToTimedelta().total_seconds() == 4.5
    after = await service.stub.GetIntegration(
        pb.GetIntegrationRequest(name=created.name), metadata=user_md()
    )
    assert (after.integration.state, after.integration.error_code) == (State.STATE_ACTIVE, "")

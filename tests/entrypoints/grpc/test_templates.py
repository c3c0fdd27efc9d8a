"""The template RPCs over a real channel: catalogue reads, admin writes, field masks, etags."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2

from integrations.v1 import integration_pb2
from integrations.v1 import integration_service_pb2 as pb
from tests.entrypoints.grpc.conftest import Service, admin_md, rejected, user_md

CRM_SCHEMA = {
    "type": "object",
    "properties": {
        "token": {"type": "string", "required": True, "encrypted": True},
        "region": {"type": "string", "enum": ["eu", "us"]},
        "retries": {"type": "integer", "minimum": 0},
    },
}


def new_template() -> integration_pb2.IntegrationTemplate:
    template = integration_pb2.IntegrationTemplate(
        display_name="Pipedrive", category="CRM", rate_limit_per_minute=60
    )
    template.config_schema.update(CRM_SCHEMA)
    return template


async def test_the_catalogue_lists_the_built_in_templates_to_any_caller(service: Service) -> None:
    response = await service.stub.ListIntegrationTemplates(
        pb.ListIntegrationTemplatesRequest(), metadata=user_md()
    )

    assert [t.name for t in response.integration_templates] == [
        "integrationTemplates/gohighlevel",
        "integrationTemplates/gohighlevel_oauth",
        "integrationTemplates/facebook_ads",
        "integrationTemplates/google_analytics",
    ]
    assert response.next_page_token == ""


async def test_templates_page_through_the_catalogue_with_a_page_token(service: Service) -> None:
    first = await service.stub.ListIntegrationTemplates(
        pb.ListIntegrationTemplatesRequest(page_size=2), metadata=user_md()
    )
    second = await service.stub.ListIntegrationTemplates(
        pb.ListIntegrationTemplatesRequest(page_size=2, page_token=first.next_page_token),
        metadata=user_md(),
    )

    assert len(first.integration_templates) == 2
    assert first.next_page_token
    assert [t.name for t in second.integration_templates] == [
        "integrationTemplates/facebook_ads",
        "integrationTemplates/google_analytics",
    ]
    assert second.next_page_token == ""


async def test_getting_gohighlevel_shows_its_schema_and_secret_fields(service: Service) -> None:
    response = await service.stub.GetIntegrationTemplate(
        pb.GetIntegrationTemplateRequest(name="integrationTemplates/gohighlevel"),
        metadata=user_md(),
    )
    template = response.integration_template

    assert template.display_name == "GoHighLevel CRM"
    assert list(template.secret_fields) == ["apiKey", "webhookSecret"]
    assert template.config_schema["properties"]["apiKey"]["minLength"] == 1
    assert template.is_active
    assert template.rate_limit_per_minute == 100
    assert template.etag == 'W/"1"'
    assert template.create_time.ToDatetime().year == 2026


async def test_an_admin_creates_a_template_named_by_its_slug(service: Service) -> None:
    created = await service.stub.CreateIntegrationTemplate(
        pb.CreateIntegrationTemplateRequest(
            integration_template=new_template(), integration_template_id="pipedrive"
        ),
        metadata=admin_md(),
    )
    fetched = await service.stub.GetIntegrationTemplate(
        pb.GetIntegrationTemplateRequest(name="integrationTemplates/pipedrive"), metadata=admin_md()
    )

    assert created.integration_template == fetched.integration_template
    assert fetched.integration_template.is_active  # unset on create means active
    assert list(fetched.integration_template.secret_fields) == ["token"]
    assert fetched.integration_template.creator == "admin-subject"
    # Struct numbers are doubles; integral ones come back as they were sent.
    retries = fetched.integration_template.config_schema["properties"]["retries"]
    assert retries["minimum"] == 0


async def test_a_template_whose_schema_is_not_valid_is_refused_with_its_field_path(
    service: Service,
) -> None:
    template = new_template()
    template.config_schema["properties"]["retries"]["minimum"] = "zero"

    rejection = await rejected(
        service.stub.CreateIntegrationTemplate(
            pb.CreateIntegrationTemplateRequest(
                integration_template=template, integration_template_id="pipedrive"
            ),
            metadata=admin_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.error_info.reason == "CONFIG_SCHEMA_INVALID"
    assert rejection.bad_request is not None
    assert [v.field for v in rejection.bad_request.field_violations] == [
        "integration_template.config_schema.properties.retries.minimum"
    ]


async def test_a_template_slug_that_is_taken_is_already_exists(service: Service) -> None:
    rejection = await rejected(
        service.stub.CreateIntegrationTemplate(
            pb.CreateIntegrationTemplateRequest(
                integration_template=new_template(), integration_template_id="gohighlevel"
            ),
            metadata=admin_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.ALREADY_EXISTS
    assert rejection.error_info.reason == "ALREADY_EXISTS"


async def test_an_admin_updates_only_the_fields_in_the_mask(service: Service) -> None:
    current = (
        await service.stub.GetIntegrationTemplate(
            pb.GetIntegrationTemplateRequest(name="integrationTemplates/facebook_ads"),
            metadata=admin_md(),
        )
    ).integration_template
    change = integration_pb2.IntegrationTemplate(
        name=current.name,
        etag=current.etag,
        display_name="Meta Lead Ads",
        description="ignored: not in the mask",
        is_active=False,
    )

    updated = (
        await service.stub.UpdateIntegrationTemplate(
            pb.UpdateIntegrationTemplateRequest(
                integration_template=change,
                update_mask=field_mask_pb2.FieldMask(paths=["display_name", "is_active"]),
            ),
            metadata=admin_md(),
        )
    ).integration_template

    assert updated.display_name == "Meta Lead Ads"
    assert not updated.is_active
    assert updated.description == current.description
    assert updated.etag != current.etag
    listed = await service.stub.ListIntegrationTemplates(
        pb.ListIntegrationTemplatesRequest(), metadata=user_md()
    )
    assert current.name not in [t.name for t in listed.integration_templates]


async def test_a_template_update_with_a_stale_etag_is_aborted(service: Service) -> None:
    name = "integrationTemplates/google_analytics"
    stale = (
        await service.stub.GetIntegrationTemplate(
            pb.GetIntegrationTemplateRequest(name=name), metadata=admin_md()
        )
    ).integration_template.etag
    mask = field_mask_pb2.FieldMask(paths=["description"])
    await service.stub.UpdateIntegrationTemplate(
        pb.UpdateIntegrationTemplateRequest(
            integration_template=integration_pb2.IntegrationTemplate(
                name=name, etag=stale, description="first"
            ),
            update_mask=mask,
        ),
        metadata=admin_md(),
    )

    rejection = await rejected(
        service.stub.UpdateIntegrationTemplate(
            pb.UpdateIntegrationTemplateRequest(
                integration_template=integration_pb2.IntegrationTemplate(
                    name=name, etag=stale, description="second"
                ),
                update_mask=mask,
            ),
            metadata=admin_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.ABORTED
    assert rejection.error_info.reason == "VERSION_CONFLICT"


async def test_a_mask_naming_an_output_only_field_is_invalid(service: Service) -> None:
    rejection = await rejected(
        service.stub.UpdateIntegrationTemplate(
            pb.UpdateIntegrationTemplateRequest(
                integration_template=integration_pb2.IntegrationTemplate(
                    name="integrationTemplates/gohighlevel"
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["secret_fields"]),
            ),
            metadata=admin_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.bad_request is not None
    assert rejection.bad_request.field_violations[0].field == "update_mask"


async def test_a_non_admin_cannot_write_the_catalogue(service: Service) -> None:
    create = await rejected(
        service.stub.CreateIntegrationTemplate(
            pb.CreateIntegrationTemplateRequest(
                integration_template=new_template(), integration_template_id="pipedrive"
            ),
            metadata=user_md(),
        )
    )
    update = await rejected(
        service.stub.UpdateIntegrationTemplate(
            pb.UpdateIntegrationTemplateRequest(
                integration_template=integration_pb2.IntegrationTemplate(
                    name="integrationTemplates/gohighlevel", display_name="Mine"
                ),
            ),
            metadata=user_md(),
        )
    )

    assert create.code is update.code is grpc.StatusCode.PERMISSION_DENIED
    assert create.error_info.reason == update.error_info.reason == "PERMISSION_DENIED"

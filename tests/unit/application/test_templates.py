"""The template catalogue use cases."""

from __future__ import annotations

import pytest

from adapters.schema import JsonSchemaConfigValidator
from application.ports import PageRequest
from application.use_cases.create_template import CreateTemplateCommand
from application.use_cases.get_template import GetTemplateQuery, ListTemplatesQuery
from application.use_cases.seed_templates import SeedTemplates
from application.use_cases.update_template import UpdateTemplateCommand
from domain.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    ConfigSchemaInvalidError,
    NotFoundError,
    PermissionDeniedError,
)
from entrypoints.catalogue import BUILT_IN_TEMPLATES
from tests.fakes import SequentialIds
from tests.unit.application.conftest import ADMIN, USER, App

SCHEMA = {"properties": {"token": {"type": "string", "required": True, "encrypted": True}}}


def command(**overrides: object) -> CreateTemplateCommand:
    fields: dict[str, object] = {
        "actor": ADMIN,
        "name": "hubspot",
        "display_name": "HubSpot",
        "config_schema": SCHEMA,
        "category": "CRM",
    }
    fields.update(overrides)
    return CreateTemplateCommand(**fields)  # type: ignore[arg-type]


async def test_the_built_in_catalogue_is_seeded_once(app: App) -> None:
    page = await app.list_templates.execute(ListTemplatesQuery(actor=USER, page=PageRequest(50)))
    assert {t.name for t in page.items} == {
        "gohighlevel",
        "gohighlevel_oauth",
        "facebook_ads",
        "google_analytics",
    }
    ghl = next(t for t in page.items if t.name == "gohighlevel")
    assert ghl.secret_fields == {"apiKey", "webhookSecret"}
    again = SeedTemplates(
        uow=app.uow,
        validator=JsonSchemaConfigValidator(),
        ids=SequentialIds("x"),
        clock=app.clock,
        templates=BUILT_IN_TEMPLATES,
    )
    assert await again.execute() == []


async def test_an_admin_creates_a_template_and_anyone_reads_it_by_id_or_name(app: App) -> None:
    created = await app.create_template.execute(command())
    assert created.created_by_admin_id == "admin-1"
    by_id = await app.get_template.execute(GetTemplateQuery(actor=USER, template_id=created.id))
    by_name = await app.get_template.execute(GetTemplateQuery(actor=USER, template_id="hubspot"))
    assert by_id == by_name == created


async def test_non_admins_cannot_write_the_catalogue(app: App) -> None:
    with pytest.raises(PermissionDeniedError):
        await app.create_template.execute(command(actor=USER))
    created = await app.create_template.execute(command())
    with pytest.raises(PermissionDeniedError):
        await app.update_template.execute(
            UpdateTemplateCommand(actor=USER, template_id=created.id, changes={"icon": "x"})
        )


async def test_a_user_is_denied_an_update_whether_or_not_the_template_exists_or_is_active(
    app: App,
) -> None:
    hidden = await app.create_template.execute(command(is_active=False))
    for template_id in (hidden.id, "hubspot", "no_such_template"):
        with pytest.raises(PermissionDeniedError):
            await app.update_template.execute(
                UpdateTemplateCommand(actor=USER, template_id=template_id, changes={"icon": "x"})
            )


async def test_an_admin_updates_a_template_named_by_its_name(app: App) -> None:
    created = await app.create_template.execute(command())
    updated = await app.update_template.execute(
        UpdateTemplateCommand(actor=ADMIN, template_id="hubspot", changes={"icon": "x"})
    )
    assert (updated.id, updated.icon) == (created.id, "x")


async def test_a_template_name_is_unique(app: App) -> None:
    with pytest.raises(AlreadyExistsError):
        await app.create_template.execute(command(name="gohighlevel"))


async def test_a_template_schema_must_itself_be_valid_json_schema(app: App) -> None:
    with pytest.raises(ConfigSchemaInvalidError) as caught:
        await app.create_template.execute(
            command(config_schema={"properties": {"a": {"type": "strng"}, "b": {"minLength": -1}}})
        )
    fields = {v.field for v in caught.value.violations}
    assert fields == {"config_schema.properties.a.type", "config_schema.properties.b.minLength"}


async def test_updating_a_template_checks_the_new_schema_and_the_version(app: App) -> None:
    created = await app.create_template.execute(command())
    updated = await app.update_template.execute(
        UpdateTemplateCommand(
            actor=ADMIN,
            template_id=created.id,
            changes={"config_schema": {"properties": {"key": {"type": "string"}}}},
            expected_version=created.version,
        )
    )
    assert updated.version == created.version + 1
    assert updated.secret_fields == frozenset()
    with pytest.raises(ConcurrencyError):
        await app.update_template.execute(
            UpdateTemplateCommand(
                actor=ADMIN,
                template_id=created.id,
                changes={"icon": "x"},
                expected_version=created.version,
            )
        )


async def test_an_inactive_template_is_hidden_from_non_admins(app: App) -> None:
    created = await app.create_template.execute(command(is_active=False))
    with pytest.raises(NotFoundError):
        await app.get_template.execute(GetTemplateQuery(actor=USER, template_id=created.id))
    assert await app.get_template.execute(GetTemplateQuery(actor=ADMIN, template_id=created.id))
    listed = await app.list_templates.execute(ListTemplatesQuery(actor=USER, page=PageRequest(50)))
    assert created.id not in {t.id for t in listed.items}

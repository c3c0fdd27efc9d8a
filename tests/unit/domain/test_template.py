"""IntegrationTemplate and the normalisation of the seed's schema dialect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import ConfigSchemaInvalidError, InvalidArgumentError
from domain.events import TemplateCreated, TemplateUpdated
from domain.template import ConfigSchema, IntegrationTemplate

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SEED = {
    "type": "object",
    "properties": {
        "apiKey": {"type": "string", "required": True, "encrypted": True},
        "locationId": {"type": "string", "required": True},
        "calendarId": {"type": "string"},
        "webhookSecret": {"type": "string", "encrypted": True},
    },
}


def test_the_seed_dialect_becomes_standard_json_schema() -> None:
    schema = ConfigSchema.from_source(SEED)
    assert schema.json_schema["required"] == ["apiKey", "locationId"]
    assert schema.secret_fields == {"apiKey", "webhookSecret"}
    for prop in schema.properties.values():
        assert "required" not in prop
        assert "encrypted" not in prop
    assert schema.json_schema["additionalProperties"] is False
    assert schema.source == SEED  # the admin's text is kept as written


def test_a_standard_required_list_is_kept_and_merged() -> None:
    schema = ConfigSchema.from_source(
        {"properties": {"a": {"type": "string"}, "b": {"required": True}}, "required": ["a"]}
    )
    assert schema.json_schema["required"] == ["a", "b"]


def test_an_encrypted_field_must_be_a_string() -> None:
    with pytest.raises(ConfigSchemaInvalidError) as caught:
        ConfigSchema.from_source({"properties": {"n": {"type": "integer", "encrypted": True}}})
    assert caught.value.violations[0].field == "config_schema.properties.n"


@pytest.mark.parametrize("source", [[], {"properties": []}, {"properties": {"a": 1}}])
def test_a_malformed_schema_is_refused(source: object) -> None:
    with pytest.raises(ConfigSchemaInvalidError):
        ConfigSchema.from_source(source)  # type: ignore[arg-type]


def test_a_template_needs_a_slug_name_a_display_name_and_a_positive_rate_limit() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        IntegrationTemplate.create(
            id="t",
            name="Bad Name",
            display_name=" ",
            config_schema=ConfigSchema.from_source(SEED),
            rate_limit_per_minute=0,
            now=NOW,
        )
    assert [v.field for v in caught.value.violations] == [
        "name",
        "display_name",
        "rate_limit_per_minute",
    ]


def test_updating_a_template_records_only_the_fields_that_changed() -> None:
    template = IntegrationTemplate.create(
        id="t",
        name="crm",
        display_name="CRM",
        config_schema=ConfigSchema.from_source(SEED),
        now=NOW,
    )
    assert isinstance(template.pull_events()[0], TemplateCreated)
    template.update({"display_name": "CRM", "description": "new"}, now=NOW)
    [event] = template.pull_events()
    assert isinstance(event, TemplateUpdated)
    assert event.changed_fields == ("description",)
    template.update({"description": "new"}, now=NOW)
    assert template.pull_events() == []


def test_a_template_refuses_updates_to_unknown_or_fixed_fields() -> None:
    template = IntegrationTemplate.create(
        id="t",
        name="crm",
        display_name="CRM",
        config_schema=ConfigSchema.from_source(SEED),
        now=NOW,
    )
    with pytest.raises(InvalidArgumentError):
        template.update({"name": "renamed"}, now=NOW)
    with pytest.raises(InvalidArgumentError):
        template.update({"display_name": ""}, now=NOW)

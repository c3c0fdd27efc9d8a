"""The facebook_ads catalogue entry (its config schema validates as the service validates every
template's) and the Meta app's settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.meta.settings import MetaSettings
from adapters.meta.template import DEFAULT_STAGE_MAP, TEMPLATES
from adapters.schema import JsonSchemaConfigValidator
from application.ports.funnel import FunnelStage
from application.use_cases.create_template import checked_schema
from domain.template import IntegrationTemplate
from domain.values import SecretStr

VALIDATOR = JsonSchemaConfigValidator()
[SOURCE] = TEMPLATES


def template() -> IntegrationTemplate:
    return IntegrationTemplate.create(
        id="tpl-fb",
        name=SOURCE["name"],
        display_name=SOURCE["display_name"],
        config_schema=checked_schema(VALIDATOR, dict(SOURCE["config_schema"])),
        now=datetime(2026, 7, 1, tzinfo=UTC),
    )


def violations(config: dict[str, Any]) -> list[str]:
    return [v.field for v in VALIDATOR.validate(template(), config)]


def test_the_template_is_facebook_ads_with_the_token_as_its_one_secret() -> None:
    schema = template().config_schema

    assert SOURCE["name"] == "facebook_ads"
    assert schema.secret_fields == {"accessToken"}
    assert set(schema.json_schema["required"]) == {"pageId", "accessToken"}


def test_a_full_config_is_valid() -> None:
    assert (
        violations(
            {
                "pageId": "104561234567890",
                "accessToken": "EAAG-token",
                "datasetId": "555000111",
                "leadEventSource": "Acme CRM",
                "stageMap": {"won": "Sale Closed", "lost": "Lost"},
            }
        )
        == []
    )


def test_page_and_token_alone_are_enough() -> None:
    assert violations({"pageId": "104561234567890", "accessToken": "EAAG-token"}) == []


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"accessToken": "t"}, "config.pageId"),
        ({"pageId": "page-1", "accessToken": "t"}, "config.pageId"),
        ({"pageId": "1"}, "config.accessToken"),
        ({"pageId": "1", "accessToken": "t", "datasetId": "px-1"}, "config.datasetId"),
        ({"pageId": "1", "accessToken": "t", "stageMap": {"qualified": "MQL"}}, "config.stageMap"),
        ({"pageId": "1", "accessToken": "t", "stageMap": {"won": ""}}, "config.stageMap.won"),
        ({"pageId": "1", "accessToken": "t", "adAccountId": "act_1"}, "config.adAccountId"),
    ],
)
def test_a_bad_config_names_the_field(config: dict[str, Any], field: str) -> None:
    assert field in violations(config)


def test_the_default_stage_map_names_every_funnel_stage() -> None:
    assert set(DEFAULT_STAGE_MAP) == {stage.value for stage in FunnelStage}
    assert set(SOURCE["config_schema"]["properties"]["stageMap"]["properties"]) == set(
        DEFAULT_STAGE_MAP
    )


def test_graph_paths_carry_the_configured_version_and_quote_ids() -> None:
    settings = MetaSettings(
        app_id="1122334455667788",
        app_secret=SecretStr("s"),
        webhook_verify_token=SecretStr("v"),
        graph_version="v25.0",
    )

    assert settings.path("104561234567890", "subscribed_apps") == (
        "/v25.0/104561234567890/subscribed_apps"
    )
    assert settings.path("../me") == "/v25.0/..%2Fme"
    assert settings.app_token.reveal() == "1122334455667788|s"


def test_settings_come_from_the_environment_with_defaults() -> None:
    settings = MetaSettings.from_env(
        {
            "META_APP_ID": "1122334455667788",
            "META_APP_SECRET": "app-secret-1",
            "META_WEBHOOK_VERIFY_TOKEN": "verify-1",
        }
    )

    assert settings is not None
    assert (settings.graph_base_url, settings.graph_version) == (
        "https://graph.facebook.com",
        "v26.0",
    )
    assert "app-secret-1" not in repr(settings)
    assert "verify-1" not in repr(settings)
    assert MetaSettings.from_env({}) is None


@pytest.mark.parametrize(
    "environ",
    [
        {"META_APP_ID": "app-1", "META_APP_SECRET": "s", "META_WEBHOOK_VERIFY_TOKEN": "v"},
        {"META_APP_ID": "1", "META_WEBHOOK_VERIFY_TOKEN": "v"},
        {"META_APP_ID": "1", "META_APP_SECRET": "s"},
        {
            "META_APP_ID": "1",
            "META_APP_SECRET": "s",
            "META_WEBHOOK_VERIFY_TOKEN": "v",
            "META_GRAPH_API_VERSION": "26",
        },
    ],
)
def test_malformed_settings_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"Meta|Graph"):
        MetaSettings.from_env(environ)

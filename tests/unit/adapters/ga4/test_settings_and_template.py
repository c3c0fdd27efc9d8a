"""GA4's hosts from the environment, and its catalogue entry's config schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.ga4.settings import (
    ADMIN_BASE_URL,
    MP_BASE_URL,
    MP_EU_BASE_URL,
    TOKEN_URL,
    Ga4Settings,
)
from adapters.ga4.template import TEMPLATES
from adapters.schema import JsonSchemaConfigValidator
from application.use_cases.create_template import checked_schema
from domain.template import IntegrationTemplate


def test_without_the_variables_the_settings_are_googles_hosts() -> None:
    settings = Ga4Settings.from_env({})

    assert settings == Ga4Settings()
    assert settings.mp_base_url_for("global") == MP_BASE_URL
    assert settings.mp_base_url_for("eu") == MP_EU_BASE_URL
    assert (settings.admin_base_url, settings.token_url) == (ADMIN_BASE_URL, TOKEN_URL)


def test_the_variables_point_every_host_at_a_fake() -> None:
    settings = Ga4Settings.from_env(
        {
            "GA4_MP_BASE_URL": "http://127.0.0.1:8091/",
            "GA4_ADMIN_BASE_URL": "http://127.0.0.1:8091",
            "GA4_TOKEN_URL": "http://127.0.0.1:8091/token",
        }
    )

    assert settings.mp_base_url_for("global") == "http://127.0.0.1:8091"
    assert settings.mp_base_url_for("eu") == "http://127.0.0.1:8091"
    assert settings.admin_base_url == "http://127.0.0.1:8091"
    assert settings.token_url == "http://127.0.0.1:8091/token"


def _template() -> IntegrationTemplate:
    [entry] = TEMPLATES
    validator = JsonSchemaConfigValidator()
    schema = checked_schema(validator, dict(entry["config_schema"]))
    assert schema.secret_fields == {"apiSecret", "serviceAccountKey", "refreshToken"}
    return IntegrationTemplate.create(
        id="tpl-ga4",
        name=entry["name"],
        display_name=entry["display_name"],
        config_schema=schema,
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )


GOOD: dict[str, Any] = {
    "measurementId": "G-ABC123DEF4",
    "apiSecret": "Xy9aBcDeFgHiJkLmNoPqRs",
    "propertyId": "312345678",
    "serviceAccountKey": "{}",
    "region": "eu",
    "currency": "USD",
    "value": {"won": 100},
    "eventMap": {"booked": "book_appointment"},
    "validate": True,
}


def test_a_full_config_is_valid() -> None:
    assert JsonSchemaConfigValidator().validate(_template(), GOOD) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"measurementId": "UA-1234-1"}, "config.measurementId"),
        ({"propertyId": "properties/1"}, "config.propertyId"),
        ({"region": "us"}, "config.region"),
        ({"currency": "usd"}, "config.currency"),
        ({"eventMap": {"booked": "book-appointment"}}, "config.eventMap.booked"),
        ({"eventMap": {"closed": "x"}}, "config.eventMap"),
        ({"value": {"won": -1}}, "config.value.won"),
    ],
)
def test_a_config_ga4_cannot_use_is_refused(change: dict[str, Any], field: str) -> None:
    violations = JsonSchemaConfigValidator().validate(_template(), {**GOOD, **change})

    assert field in {v.field for v in violations}


def test_a_value_without_a_currency_is_refused() -> None:
    config = {k: v for k, v in GOOD.items() if k != "currency"}

    violations = JsonSchemaConfigValidator().validate(_template(), config)

    assert violations != []

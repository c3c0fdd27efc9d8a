"""Domain objects for tests, built through the domain's own factories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.ids import Uuid7Generator
from domain.integration import Integration
from domain.template import ConfigSchema, IntegrationTemplate
from domain.values import EncryptedSecret

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

# Time-ordered like production ids, so that listing order is creation order.
IDS = Uuid7Generator()

SCHEMA_SOURCE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiKey": {"type": "string", "minLength": 1, "required": True, "encrypted": True},
        "locationId": {"type": "string", "minLength": 1, "required": True},
        "calendarId": {"type": "string"},
        "webhookSecret": {"type": "string", "encrypted": True},
    },
}


def a_template(
    *, name: str = "gohighlevel", now: datetime = NOW, **fields: Any
) -> IntegrationTemplate:
    fields.setdefault("display_name", name.replace("_", " ").title())
    return IntegrationTemplate.create(
        id=IDS.new_id(),
        name=name,
        config_schema=ConfigSchema.from_source(SCHEMA_SOURCE),
        now=now,
        **fields,
    )


def a_secret(
    token: str = "v1.dk-1.bm9uY2UtYW5kLWNpcGhlcnRleHQ", hint: str = "wxyz"
) -> EncryptedSecret:
    return EncryptedSecret(token=token, hint=hint)


def an_integration(
    template: IntegrationTemplate,
    *,
    sub_account_id: str = "sub-1",
    name: str = "Main CRM",
    now: datetime = NOW,
    **fields: Any,
) -> Integration:
    fields.setdefault("config", {"locationId": "loc-1", "calendarId": "cal-1"})
    fields.setdefault("secrets", {"apiKey": a_secret()})
    fields.setdefault("created_by_admin_id", "admin-1")
    return Integration.create(
        id=IDS.new_id(),
        sub_account_id=sub_account_id,
        template_id=template.id,
        template_name=template.name,
        name=name,
        now=now,
        **fields,
    )

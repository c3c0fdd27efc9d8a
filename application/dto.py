"""Read models returned by the use cases: plain data, secrets already masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.integration import Integration, IntegrationStatus
from domain.template import IntegrationTemplate


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateView:
    id: str
    name: str
    display_name: str
    description: str
    category: str
    icon: str
    config_schema: dict[str, Any]
    secret_fields: frozenset[str]
    setup_instructions: str
    webhook_url: str
    api_version: str
    is_active: bool
    rate_limit_per_minute: int
    created_by_admin_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, t: IntegrationTemplate) -> TemplateView:
        return cls(
            id=t.id,
            name=t.name,
            display_name=t.display_name,
            description=t.description,
            category=t.category,
            icon=t.icon,
            config_schema=t.config_schema.source,
            secret_fields=t.config_schema.secret_fields,
            setup_instructions=t.setup_instructions,
            webhook_url=t.webhook_url,
            api_version=t.api_version,
            is_active=t.is_active,
            rate_limit_per_minute=t.rate_limit_per_minute,
            created_by_admin_id=t.created_by_admin_id,
            created_at=t.created_at,
            updated_at=t.updated_at,
            version=t.version,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationView:
    """An integration as callers see it: `config` holds plain fields and masked secrets."""

    id: str
    sub_account_id: str
    template_id: str
    template_name: str
    name: str
    description: str
    is_active: bool
    status: IntegrationStatus
    config: dict[str, Any]
    secret_fields: frozenset[str]
    last_sync_at: datetime | None
    last_tested_at: datetime | None
    error_code: str | None
    error_message: str | None
    created_by_admin_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, i: Integration) -> IntegrationView:
        config = dict(i.config)
        config.update({name: secret.masked() for name, secret in i.secrets.items()})
        return cls(
            id=i.id,
            sub_account_id=i.sub_account_id,
            template_id=i.template_id,
            template_name=i.template_name,
            name=i.name,
            description=i.description,
            is_active=i.is_active,
            status=i.status,
            config=config,
            secret_fields=frozenset(i.secrets),
            last_sync_at=i.last_sync_at,
            last_tested_at=i.last_tested_at,
            error_code=i.error_code,
            error_message=i.error_message,
            created_by_admin_id=i.created_by_admin_id,
            created_at=i.created_at,
            updated_at=i.updated_at,
            version=i.version,
        )

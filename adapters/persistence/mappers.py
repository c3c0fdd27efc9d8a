"""Conversion between table rows and domain objects, nothing else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from application.ports import WrappedDataKey
from domain.integration import Integration, IntegrationStatus
from domain.template import ConfigSchema, IntegrationTemplate
from domain.values import EncryptedSecret


def template_from_row(row: Row[Any]) -> IntegrationTemplate:
    return IntegrationTemplate(
        id=row.id,
        name=row.name,
        display_name=row.display_name,
        description=row.description,
        category=row.category,
        icon=row.icon,
        config_schema=ConfigSchema.from_source(row.config_schema),
        setup_instructions=row.setup_instructions,
        webhook_url=row.webhook_url,
        api_version=row.api_version,
        is_active=row.is_active,
        rate_limit_per_minute=row.rate_limit_per_minute,
        created_by_admin_id=row.created_by_admin_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def template_to_row(template: IntegrationTemplate) -> dict[str, Any]:
    return {
        "id": template.id,
        "name": template.name,
        "display_name": template.display_name,
        "description": template.description,
        "category": template.category,
        "icon": template.icon,
        "config_schema": template.config_schema.source,
        "setup_instructions": template.setup_instructions,
        "webhook_url": template.webhook_url,
        "api_version": template.api_version,
        "is_active": template.is_active,
        "rate_limit_per_minute": template.rate_limit_per_minute,
        "created_by_admin_id": template.created_by_admin_id,
        "created_at": template.created_at,
        "updated_at": template.updated_at,
        "version": template.version,
    }


def integration_from_row(row: Row[Any]) -> Integration:
    return Integration(
        id=row.id,
        sub_account_id=row.sub_account_id,
        template_id=row.template_id,
        template_name=row.template_name,
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        status=IntegrationStatus(row.status),
        config=row.config,
        secrets=secrets_from_column(row.secrets),
        last_sync_at=row.last_sync_at,
        last_tested_at=row.last_tested_at,
        error_code=row.error_code,
        error_message=row.error_message,
        created_by_admin_id=row.created_by_admin_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def secrets_from_column(secrets: dict[str, Any]) -> dict[str, EncryptedSecret]:
    """An integration's `secrets` column (name -> token and hint)."""
    return {
        name: EncryptedSecret(token=value["token"], hint=value.get("hint", ""))
        for name, value in secrets.items()
    }


def integration_to_row(integration: Integration) -> dict[str, Any]:
    """Every column but `request_id`, which is not part of the aggregate."""
    return {
        "id": integration.id,
        "sub_account_id": integration.sub_account_id,
        "template_id": integration.template_id,
        "template_name": integration.template_name,
        "name": integration.name,
        "description": integration.description,
        "is_active": integration.is_active,
        "status": str(integration.status),
        "config": integration.config,
        "secrets": {
            name: {"token": secret.token, "hint": secret.hint}
            for name, secret in integration.secrets.items()
        },
        "last_sync_at": integration.last_sync_at,
        "last_tested_at": integration.last_tested_at,
        "error_code": integration.error_code,
        "error_message": integration.error_message,
        "created_by_admin_id": integration.created_by_admin_id,
        "created_at": integration.created_at,
        "updated_at": integration.updated_at,
        "version": integration.version,
    }


def data_key_from_row(row: Row[Any]) -> WrappedDataKey:
    return WrappedDataKey(
        key_id=row.key_id,
        sub_account_id=row.sub_account_id,
        wrapped=bytes(row.wrapped),
        master_key_id=row.master_key_id,
        created_at=row.created_at,
    )


def data_key_to_row(key: WrappedDataKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "sub_account_id": key.sub_account_id,
        "wrapped": key.wrapped,
        "master_key_id": key.master_key_id,
        "created_at": key.created_at,
    }

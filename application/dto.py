"""Read models returned by the use cases: plain data, secrets already masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.booking import Booking, BookingStatus
from domain.integration import Integration, IntegrationStatus
from domain.lead import Lead, LeadStatus, is_provisional
from domain.template import IntegrationTemplate
from domain.values import EncryptedSecret


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


def masked_config(
    config: Mapping[str, Any], secrets: Mapping[str, EncryptedSecret]
) -> dict[str, Any]:
    """The config callers see: the plain fields, and each secret field as its mask."""
    masked = dict(config)
    masked.update({name: secret.masked() for name, secret in secrets.items()})
    return masked


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
        config = masked_config(i.config, i.secrets)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadView:
    """A lead as callers see it: the contact's address, kept for timezone detection, and its
    tags stay inside the service."""

    id: str
    sub_account_id: str
    integration_id: str
    external_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    company: str | None
    timezone: str | None
    status: LeadStatus
    assigned_user_id: str | None
    strategy_id: str | None
    deleted: bool
    external_updated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    merged_into_id: str | None = None
    attribution: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, lead: Lead) -> LeadView:
        d = lead.details
        return cls(
            id=lead.id,
            sub_account_id=lead.sub_account_id,
            integration_id=lead.integration_id,
            # Empty until the CRM has the contact of a lead created here (its id is provisional).
            external_id=lead.external_id if lead.on_provider else "",
            first_name=d.first_name,
            last_name=d.last_name,
            email=d.email,
            phone=d.phone,
            company=d.company,
            timezone=lead.timezone,
            status=lead.status,
            assigned_user_id=lead.assigned_user_id,
            strategy_id=lead.strategy_id,
            deleted=lead.deleted,
            merged_into_id=lead.merged_into_id,
            attribution=dict(lead.attribution),
            external_updated_at=lead.external_updated_at,
            created_at=lead.created_at,
            updated_at=lead.updated_at,
            version=lead.version,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingView:
    id: str
    sub_account_id: str
    integration_id: str
    external_id: str
    calendar_id: str
    contact_external_id: str
    lead_id: str | None
    title: str | None
    start: datetime
    end: datetime
    status: BookingStatus
    external_user_id: str | None
    """The provider's id of the team member the appointment is assigned to."""
    address: str | None
    deleted: bool
    external_updated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, booking: Booking) -> BookingView:
        d = booking.details
        return cls(
            id=booking.id,
            sub_account_id=booking.sub_account_id,
            integration_id=booking.integration_id,
            external_id=booking.external_id if booking.on_provider else "",
            calendar_id=d.calendar_id,
            contact_external_id=(
                "" if is_provisional(d.contact_external_id) else d.contact_external_id
            ),
            lead_id=booking.lead_id,
            title=d.title,
            start=d.start,
            end=d.end,
            status=booking.status,
            external_user_id=d.assigned_user_id,
            address=d.address,
            deleted=booking.deleted,
            external_updated_at=booking.external_updated_at,
            created_at=booking.created_at,
            updated_at=booking.updated_at,
            version=booking.version,
        )

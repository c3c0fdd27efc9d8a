"""Reaching a CRM integration's calendars on behalf of a caller."""

from __future__ import annotations

from dataclasses import dataclass

from application.access import visible_integration
from application.connection import ConnectionTester
from application.ports import Cipher, UnitOfWorkFactory
from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from application.provider_context import provider_context
from domain.errors import (
    FieldViolation,
    IntegrationNotActiveError,
    InvalidArgumentError,
    InvalidCredentialsError,
)
from domain.integration import Integration
from domain.values import Principal


@dataclass(frozen=True, slots=True)
class CalendarAccess:
    """Resolves an integration the actor may use into provider credentials for one live call, and
    records credential failures on the integration (they need a person). Integrations of the
    `crm_templates` alone offer calendars."""

    uow_factory: UnitOfWorkFactory
    cipher: Cipher
    tester: ConnectionTester
    crm_templates: frozenset[str]

    async def open(
        self, actor: Principal, integration_id: str, calendar_id: str
    ) -> tuple[Integration, ProviderCall, str]:
        """The integration, its call and the calendar: the one asked for, else its default."""
        async with self.uow_factory() as uow:
            integration = visible_integration(
                actor, await uow.integrations.get(integration_id), integration_id
            )
            template = await uow.templates.get(integration.template_id)
        if integration.template_name not in self.crm_templates:
            raise InvalidArgumentError(
                "calendars are offered by CRM integrations only",
                (FieldViolation("name", "is not a CRM integration"),),
            )
        if not integration.is_operational:
            raise IntegrationNotActiveError(
                f"integration {integration_id!r} is {integration.status}"
                + ("" if integration.is_active else " and switched off"),
                metadata={"status": str(integration.status)},
            )
        calendar = calendar_id or str(integration.config.get("calendarId") or "")
        if not calendar:
            raise InvalidArgumentError(
                "no calendar given and the integration has no default calendarId",
                (FieldViolation("calendar_id", "is required for this integration"),),
            )
        ctx = await provider_context(self.cipher, integration, template)
        return integration, ProviderCall.of(ctx, priority=Priority.LIVE), calendar

    async def credentials_refused(self, integration_id: str, err: InvalidCredentialsError) -> None:
        await self.tester.credentials_refused(integration_id, err)

"""CreateIntegration: an admin connects a sub-account to a provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from application.access import require_admin
from application.connection import ConnectionTester
from application.dto import IntegrationView
from application.ports import (
    Cipher,
    Clock,
    ConfigValidator,
    ConnectionTestResult,
    IdGenerator,
    UnitOfWorkFactory,
)
from application.secrets import seal, split_config
from domain.errors import (
    ConfigSchemaInvalidError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
)
from domain.integration import Integration
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateIntegrationCommand:
    actor: Principal
    sub_account_id: str
    template: str
    """The template's id or name."""
    name: str
    config: dict[str, Any] = field(repr=False)
    description: str = ""
    request_id: str | None = None
    """Makes retries safe: a second create with the same id returns the first integration."""


@dataclass(frozen=True, slots=True)
class CreateIntegrationResult:
    integration: IntegrationView
    test: ConnectionTestResult | None
    """None when the request was a retry of an earlier create."""


class CreateIntegration:
    """Rules: admins only; the template exists and is active; the config satisfies its schema
    (every violation reported at once); secrets are sealed before anything is stored; the
    integration is stored pending, then its connection is tested and it ends active or error."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        validator: ConfigValidator,
        cipher: Cipher,
        tester: ConnectionTester,
        ids: IdGenerator,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._validator = validator
        self._cipher = cipher
        self._tester = tester
        self._ids = ids
        self._clock = clock

    async def execute(self, cmd: CreateIntegrationCommand) -> CreateIntegrationResult:
        require_admin(cmd.actor, "creating an integration")
        if not cmd.sub_account_id:
            raise InvalidArgumentError(
                "sub_account_id is required", (FieldViolation("sub_account_id", "is required"),)
            )
        async with self._uow() as uow:
            if cmd.request_id:
                earlier = await uow.integrations.find_by_request_id(
                    cmd.sub_account_id, cmd.request_id
                )
                if earlier is not None:
                    return CreateIntegrationResult(IntegrationView.of(earlier), None)
            template = await uow.templates.get(cmd.template) or await uow.templates.get_by_name(
                cmd.template
            )
            if template is None or not template.is_active:
                raise NotFoundError("template", cmd.template)
            violations = self._validator.validate(template, cmd.config)
            if violations:
                raise ConfigSchemaInvalidError(
                    "config does not match the template", tuple(violations)
                )
            integration_id = self._ids.new_id()
            plain, secrets = split_config(template, cmd.config)
            sealed = await seal(self._cipher, integration_id, cmd.sub_account_id, secrets)
            integration = Integration.create(
                id=integration_id,
                sub_account_id=cmd.sub_account_id,
                template_id=template.id,
                template_name=template.name,
                name=cmd.name,
                description=cmd.description,
                config=plain,
                secrets=sealed,
                created_by_admin_id=cmd.actor.subject,
                now=self._clock.now(),
            )
            await uow.integrations.add(integration, request_id=cmd.request_id)
            await uow.commit()
        result = await self._tester.test(integration, template)
        integration = await self._tester.record(integration.id, result)
        return CreateIntegrationResult(IntegrationView.of(integration), result)

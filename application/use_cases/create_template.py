"""CreateIntegrationTemplate: an admin adds a kind of integration to the catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.access import require_admin
from application.dto import TemplateView
from application.ports import Clock, ConfigValidator, IdGenerator, UnitOfWorkFactory
from domain.errors import AlreadyExistsError, ConfigSchemaInvalidError
from domain.template import DEFAULT_RATE_LIMIT_PER_MINUTE, ConfigSchema, IntegrationTemplate
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateTemplateCommand:
    actor: Principal
    name: str
    display_name: str
    config_schema: dict[str, Any]
    description: str = ""
    category: str = ""
    icon: str = ""
    setup_instructions: str = ""
    webhook_url: str = ""
    api_version: str = ""
    is_active: bool = True
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE


def checked_schema(validator: ConfigValidator, source: dict[str, Any]) -> ConfigSchema:
    """Normalise the seed dialect and check the result is itself a valid JSON Schema."""
    schema = ConfigSchema.from_source(source)
    violations = validator.check_schema(schema)
    if violations:
        raise ConfigSchemaInvalidError(
            "config schema is not a valid JSON Schema", tuple(violations)
        )
    return schema


class CreateTemplate:
    """Rules: admins only; the name is a unique slug; the schema must be a valid JSON Schema."""

    def __init__(
        self, *, uow: UnitOfWorkFactory, validator: ConfigValidator, ids: IdGenerator, clock: Clock
    ) -> None:
        self._uow = uow
        self._validator = validator
        self._ids = ids
        self._clock = clock

    async def execute(self, cmd: CreateTemplateCommand) -> TemplateView:
        require_admin(cmd.actor, "creating a template")
        schema = checked_schema(self._validator, cmd.config_schema)
        template = IntegrationTemplate.create(
            id=self._ids.new_id(),
            name=cmd.name,
            display_name=cmd.display_name,
            config_schema=schema,
            now=self._clock.now(),
            description=cmd.description,
            category=cmd.category,
            icon=cmd.icon,
            setup_instructions=cmd.setup_instructions,
            webhook_url=cmd.webhook_url,
            api_version=cmd.api_version,
            is_active=cmd.is_active,
            rate_limit_per_minute=cmd.rate_limit_per_minute,
            created_by_admin_id=cmd.actor.subject,
        )
        async with self._uow() as uow:
            if await uow.templates.get_by_name(cmd.name) is not None:
                raise AlreadyExistsError(f"template {cmd.name!r} already exists")
            await uow.templates.add(template)
            await uow.commit()
        return TemplateView.of(template)

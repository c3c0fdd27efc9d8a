"""SeedTemplates: make sure the built-in catalogue exists (run on start and by `migrate`)."""

from __future__ import annotations

from typing import Any

from application.ports import Clock, ConfigValidator, IdGenerator, UnitOfWorkFactory
from application.use_cases.create_template import checked_schema
from domain.errors import AlreadyExistsError
from domain.template import IntegrationTemplate


class SeedTemplates:
    """Rules: creates only the templates (each provider's catalogue entries) whose name is missing; never overwrites an admin's
    edits. Safe to run concurrently from several copies (a lost insert race is ignored)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        validator: ConfigValidator,
        ids: IdGenerator,
        clock: Clock,
        templates: tuple[dict[str, Any], ...],
    ) -> None:
        self._uow = uow
        self._validator = validator
        self._ids = ids
        self._clock = clock
        self._templates = templates

    async def execute(self) -> list[str]:
        """Returns the names of the templates it created."""
        created: list[str] = []
        for spec in self._templates:
            fields = dict(spec)
            schema = checked_schema(self._validator, fields.pop("config_schema"))
            async with self._uow() as uow:
                if await uow.templates.get_by_name(fields["name"]) is not None:
                    continue
                template = IntegrationTemplate.create(
                    id=self._ids.new_id(), config_schema=schema, now=self._clock.now(), **fields
                )
                try:
                    await uow.templates.add(template)
                    await uow.commit()
                except AlreadyExistsError:
                    continue
            created.append(template.name)
        return created

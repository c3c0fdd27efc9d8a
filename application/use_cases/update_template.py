"""UpdateIntegrationTemplate: an admin edits a catalogue entry (field-masked)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from application.access import require_admin
from application.dto import TemplateView
from application.ports import Clock, ConfigValidator, UnitOfWorkFactory
from application.use_cases.create_template import checked_schema
from domain.errors import ConcurrencyError, NotFoundError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTemplateCommand:
    actor: Principal
    template_id: str
    """The template's id or its name (the API's slug)."""
    changes: dict[str, Any]
    expected_version: int | None = None


class UpdateTemplate:
    """Rules: admins only, checked before the template is looked up (a user learns nothing of
    the catalogue's inactive entries); only the fields named in `changes` change; a new schema is checked;
    `expected_version` (the etag) guards against lost updates."""

    def __init__(self, *, uow: UnitOfWorkFactory, validator: ConfigValidator, clock: Clock) -> None:
        self._uow = uow
        self._validator = validator
        self._clock = clock

    async def execute(self, cmd: UpdateTemplateCommand) -> TemplateView:
        require_admin(cmd.actor, "updating a template")
        changes = dict(cmd.changes)
        if "config_schema" in changes:
            changes["config_schema"] = checked_schema(self._validator, changes["config_schema"])
        async with self._uow() as uow:
            template = await uow.templates.get(cmd.template_id)
            if template is None:
                template = await uow.templates.get_by_name(cmd.template_id)
            if template is None:
                raise NotFoundError("template", cmd.template_id)
            if cmd.expected_version is not None and cmd.expected_version != template.version:
                raise ConcurrencyError("the template changed since it was read")
            template.update(changes, now=self._clock.now())
            await uow.templates.update(template)
            await uow.commit()
        return TemplateView.of(template)

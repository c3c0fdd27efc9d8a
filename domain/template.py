"""IntegrationTemplate: a catalogue entry, and its config schema in the seed's dialect."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.aggregate import Aggregate
from domain.errors import ConfigSchemaInvalidError, FieldViolation, InvalidArgumentError
from domain.events import TemplateCreated, TemplateUpdated

_SLUG = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
DEFAULT_RATE_LIMIT_PER_MINUTE = 100

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ConfigSchema:
    """A template's config schema, normalised from the seed's dialect to standard JSON Schema.

    The seed marks properties with ``"required": true`` and ``"encrypted": true``. Those become
    the standard top-level ``required`` list and the set of secret fields; the rest is kept.
    """

    source: JsonObject
    json_schema: JsonObject
    secret_fields: frozenset[str]

    @classmethod
    def from_source(cls, source: JsonObject) -> ConfigSchema:
        if not isinstance(source, dict):
            raise ConfigSchemaInvalidError(
                "config schema must be a JSON object",
                (FieldViolation("config_schema", "must be a JSON object"),),
            )
        schema = copy.deepcopy(source)
        schema.setdefault("type", "object")
        # Unknown fields would be stored in plain text: a secret sent under a misspelt name must
        # be refused, not persisted unencrypted. Templates may opt out explicitly.
        schema.setdefault("additionalProperties", False)
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise ConfigSchemaInvalidError(
                "config schema properties must be an object",
                (FieldViolation("config_schema.properties", "must be an object"),),
            )
        required = (
            list(schema.get("required", [])) if isinstance(schema.get("required"), list) else []
        )
        secrets: set[str] = set()
        violations: list[FieldViolation] = []
        for name, prop in properties.items():
            if not isinstance(prop, dict):
                violations.append(
                    FieldViolation(f"config_schema.properties.{name}", "must be an object")
                )
                continue
            flag = prop.pop("required", None)
            if flag is True and name not in required:
                required.append(name)
            if prop.pop("encrypted", False) is True:
                secrets.add(name)
                if prop.get("type", "string") != "string":
                    violations.append(
                        FieldViolation(
                            f"config_schema.properties.{name}",
                            "an encrypted field must be a string",
                        )
                    )
        if violations:
            raise ConfigSchemaInvalidError("config schema is not valid", tuple(violations))
        if required:
            schema["required"] = required
        return cls(
            source=copy.deepcopy(source), json_schema=schema, secret_fields=frozenset(secrets)
        )

    @property
    def properties(self) -> JsonObject:
        props = self.json_schema.get("properties", {})
        return props if isinstance(props, dict) else {}


class IntegrationTemplate(Aggregate):
    """A kind of integration that admins offer (a CRM, an ad platform, an analytics property, ...)."""

    UPDATABLE = frozenset(
        {
            "display_name",
            "description",
            "category",
            "icon",
            "config_schema",
            "setup_instructions",
            "webhook_url",
            "api_version",
            "is_active",
            "rate_limit_per_minute",
        }
    )

    def __init__(
        self,
        *,
        id: str,
        name: str,
        display_name: str,
        description: str,
        category: str,
        icon: str,
        config_schema: ConfigSchema,
        setup_instructions: str,
        webhook_url: str,
        api_version: str,
        is_active: bool,
        rate_limit_per_minute: int,
        created_by_admin_id: str | None,
        created_at: datetime,
        updated_at: datetime,
        version: int,
    ) -> None:
        super().__init__()
        self.id = id
        self.name = name
        self.display_name = display_name
        self.description = description
        self.category = category
        self.icon = icon
        self.config_schema = config_schema
        self.setup_instructions = setup_instructions
        self.webhook_url = webhook_url
        self.api_version = api_version
        self.is_active = is_active
        self.rate_limit_per_minute = rate_limit_per_minute
        self.created_by_admin_id = created_by_admin_id
        self.created_at = created_at
        self.updated_at = updated_at
        self.version = version

    @classmethod
    def create(
        cls,
        *,
        id: str,
        name: str,
        display_name: str,
        config_schema: ConfigSchema,
        now: datetime,
        description: str = "",
        category: str = "",
        icon: str = "",
        setup_instructions: str = "",
        webhook_url: str = "",
        api_version: str = "",
        is_active: bool = True,
        rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
        created_by_admin_id: str | None = None,
    ) -> IntegrationTemplate:
        violations = []
        if not _SLUG.match(name):
            violations.append(
                FieldViolation(
                    "name", "must be a lowercase slug: a letter, then [a-z0-9_], 2-63 long"
                )
            )
        if not display_name.strip():
            violations.append(FieldViolation("display_name", "must not be empty"))
        if rate_limit_per_minute <= 0:
            violations.append(FieldViolation("rate_limit_per_minute", "must be positive"))
        if violations:
            raise InvalidArgumentError("template is not valid", tuple(violations))
        template = cls(
            id=id,
            name=name,
            display_name=display_name,
            description=description,
            category=category,
            icon=icon,
            config_schema=config_schema,
            setup_instructions=setup_instructions,
            webhook_url=webhook_url,
            api_version=api_version,
            is_active=is_active,
            rate_limit_per_minute=rate_limit_per_minute,
            created_by_admin_id=created_by_admin_id,
            created_at=now,
            updated_at=now,
            version=1,
        )
        template._record(
            TemplateCreated(aggregate_id=id, aggregate_version=1, occurred_at=now, name=name)
        )
        return template

    def update(self, changes: dict[str, Any], *, now: datetime) -> None:
        """Apply a field-masked update; `config_schema` must already be a ConfigSchema."""
        unknown = set(changes) - self.UPDATABLE
        if unknown:
            raise InvalidArgumentError(
                "fields cannot be updated",
                tuple(FieldViolation(f, "is not updatable") for f in sorted(unknown)),
            )
        if "display_name" in changes and not str(changes["display_name"]).strip():
            raise InvalidArgumentError(
                "template is not valid", (FieldViolation("display_name", "must not be empty"),)
            )
        if "rate_limit_per_minute" in changes and int(changes["rate_limit_per_minute"]) <= 0:
            raise InvalidArgumentError(
                "template is not valid",
                (FieldViolation("rate_limit_per_minute", "must be positive"),),
            )
        changed = tuple(sorted(f for f, v in changes.items() if getattr(self, f) != v))
        if not changed:
            return
        for name in changed:
            setattr(self, name, changes[name])
        self.updated_at = now
        self._record(
            TemplateUpdated(
                aggregate_id=self.id,
                aggregate_version=self.version + 1,
                occurred_at=now,
                changed_fields=changed,
            )
        )

"""Checking integration configs against their template's schema."""

from __future__ import annotations

from typing import Any, Protocol

from domain.errors import FieldViolation
from domain.template import ConfigSchema, IntegrationTemplate


class ConfigValidator(Protocol):
    """Checks configs against templates' JSON schemas."""

    def check_schema(self, schema: ConfigSchema) -> list[FieldViolation]:
        """Every reason `schema` is not a valid JSON Schema (empty when it is)."""
        ...

    def validate(
        self, template: IntegrationTemplate, config: dict[str, Any]
    ) -> list[FieldViolation]:
        """Every violation of the template's schema by `config`, field paths prefixed ``config.``.
        Validators are compiled once per template id and version."""
        ...

"""Domain events: immutable facts, named in the past tense, written to the outbox on commit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened to one aggregate at one version."""

    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    sub_account_id: str | None = None

    @property
    def event_type(self) -> str:
        return type(self).__name__

    def payload(self) -> dict[str, Any]:
        """The event's own fields, JSON-ready (datetimes as ISO strings)."""
        data = asdict(self)
        for key in ("aggregate_id", "aggregate_version", "occurred_at", "sub_account_id"):
            data.pop(key)
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateCreated(DomainEvent):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateUpdated(DomainEvent):
    changed_fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationCreated(DomainEvent):
    template_name: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationActivated(DomainEvent):
    previous_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationFailed(DomainEvent):
    previous_status: str
    error_code: str
    error_message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationDisconnected(DomainEvent):
    previous_status: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationReset(DomainEvent):
    """Moved back to pending, to be tested again (reactivated, or credentials replaced)."""

    previous_status: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationConfigChanged(DomainEvent):
    changed_fields: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrationDeleted(DomainEvent):
    pass

"""Base for aggregate roots: identity equality, a version, and the events recorded since load."""

from __future__ import annotations

from domain.events import DomainEvent


class Aggregate:
    """An aggregate root. Subclasses set `id` and `version` and call `_record` on every change."""

    id: str
    version: int

    def __init__(self) -> None:
        self._events: list[DomainEvent] = []

    def _record(self, event: DomainEvent) -> None:
        self._events.append(event)

    def pull_events(self) -> list[DomainEvent]:
        """Return the events recorded since the last pull and forget them."""
        events, self._events = self._events, []
        return events

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.id == self.id

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

"""The outbox as a feed that other services follow: pages of committed events, and a wait for more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from application.ports import OutboxRecord


@dataclass(frozen=True, slots=True)
class OutboxPage:
    records: list[OutboxRecord]
    scanned_to: int
    """Every event with a sequence up to this one was considered (returned, or left out by the
    filter): the next page starts after it."""


class OutboxFeed(Protocol):
    """Committed events in sequence order, for as long as the process serves them."""

    async def read_page(
        self, *, after_sequence: int, limit: int, sub_account_id: str | None = None
    ) -> OutboxPage:
        """Up to `limit` events after `after_sequence`, in sequence order; only the
        sub-account's when `sub_account_id` is given. No event can commit later with a sequence
        up to `scanned_to` (the OutboxReader guarantee), so nothing is ever skipped."""
        ...

    async def wait_for_events(self, after_sequence: int) -> bool:
        """Wait until events after `after_sequence` may have committed (return at once if they
        have): True. False once the feed is closed."""
        ...

    def close(self) -> None:
        """The process is stopping: wake every waiter with False, and wait no more."""
        ...

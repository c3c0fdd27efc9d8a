"""StreamEvents: the outbox, followed from a sequence, for other services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from application.event_feed import OutboxFeed
from application.ports import OutboxRecord
from domain.errors import FieldViolation, InvalidArgumentError, PermissionDeniedError
from domain.values import Principal

DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamEventsQuery:
    actor: Principal
    after_sequence: int = 0
    sub_account_id: str | None = None
    """Admins may name any sub-account or none (every event); others get their own whatever
    they ask, and may name no other."""


class StreamEvents:
    """Rules: every committed event after `after_sequence`, once, in sequence order (commit
    order), then each new one as it commits, until the caller stops iterating or the feed
    closes. Non-admins get only their own sub-account's events (catalogue events, which belong
    to no sub-account, are for admins); naming another sub-account is refused, as is a negative
    sequence. Events come in batches, each in sequence order after the one before."""

    def __init__(self, *, feed: OutboxFeed, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._feed = feed
        self._batch_size = batch_size

    def close(self) -> None:
        """End every stream: the process is stopping."""
        self._feed.close()

    async def execute(self, query: StreamEventsQuery) -> AsyncIterator[list[OutboxRecord]]:
        sub_account_id = _scope(query)
        cursor = query.after_sequence
        while await self._feed.wait_for_events(cursor):
            page = await self._feed.read_page(
                after_sequence=cursor, limit=self._batch_size, sub_account_id=sub_account_id
            )
            if page.records:
                yield page.records
            cursor = max(cursor, page.scanned_to)


def _scope(query: StreamEventsQuery) -> str | None:
    """The sub-account the stream is confined to; None means every event (admins only)."""
    if query.after_sequence < 0:
        raise InvalidArgumentError(
            "after_sequence must not be negative",
            (FieldViolation("after_sequence", "must not be negative"),),
        )
    asked = query.sub_account_id or None
    if query.actor.is_admin:
        return asked
    own = query.actor.sub_account_id
    if own is None:
        raise PermissionDeniedError("the token names no sub-account")
    if asked not in (None, own):
        raise PermissionDeniedError("you may stream only your own sub-account's events")
    return own

"""Rate limiting of provider calls: request slots per key, served by priority, learning from what
the provider's responses say about its limits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class Priority(IntEnum):
    """Who waits first for a rate-limit token: lower values are served first."""

    LIVE = 0  # a person or a webhook is waiting on the answer
    BACKGROUND = 1  # sync and reconciliation


@dataclass(frozen=True, slots=True)
class RateLimitObservation:
    """What one provider response said about its limits (its rate-limit headers, and whether it
    answered 429). Every field is optional: a response may carry none of them."""

    max_requests: int | None = None  # requests allowed per interval
    remaining: int | None = None  # left in the current interval
    interval_seconds: float | None = None  # the interval's length
    daily_limit: int | None = None  # requests allowed per day
    daily_remaining: int | None = None  # left today
    throttled: bool = False  # the provider answered 429
    retry_after_seconds: float | None = None  # Retry-After, if the provider sent it


class RateLimitPermit(Protocol):
    async def release(self, observed: RateLimitObservation | None) -> None:
        """The request is over: a response arrived (pass what it said), or it failed without one
        (pass None). Safe to call twice; only the first call counts."""
        ...


class RateLimiter(Protocol):
    """Per-key request slots, keyed by what the provider limits (an account of the provider):
    the caller's limit per minute, and whatever the provider's responses teach.
    Implementations: in-process, and Redis (shared by every copy of the service, and across
    their restarts)."""

    async def acquire(
        self,
        key: str,
        *,
        limit_per_minute: int,
        max_wait: float,
        priority: Priority = Priority.LIVE,
    ) -> RateLimitPermit:
        """Wait for a slot, serving lower `priority` values first. Raise RateLimitExceededError
        when none can be had within `max_wait` seconds. Release the permit when the request is over."""
        ...

"""What the worker does with a delivery that failed: when it tries again (backoff), which failures
no retry can mend, and what is kept of an error."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from domain.errors import InvalidArgumentError, InvalidTransitionError

LAST_ERROR_MAX = 2000


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff with full jitter: retry n waits a uniform time in
    [0, min(cap, base * 2**(n-1))], so that deliveries failing together do not retry together.
    After `max_attempts` attempts a delivery is dead-lettered."""

    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=15)
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError("backoff needs max_attempts >= 1 and 0 < base <= cap")

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """How long to wait after the `attempt`-th attempt failed."""
        ceiling: timedelta = min(self.cap, self.base * 2 ** min(attempt - 1, 32))
        return ceiling * rng.random()


def can_never_succeed(error: BaseException) -> bool:
    """Whether a delivery whose handler failed with `error` would fail the same way however
    often it were tried: the input is wrong, not the moment (a value the domain or the database
    refuses, a change the domain does not allow). Such a delivery goes to the dead letters at
    once, to be replayed once a person has fixed the cause."""
    return isinstance(error, InvalidArgumentError | InvalidTransitionError)


def error_text(error: BaseException) -> str:
    """What is kept of a handler's failure: its type and message, bounded. Domain errors' messages
    hold no secrets; other exceptions' are the handler author's."""
    text = f"{type(error).__name__}: {error}"
    return text[:LAST_ERROR_MAX]

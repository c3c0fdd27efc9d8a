"""How long provider calls made in the current context may wait for a rate-limit slot.

A caller that serves many tenants one after another (the inbox worker) must not sit on one
tenant's exhausted limit: it sets a short wait here, and a call that would wait longer fails at
once with RateLimitExceededError (with the time the slot frees up), so that the caller can put
that tenant's work aside until then. Provider adapters read it beside their own bound."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_RATE_LIMIT_WAIT: ContextVar[float | None] = ContextVar("rate_limit_wait", default=None)


@contextmanager
def rate_limit_wait_at_most(seconds: float) -> Iterator[None]:
    """Within the block (and the tasks it starts), calls wait at most `seconds` for a slot."""
    token = _RATE_LIMIT_WAIT.set(max(0.0, seconds))
    try:
        yield
    finally:
        _RATE_LIMIT_WAIT.reset(token)


def rate_limit_wait(default: float) -> float:
    """The longest a call may wait for a rate-limit slot here: `default`, or less if the
    context says so."""
    bound = _RATE_LIMIT_WAIT.get()
    return default if bound is None else min(default, bound)

"""Paging through listings: a page request and the page it answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Keyset pagination: at most `size` items whose id sorts after `after_id`."""

    size: int
    after_id: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; `next_after_id` is None on the last page."""

    items: Sequence[T]
    next_after_id: str | None

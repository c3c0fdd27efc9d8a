"""The lock a token chain's refresh is held under, across the copies sharing the database: a
PostgreSQL transaction-scoped advisory lock on (a class, a 32-bit hash of the chain's key)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from sqlalchemy import exc, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.errors import storage_errors
from domain.errors import StorageUnavailableError

# A waiter gives up (and its call fails, to be retried) if a refresh holds the lock this long:
# far longer than a token endpoint takes to answer.
_TIMEOUT: Final = "30s"
_LOCK_NOT_AVAILABLE: Final = "55P03"


def lock_key(*parts: str) -> int:
    """A signed 32-bit key (PostgreSQL's int4) from a chain's key: two chains that share a hash
    only take turns."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


@asynccontextmanager
async def refresh_lock(
    session_factory: async_sessionmaker[AsyncSession], lock_class: int, key: int, *, what: str
) -> AsyncIterator[None]:
    """Held on a connection of its own until the block ends (the saves inside commit on
    others, before it is released). On SQLite one copy runs: the caller's in-process lock is
    enough, and this is a no-op. Raises StorageUnavailableError when another copy holds it
    too long (`what` names the chain in the message)."""
    async with session_factory() as session:
        if session.get_bind().dialect.name != "postgresql":
            yield
            return
        with storage_errors():
            try:
                await session.execute(select(func.set_config("lock_timeout", _TIMEOUT, True)))
                await session.execute(select(func.pg_advisory_xact_lock(lock_class, key)))
            except exc.DBAPIError as err:
                if getattr(err.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                    raise StorageUnavailableError(
                        f"another copy's OAuth refresh of {what} is taking too long"
                    ) from err
                raise
        yield
        # Leaving the session rolls its transaction back, which releases the lock.

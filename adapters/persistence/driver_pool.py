"""asyncpg pools on PostgreSQL, beside the engine's pool, for the hot paths that borrow a
connection for one autocommit statement: the gRPC reads (integration_reads.py, a SELECT) and
the inbox writer's batches (inbox.py, an INSERT). Checking a connection out of the engine's
pool and back in (two greenlet hops, its events and reset) cost more CPU than the rest of the
database call (bench/grpc_reads.py: GetIntegration ~620 -> ~550 us of service CPU; the ingest
writer ~5% of a delivery's instructions)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from adapters.persistence.engine import APPLICATION_NAME


async def driver_pool(url: str, *, size: int) -> AsyncIterator[Any]:
    """A pool of at most `size` connections for `url` on postgresql+asyncpg, closed on exit;
    None for other databases. Connections open on first use, as the engine's do."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql+asyncpg":
        yield None
        return
    pool = await asyncpg.create_pool(
        parsed.set(drivername="postgresql").render_as_string(hide_password=False),
        min_size=0,
        max_size=size,
        server_settings={"application_name": APPLICATION_NAME},
        init=_decode_json,
        reset=_kept_as_is,
    )
    try:
        yield pool
    finally:
        await pool.close()


async def _decode_json(connection: Any) -> None:
    """JSON columns read as Python values, as on the engine's connections."""
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _kept_as_is(connection: Any) -> None:
    """Nothing to reset on release: the pool's connections run only autocommit statements,
    which leave no transaction, session setting, lock or listener behind. asyncpg's default reset
    (RESET ALL, UNLISTEN *, ...) would cost a round trip per read."""

"""The requests a copy is serving, counted so that a draining copy stops once it answered them."""

from __future__ import annotations

import asyncio


class InFlight:
    """The requests being served: unary gRPC calls and webhook deliveries (not probes, metrics
    or event streams, which never finish on their own). Two integer updates per request; only
    a shutdown waits on it."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: asyncio.Event | None = None

    def started(self) -> None:
        self.count += 1

    def finished(self) -> None:
        self.count -= 1
        if not self.count and self._idle is not None:
            self._idle.set()

    async def idle(self) -> None:
        """Return once no request is in flight (at once if none is)."""
        while self.count:
            self._idle = asyncio.Event()
            try:
                await self._idle.wait()
            finally:
                self._idle = None

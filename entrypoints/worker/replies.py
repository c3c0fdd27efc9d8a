"""The loop that sends queued sales-bot replies back through GoHighLevel."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from application.use_cases.send_replies import SendPendingReplies

log = structlog.get_logger(__name__)


class ReplySender:
    """Runs SendPendingReplies until stopped; waits `poll_interval` whenever nothing was due.
    Replies are sent outside the inbox worker's transactions (see SendPendingReplies)."""

    def __init__(self, send: SendPendingReplies, *, poll_interval: float = 1.0) -> None:
        self._send = send
        self._poll_interval = poll_interval
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            handled = 0
            try:
                result = await self._send.execute()
                handled = result.sent + result.failed + result.deferred
            except Exception as err:  # the database is down, or a bug: keep going
                log.error("reply_sender_error", error_type=type(err).__name__, exc_info=err)
            if handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll_interval)

"""The count of requests in flight that a draining copy waits on."""

from __future__ import annotations

import asyncio

from entrypoints.in_flight import InFlight


async def test_idle_returns_at_once_when_nothing_is_in_flight() -> None:
    await asyncio.wait_for(InFlight().idle(), 5)


async def test_idle_waits_for_the_last_request_even_one_that_started_meanwhile() -> None:
    in_flight = InFlight()
    in_flight.started()
    waiting = asyncio.create_task(in_flight.idle())
    await asyncio.sleep(0)
    in_flight.started()  # a request arriving while the copy drains
    in_flight.finished()
    await asyncio.sleep(0)
    assert not waiting.done()

    in_flight.finished()

    await asyncio.wait_for(waiting, 5)
    assert in_flight.count == 0

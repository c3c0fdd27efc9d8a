"""The funnel worker: every outbox page dispatched first, then one lane per integration with
events due, so that an integration whose provider hangs holds up no other."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import REGISTRY

from application.funnel import SendResult
from entrypoints.worker.funnel_worker import FunnelWorker
from tests.fakes import FixedClock


@dataclass
class Pages:
    """A dispatcher with `left` outbox pages to read."""

    left: int
    read: int = 0

    async def run_once(self) -> int:
        if self.left == 0:
            return 0
        self.left -= 1
        self.read += 1
        return 500


@dataclass
class Due:
    integrations: list[str]

    async def due_integrations(self, *, now: datetime, limit: int) -> list[str]:
        return self.integrations[:limit]


@dataclass
class Sender:
    """Sends for every integration at once, but `hang`'s until released."""

    hang: str
    release: asyncio.Event = field(default_factory=asyncio.Event)
    done: list[str] = field(default_factory=list)

    async def execute(self, integration_id: str) -> SendResult:
        if integration_id == self.hang:
            await self.release.wait()
        self.done.append(integration_id)
        return SendResult("analytics", sent=1)


def sent_metric() -> float:
    labels = {"template": "analytics", "outcome": "sent"}
    return REGISTRY.get_sample_value("integrations_funnel_events_total", labels) or 0.0


async def test_every_page_is_dispatched_and_a_hung_lane_holds_up_no_other() -> None:
    pages, sender = Pages(left=3), Sender(hang="slow")
    counted_before = sent_metric()
    worker = FunnelWorker(
        dispatch=pages,  # type: ignore[arg-type]
        send=sender,  # type: ignore[arg-type]
        queue=Due(["slow", "quick-1", "quick-2"]),  # type: ignore[arg-type]
        clock=FixedClock(),
    )

    started = await worker.run_once(wait=False)
    for _ in range(100):  # turns of the event loop, until the quick lanes have ended
        if {"quick-1", "quick-2"} <= set(sender.done):
            break
        await asyncio.sleep(0)
    for _ in range(3):  # their tasks' done-callbacks run on the next turns
        await asyncio.sleep(0)
    again = await worker.run_once(wait=False)  # the hung lane is not started twice

    assert pages.read == 3
    assert started == 3
    assert {"quick-1", "quick-2"} <= set(sender.done)
    assert "slow" not in sender.done
    assert again == 2
    sender.release.set()
    await worker.run_once()
    assert "slow" in sender.done
    assert sent_metric() - counted_before == len(sender.done)

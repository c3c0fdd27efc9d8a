"""BackfillSubmittedLeads: the leads submitted since the last backfill, captured when their
deliveries were lost, once each, the provider read with no transaction open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from application.ports import ProviderCall, SubmittedLead
from application.sync_records import SyncResource
from application.use_cases.backfill_submitted_leads import BackfillSubmittedLeads
from application.use_cases.capture_submitted_lead import CaptureSubmittedLead
from domain.errors import ProviderNotSupportedError
from domain.lead import ContactDetails
from domain.webhook_delivery import EventKind
from tests.unit.webhook_handlers.support import App, make_app
from tests.unit.webhook_handlers.test_submitted_leads import FakeFetcher


@dataclass
class FakeBackfill:
    app: App
    submitted: list[SubmittedLead] = field(default_factory=list)
    asked: list[datetime] = field(default_factory=list)
    open_units: list[int] = field(default_factory=list)

    async def submitted_since(self, call: ProviderCall, since: datetime) -> Sequence[SubmittedLead]:
        self.asked.append(since)
        self.open_units.append(self.app.uow.store.open_units)
        return [lead for lead in self.submitted if lead.submitted_at > since]


def lead(external_id: str, at: datetime) -> SubmittedLead:
    return SubmittedLead(
        external_id=external_id,
        details=ContactDetails(email=f"{external_id}@example.com"),
        submitted_at=at,
        attribution={"form_id": "f-1"},
    )


def backfill_of(app: App, source: FakeBackfill | None) -> BackfillSubmittedLeads:
    return BackfillSubmittedLeads(
        uow=app.uow,
        cipher=app.cipher,
        leads=app.lead_sync,
        sources=lambda template: source,
        clock=app.clock,
    )


async def test_lost_leads_are_captured_once_and_the_next_backfill_starts_near_the_newest() -> None:
    app = await make_app()
    now = app.clock.now()
    source = FakeBackfill(app, [lead("l-1", now - timedelta(hours=3)), lead("l-2", now)])
    # l-1 arrived by webhook; l-2's delivery was lost.
    fetcher = FakeFetcher(app, {"l-1": source.submitted[0]})
    webhook = CaptureSubmittedLead(fetcher=fetcher, leads=app.lead_sync, cipher=app.cipher)
    await app.deliver(
        EventKind.LEAD_SUBMITTED, {"leadgen_id": "l-1"}, delivery_id="l-1", handler=webhook
    )
    backfill = backfill_of(app, source)

    assert await backfill.execute(app.integration.id) == 1
    app.clock.advance(minutes=15)
    assert await backfill.execute(app.integration.id) == 0

    assert sorted(lead.external_id for lead in app.leads) == ["l-1", "l-2"]
    [l2] = [lead for lead in app.leads if lead.external_id == "l-2"]
    assert l2.attribution == {"form_id": "f-1"}
    assert source.asked == [now - timedelta(days=2), now - timedelta(hours=1)]
    assert source.open_units == [0, 0]
    async with app.uow() as uow:
        cursor = await uow.sync.get_cursor(app.integration.id, SyncResource.SUBMITTED_LEADS)
    assert cursor is not None
    assert cursor.position == now


async def test_a_provider_with_no_backfill_is_not_supported() -> None:
    app = await make_app()

    with pytest.raises(ProviderNotSupportedError):
        await backfill_of(app, None).execute(app.integration.id)

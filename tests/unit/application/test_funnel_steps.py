"""Which outbox events are steps of the lead funnel."""

from __future__ import annotations

from typing import Any

import pytest

from application.funnel import FunnelStep, funnel_step
from application.ports import FunnelStage, OutboxRecord
from tests.support.builders import NOW


def record(event_type: str, **payload: Any) -> OutboxRecord:
    return OutboxRecord(
        sequence=1,
        event_id="ev-1",
        event_type=event_type,
        aggregate_id="lead-1",
        aggregate_version=2,
        sub_account_id="sa-1",
        occurred_at=NOW,
        payload=payload,
    )


@pytest.mark.parametrize(
    ("event", "step"),
    [
        (record("LeadCaptured"), FunnelStep("lead-1", FunnelStage.LEAD_CAPTURED)),
        (record("BookingCreated", lead_id="lead-9"), FunnelStep("lead-9", FunnelStage.BOOKED)),
        (record("BookingCreated", lead_id=None), None),
        (record("LeadStatusChanged", status="won"), FunnelStep("lead-1", FunnelStage.WON)),
        (
            record("LeadStatusChanged", status="lost"),
            FunnelStep("lead-1", FunnelStage.LOST, reason="lost"),
        ),
        (
            record("LeadStatusChanged", status="abandoned"),
            FunnelStep("lead-1", FunnelStage.LOST, reason="abandoned"),
        ),
        (record("LeadStatusChanged", status="open"), None),
        (record("LeadUpdated", changed_fields=["email"]), None),
        (record("IntegrationActivated"), None),
    ],
    ids=lambda v: v.event_type if isinstance(v, OutboxRecord) else str(v),
)
def test_an_outbox_event_is_a_funnel_step_or_none(
    event: OutboxRecord, step: FunnelStep | None
) -> None:
    assert funnel_step(event) == step

"""Funnel events sent to the fake GA4: each arrives once, in requests of its lead, retried
through GA4's transient failures, at the region's host, and to the validation server only when
the integration says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.ga4.client import Ga4Http
from adapters.ga4.fake.seed import DEMO_MEASUREMENT_ID
from adapters.ga4.measurement import Ga4Measurement
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports.funnel import FunnelEvent, FunnelStage
from domain.errors import ConnectionFailedError, RateLimitExceededError
from tests.fakes import FixedClock
from tests.integration.ga4.support import (
    FAST_RETRY,
    FAST_TIMEOUTS,
    ga4_call,
    running_ga4,
    settings_for,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _event(event_id: str, stage: FunnelStage, lead: str) -> FunnelEvent:
    return FunnelEvent(
        id=event_id,
        stage=stage,
        sub_account_id="sa-1",
        lead_id=lead,
        occurred_at=NOW - timedelta(minutes=5),
        source_integration_id="ghl-1",
        source_template="gohighlevel",
        source_external_id=f"contact-{lead}",
    )


FUNNEL = [
    _event("e1", FunnelStage.LEAD_CAPTURED, "lead-1"),
    _event("e2", FunnelStage.LEAD_CAPTURED, "lead-2"),
    _event("e3", FunnelStage.BOOKED, "lead-1"),
    _event("e4", FunnelStage.WON, "lead-1"),
]


async def test_every_event_arrives_at_ga4_once_in_one_request_per_lead() -> None:
    async with running_ga4() as running:
        outcome = await Ga4Measurement(running.http, clock=FixedClock(NOW)).send(
            ga4_call(currency="USD", value={"won": 120}), FUNNEL
        )
        recorded = running.fake.recorded_events(DEMO_MEASUREMENT_ID)
        requests = running.fake.collected

    assert sorted(outcome.sent) == ["e1", "e2", "e3", "e4"]
    assert outcome.dropped == {}
    assert len(requests) == 2
    assert all(not r.debug and r.accepted for r in requests)
    assert sorted(e["name"] for e in recorded) == [
        "close_convert_lead",
        "generate_lead",
        "generate_lead",
        "qualify_lead",
    ]
    [won] = [e for e in recorded if e["name"] == "close_convert_lead"]
    assert won["params"] == {"lead_source": "gohighlevel", "value": 120, "currency": "USD"}
    lead_1 = {e["client_id"] for e in recorded if e["name"] != "generate_lead"}
    assert len(lead_1) == 1


async def test_a_transient_failure_is_retried_and_the_events_still_arrive_once() -> None:
    async with running_ga4() as running:
        running.fake.fail_next_collects(503, times=2)
        outcome = await Ga4Measurement(running.http, clock=FixedClock(NOW)).send(
            ga4_call(), FUNNEL[:1]
        )
        recorded = running.fake.recorded_events()

    assert outcome.sent == ("e1",)
    assert [e["name"] for e in recorded] == ["generate_lead"]


async def test_a_throttle_that_outlasts_the_retries_fails_the_batch_with_the_wait() -> None:
    async with running_ga4() as running:
        running.fake.fail_next_collects(429, times=10)
        with pytest.raises(RateLimitExceededError) as caught:
            await Ga4Measurement(running.http, clock=FixedClock(NOW)).send(ga4_call(), FUNNEL[:1])
        recorded = running.fake.recorded_events()

    assert caught.value.retry_after_seconds > 0
    assert recorded == []


async def test_a_server_error_that_persists_fails_the_batch_as_connection_failed() -> None:
    async with running_ga4() as running:
        running.fake.fail_next_collects(500, times=10)
        with pytest.raises(ConnectionFailedError):
            await Ga4Measurement(running.http, clock=FixedClock(NOW)).send(ga4_call(), FUNNEL[:1])


async def test_the_validate_switch_sends_to_the_validation_server_and_records_nothing() -> None:
    async with running_ga4() as running:
        outcome = await Ga4Measurement(running.http, clock=FixedClock(NOW)).send(
            ga4_call(validate=True), FUNNEL
        )
        requests = running.fake.collected
        recorded = running.fake.recorded_events()

    assert sorted(outcome.sent) == ["e1", "e2", "e3", "e4"]
    assert requests
    assert all(r.debug for r in requests)
    assert recorded == []


async def test_an_eu_integration_sends_to_the_eu_host() -> None:
    async with running_ga4() as global_host, running_ga4() as eu_host:
        http = Ga4Http(
            rate_limiter=TokenBucketRateLimiter(),
            settings=settings_for(global_host.url, eu_url=eu_host.url),
            retry=FAST_RETRY,
            timeouts=FAST_TIMEOUTS,
        )
        try:
            await Ga4Measurement(http, clock=FixedClock(NOW)).send(
                ga4_call(region="eu"), FUNNEL[:1]
            )
        finally:
            await http.close()
        at_eu = eu_host.fake.recorded_events()
        at_global = global_host.fake.collected

    assert [e["name"] for e in at_eu] == ["generate_lead"]
    assert at_global == []

"""Ga4Measurement before the wire: what it leaves out (older than 72 hours, what GA4 would drop,
what the validation server refuses), how it counts that, and that no personal data is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from multidict import CIMultiDict
from prometheus_client import REGISTRY

from adapters.ga4.client import Ga4Http
from adapters.ga4.config import Ga4Config
from adapters.ga4.http_policy import Ga4Call
from adapters.ga4.measurement import STALE, Ga4Measurement
from adapters.http import HttpAnswer
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import Credentials, ProviderCall
from application.ports.funnel import FunnelEvent, FunnelStage
from domain.values import SecretStr
from tests.fakes import FixedClock
from tests.support.reference import GHL_REFERENCE

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EMAIL = "jane.doe@example.com"
PHONE = "+13125550123"
CONTACT_ID = "ghlContact0000000042"
API_SECRET = "secret-0123456789"
DEBUG_EXAMPLE = Path(GHL_REFERENCE.parent / "ga4" / "examples" / "mp-debug-response.json")


def debug_example() -> Any:
    return json.loads(DEBUG_EXAMPLE.read_text())


class RecordingHttp(Ga4Http):
    """Records each Measurement Protocol request and answers with `answer_body`."""

    def __init__(self, answer_body: Any = None) -> None:
        super().__init__(rate_limiter=TokenBucketRateLimiter())
        self.requests: list[tuple[dict[str, Any], bool]] = []
        self.answer_body = answer_body

    async def collect(
        self, call: Ga4Call, config: Ga4Config, body: dict[str, Any], *, debug: bool
    ) -> HttpAnswer:
        self.requests.append((body, debug))
        return HttpAnswer(200 if debug else 204, CIMultiDict(), self.answer_body)


def call(**config: Any) -> ProviderCall:
    return ProviderCall(
        integration_id="ga4-1",
        sub_account_id="sa-1",
        template_name="google_analytics",
        config={"measurementId": "G-ABC123DEF4", **config},
        credentials=Credentials({"apiSecret": SecretStr(API_SECRET)}),
        rate_limit_per_minute=600,
    )


def event(
    event_id: str,
    stage: FunnelStage = FunnelStage.LEAD_CAPTURED,
    *,
    lead: str = "lead-1",
    age: timedelta = timedelta(minutes=1),
    reason: str | None = None,
) -> FunnelEvent:
    return FunnelEvent(
        id=event_id,
        stage=stage,
        sub_account_id="sa-1",
        lead_id=lead,
        occurred_at=NOW - age,
        source_integration_id="ghl-1",
        source_template="gohighlevel",
        source_external_id=CONTACT_ID,
        reason=reason,
        email=SecretStr(EMAIL),
        phone=SecretStr(PHONE),
    )


def dropped_count(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("integrations_ga4_events_dropped_total", {"reason": reason})
        or 0.0
    )


async def test_an_analytics_property_wants_every_event() -> None:
    sink = Ga4Measurement(RecordingHttp(), clock=FixedClock(NOW))

    assert sink.wants(event("e1"), call())
    assert sink.max_batch == 25


async def test_no_personal_data_and_no_user_id_is_in_any_request() -> None:
    http = RecordingHttp()
    events = [
        event("e1"),
        event("e2", FunnelStage.BOOKED),
        event("e3", FunnelStage.WON),
        event("e4", FunnelStage.LOST, lead="lead-2", reason="lost"),
    ]

    outcome = await Ga4Measurement(http, clock=FixedClock(NOW)).send(
        call(currency="USD", value={"won": 100}), events
    )

    assert sorted(outcome.sent) == ["e1", "e2", "e3", "e4"]
    sent = json.dumps([body for body, _ in http.requests])
    for personal in (EMAIL, PHONE, CONTACT_ID, "jane", "5550123", API_SECRET):
        assert personal not in sent
    for body, debug in http.requests:
        assert set(body) == {"client_id", "events"}
        assert not debug
        for mp_event in body["events"]:
            assert set(mp_event["params"]) <= {
                "lead_source",
                "value",
                "currency",
                "unconvert_lead_reason",
            }


async def test_events_of_one_lead_share_a_request_and_each_lead_has_its_own() -> None:
    http = RecordingHttp()

    await Ga4Measurement(http, clock=FixedClock(NOW)).send(
        call(), [event("e1"), event("e2", lead="lead-2"), event("e3", FunnelStage.WON)]
    )

    assert [len(body["events"]) for body, _ in http.requests] == [2, 1]
    assert len({body["client_id"] for body, _ in http.requests}) == 2


async def test_an_event_older_than_72_hours_is_dropped_counted_and_not_sent() -> None:
    http = RecordingHttp()
    before = dropped_count("stale")

    outcome = await Ga4Measurement(http, clock=FixedClock(NOW)).send(
        call(),
        [
            event("old", age=timedelta(hours=72, seconds=1)),
            event("recent", FunnelStage.WON, age=timedelta(hours=71)),
        ],
    )

    assert outcome.sent == ("recent",)
    assert outcome.dropped == {"old": STALE}
    assert [e["name"] for body, _ in http.requests for e in body["events"]] == [
        "close_convert_lead"
    ]
    assert dropped_count("stale") == before + 1


async def test_an_event_ga4_would_drop_is_dropped_with_why_and_the_rest_is_sent() -> None:
    http = RecordingHttp()
    before = dropped_count("invalid")

    outcome = await Ga4Measurement(http, clock=FixedClock(NOW)).send(
        call(eventMap={"booked": "session_start"}),
        [event("e1"), event("e2", FunnelStage.BOOKED)],
    )

    assert outcome.sent == ("e1",)
    assert "reserved" in outcome.dropped["e2"]
    assert dropped_count("invalid") == before + 1


async def test_a_batch_with_nothing_left_to_send_sends_no_request() -> None:
    http = RecordingHttp()

    outcome = await Ga4Measurement(http, clock=FixedClock(NOW)).send(
        call(), [event("old", age=timedelta(days=4))]
    )

    assert outcome.sent == ()
    assert http.requests == []


async def test_with_validate_the_events_the_validation_server_names_are_dropped() -> None:
    # The notes' example answer names events 0, 1 and 2 of its request.
    http = RecordingHttp(answer_body=debug_example())
    events = [event(f"e{n}", FunnelStage.WON, age=timedelta(minutes=n)) for n in range(4)]
    before = dropped_count("refused")

    outcome = await Ga4Measurement(http, clock=FixedClock(NOW)).send(call(validate=True), events)

    assert outcome.sent == ("e3",)
    assert set(outcome.dropped) == {"e0", "e1", "e2"}
    assert "NAME_RESERVED" in outcome.dropped["e1"]
    assert [debug for _, debug in http.requests] == [True]
    assert dropped_count("refused") == before + 3


async def test_with_validate_a_message_naming_no_event_drops_the_whole_request() -> None:
    http = RecordingHttp(
        answer_body={
            "validationMessages": [
                {
                    "fieldPath": "client_id",
                    "description": "Measurement requires a client_id.",
                    "validationCode": "VALUE_REQUIRED",
                }
            ]
        }
    )

    outcome = await Ga4Measurement(http, clock=FixedClock(NOW)).send(
        call(validate=True), [event("e1"), event("e2", FunnelStage.WON)]
    )

    assert outcome.sent == ()
    assert set(outcome.dropped) == {"e1", "e2"}

"""Funnel events as Conversions API CRM events: the notes' normalisation and hashing (their
worked example), the stage map, the stale-event rule, and only this integration's leads."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.meta.conversions import (
    MAX_BATCH,
    MetaConversions,
    hashed,
    normalised_email,
    normalised_phone,
    stage_map,
)
from application.ports.funnel import FunnelEvent, FunnelStage
from domain.errors import InvalidArgumentError
from domain.values import SecretStr
from tests.fakes import FixedClock
from tests.support.meta import PAGE_ID, example, meta_call
from tests.unit.adapters.meta.support import RecordingGraph

NOW = datetime(2026, 7, 30, 12, 0, tzinfo=UTC)
CAPI = example("capi-request.json")
INPUTS = CAPI["_normalised_inputs_before_hashing"]
LEAD_EVENT = CAPI["data"][0]


def funnel_event(**changes: object) -> FunnelEvent:
    event = FunnelEvent(
        id="evt-1",
        stage=FunnelStage.LEAD_CAPTURED,
        sub_account_id="sa-1",
        lead_id="lead-1",
        occurred_at=datetime.fromtimestamp(LEAD_EVENT["event_time"], UTC),
        source_integration_id="fb-1",
        source_template="facebook_ads",
        source_external_id=str(LEAD_EVENT["user_data"]["lead_id"]),
        email=SecretStr("  Ana.Souza@Example.COM "),
        phone=SecretStr("+55 (11) 98765-4321"),
    )
    return replace(event, **changes)  # type: ignore[arg-type]


@pytest.fixture
def graph() -> RecordingGraph:
    return RecordingGraph()


@pytest.fixture
def sink(graph: RecordingGraph) -> MetaConversions:
    return MetaConversions(graph, clock=FixedClock(NOW))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("ana.souza@example.com", "em"),
        ("  Ana.Souza@Example.COM\t", "em"),
    ],
)
def test_an_email_normalises_and_hashes_as_in_the_worked_example(raw: str, key: str) -> None:
    normalised = normalised_email(raw)

    assert normalised == INPUTS[key]
    assert normalised is not None
    assert hashed(normalised) == LEAD_EVENT["user_data"][key][0]


@pytest.mark.parametrize(
    "raw", ["+5511987654321", "+55 (11) 98765-4321", "0055 11 98765 4321", "55-11-98765-4321"]
)
def test_a_phone_normalises_to_its_digits_with_the_country_code(raw: str) -> None:
    normalised = normalised_phone(raw)

    assert normalised == INPUTS["ph"]
    assert normalised is not None
    assert hashed(normalised) == LEAD_EVENT["user_data"]["ph"][0]


@pytest.mark.parametrize("raw", ["000 11 98765 4321", "", "+", "12345", "1" * 16, "ext. only"])
def test_a_phone_that_is_no_international_number_is_not_sent(raw: str) -> None:
    assert normalised_phone(raw) is None


@pytest.mark.parametrize("raw", ["", "   ", "ana", "@example.com", "ana@"])
def test_an_email_that_is_no_address_is_not_sent(raw: str) -> None:
    assert normalised_email(raw) is None


def test_the_other_worked_hashes_are_sha256_of_the_normalised_inputs() -> None:
    for key in ("fn", "ln", "ct", "st", "zp", "country"):
        assert hashed(INPUTS[key]) == LEAD_EVENT["user_data"][key][0], key


async def test_a_stage_is_sent_as_the_crm_event_the_notes_describe(
    sink: MetaConversions, graph: RecordingGraph
) -> None:
    call = meta_call(datasetId="555000111", leadEventSource="Acme CRM")

    outcome = await sink.send(call, [funnel_event()])

    assert outcome.sent == ("evt-1",)
    assert outcome.dropped == {}
    [(page, dataset, events)] = graph.sent
    assert (page, dataset) == (PAGE_ID, "555000111")
    assert events == [
        {
            "event_name": "Lead",
            "event_time": LEAD_EVENT["event_time"],
            "action_source": "system_generated",
            "event_id": "evt-1",
            "user_data": {
                "lead_id": LEAD_EVENT["user_data"]["lead_id"],
                "em": LEAD_EVENT["user_data"]["em"],
                "ph": LEAD_EVENT["user_data"]["ph"],
            },
            "custom_data": LEAD_EVENT["custom_data"],
        }
    ]


async def test_the_default_stage_map_and_the_platforms_name_apply_when_unset(
    sink: MetaConversions, graph: RecordingGraph
) -> None:
    events = [
        funnel_event(id=f"evt-{stage}", stage=stage, email=None, phone=None)
        for stage in FunnelStage
    ]

    await sink.send(meta_call(datasetId="555000111"), events)

    [(_, _, sent)] = graph.sent
    assert [e["event_name"] for e in sent] == ["Lead", "Appointment Booked", "Converted", "Lost"]
    assert {e["custom_data"]["lead_event_source"] for e in sent} == {"Sales Platform"}
    assert all(set(e["user_data"]) == {"lead_id"} for e in sent)


def test_the_integrations_stage_map_overrides_the_defaults_it_names() -> None:
    names = stage_map({"stageMap": {"won": "Sale Closed", "lost": " ", "other": "X"}})

    assert names == {
        "lead_captured": "Lead",
        "booked": "Appointment Booked",
        "won": "Sale Closed",
        "lost": "Lost",
    }


async def test_an_event_older_than_seven_days_is_dropped_and_the_rest_sent(
    sink: MetaConversions, graph: RecordingGraph
) -> None:
    fresh = funnel_event(id="fresh", occurred_at=NOW - timedelta(days=6, hours=23))
    stale = funnel_event(id="stale", occurred_at=NOW - timedelta(days=7, seconds=1))

    outcome = await sink.send(meta_call(datasetId="555000111"), [stale, fresh])

    assert outcome.sent == ("fresh",)
    assert outcome.dropped.keys() == {"stale"}
    assert outcome.dropped["stale"].startswith("stale")
    [(_, _, sent)] = graph.sent
    assert [e["event_id"] for e in sent] == ["fresh"]


async def test_a_batch_of_only_dropped_events_calls_nobody(
    sink: MetaConversions, graph: RecordingGraph
) -> None:
    events = [
        funnel_event(id="old", occurred_at=NOW - timedelta(days=30)),
        funnel_event(id="ghl-lead", source_external_id="contact-abc"),
        funnel_event(id="naive", occurred_at=datetime(2026, 7, 30, 11, 0)),  # noqa: DTZ001
    ]

    outcome = await sink.send(meta_call(datasetId="555000111"), events)

    assert outcome.sent == ()
    assert set(outcome.dropped) == {"old", "ghl-lead", "naive"}
    assert all(reason.startswith(("stale", "invalid")) for reason in outcome.dropped.values())
    assert graph.sent == []


async def test_more_events_than_a_request_takes_are_refused(sink: MetaConversions) -> None:
    with pytest.raises(InvalidArgumentError):
        await sink.send(meta_call(datasetId="1"), [funnel_event()] * (MAX_BATCH + 1))


def test_only_this_integrations_leads_are_wanted_and_only_with_a_dataset(
    sink: MetaConversions,
) -> None:
    with_dataset = meta_call(integration_id="fb-1", datasetId="555000111")

    assert sink.wants(funnel_event(), with_dataset)
    assert not sink.wants(funnel_event(source_integration_id="fb-2"), with_dataset)
    assert not sink.wants(funnel_event(), meta_call(integration_id="fb-1"))
    assert not sink.wants(funnel_event(), meta_call(integration_id="fb-1", datasetId=""))
    assert sink.max_batch == 1000

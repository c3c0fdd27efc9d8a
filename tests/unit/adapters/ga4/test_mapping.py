"""A funnel event as GA4 hears it: the event named by the integration's map, its parameters, its
time in microseconds, and the lead's pseudonymous client id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.ga4.config import Ga4Config
from adapters.ga4.mapping import client_id, mp_event
from application.ports import Credentials, ProviderCall
from application.ports.funnel import FunnelEvent, FunnelStage
from domain.values import SecretStr

AT = datetime(2026, 12, 7, 11, 30, 15, 123456, tzinfo=UTC)


def config(**raw: Any) -> Ga4Config:
    return Ga4Config.from_call(
        ProviderCall(
            integration_id="ga4-1",
            sub_account_id="sa-1",
            template_name="google_analytics",
            config={"measurementId": "G-ABC123DEF4", **raw},
            credentials=Credentials({"apiSecret": SecretStr("secret-secret")}),
            rate_limit_per_minute=600,
        )
    )


def event(stage: FunnelStage, *, lead: str = "lead-1", **fields: Any) -> FunnelEvent:
    return FunnelEvent(
        id="e1",
        stage=stage,
        sub_account_id="sa-1",
        lead_id=lead,
        occurred_at=AT,
        source_integration_id="fb-1",
        source_template="facebook_ads",
        source_external_id="1234567890123456",
        **fields,
    )


def test_a_captured_lead_is_generate_lead_with_its_source_and_time_in_microseconds() -> None:
    assert mp_event(event(FunnelStage.LEAD_CAPTURED), config()) == {
        "name": "generate_lead",
        "timestamp_micros": 1_796_643_015_123_456,
        "params": {"lead_source": "facebook_ads"},
    }


def test_the_default_map_names_the_recommended_lead_events() -> None:
    names = {stage: mp_event(event(stage), config())["name"] for stage in FunnelStage}

    assert names == {
        FunnelStage.LEAD_CAPTURED: "generate_lead",
        FunnelStage.BOOKED: "qualify_lead",
        FunnelStage.WON: "close_convert_lead",
        FunnelStage.LOST: "close_unconvert_lead",
    }


def test_the_integrations_event_map_renames_a_stage_and_keeps_the_others() -> None:
    mapped = config(eventMap={"booked": "book_appointment"})

    assert mp_event(event(FunnelStage.BOOKED), mapped)["name"] == "book_appointment"
    assert mp_event(event(FunnelStage.WON), mapped)["name"] == "close_convert_lead"


def test_a_lost_lead_carries_its_reason() -> None:
    lost = mp_event(event(FunnelStage.LOST, reason="abandoned"), config())

    assert lost["name"] == "close_unconvert_lead"
    assert lost["params"]["unconvert_lead_reason"] == "abandoned"


def test_a_stage_with_a_value_carries_it_with_the_currency_and_the_others_do_not() -> None:
    valued = config(currency="EUR", value={"won": 1500, "booked": 50.5})

    assert mp_event(event(FunnelStage.WON), valued)["params"] == {
        "lead_source": "facebook_ads",
        "value": 1500,
        "currency": "EUR",
    }
    assert "value" not in mp_event(event(FunnelStage.LEAD_CAPTURED), valued)["params"]


def test_the_client_id_is_stable_per_lead_and_differs_between_leads() -> None:
    first = client_id(event(FunnelStage.LEAD_CAPTURED))
    again = client_id(event(FunnelStage.WON))
    other = client_id(event(FunnelStage.LEAD_CAPTURED, lead="lead-2"))

    assert first == again
    assert first != other
    assert "lead-1" not in first
    number, _, second = first.partition(".")
    assert number.isdigit()
    assert second.isdigit()


def test_a_web_client_id_the_lead_carries_is_used_and_anything_else_is_not() -> None:
    carried = event(FunnelStage.LEAD_CAPTURED, analytics_client_id="1734567890.1785312000")
    odd = event(FunnelStage.LEAD_CAPTURED, analytics_client_id="jane@example.com")

    assert client_id(carried) == "1734567890.1785312000"
    assert client_id(odd) == client_id(event(FunnelStage.LEAD_CAPTURED))

"""GA4's Measurement Protocol limits (API-NOTES §2-§4), each rule with an input that passes and
one that breaks it; and the requests a batch is cut into, at both limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.ga4.validation import (
    MAX_BODY_BYTES,
    MAX_EVENTS_PER_REQUEST,
    body_size,
    chunks,
    event_problems,
    too_old,
)


def _event(name: str = "generate_lead", **params: Any) -> dict[str, Any]:
    return {"name": name, "timestamp_micros": 1, "params": params}


def test_a_recommended_event_with_value_and_currency_passes() -> None:
    assert event_problems(_event(value=50, currency="USD", lead_source="gohighlevel")) == []


@pytest.mark.parametrize(
    "name",
    [
        "a" * 41,  # longer than 40
        "_generate_lead",  # starts with an underscore
        "1st_lead",  # starts with a digit
        "lead-captured",  # a character other than letters, digits and _
        "lead captured",
        "",
        "session_start",  # reserved by the Measurement Protocol
        "first_visit",
        "page_view",  # reserved on the web
        "form_submit",
        "google_lead",  # reserved prefixes
        "ga_lead",
        "firebase_lead",
    ],
)
def test_an_event_name_ga4_refuses_is_a_problem(name: str) -> None:
    assert event_problems(_event(name)) != []


def test_an_event_name_of_exactly_40_characters_passes() -> None:
    assert event_problems(_event("a" * 40)) == []


@pytest.mark.parametrize(
    "name",
    ["p" * 41, "_private", "9lives", "lead-source", "gtag.x", "firebase_conversion", "ga_x"],
)
def test_a_parameter_name_ga4_refuses_is_a_problem(name: str) -> None:
    assert event_problems(_event(**{name: "x"})) != []


def test_a_parameter_name_of_exactly_40_characters_passes() -> None:
    assert event_problems(_event(**{"p" * 40: "x"})) == []


def test_more_than_25_parameters_is_a_problem_and_25_is_not() -> None:
    params: dict[str, Any] = {f"param_{n}": n for n in range(25)}

    assert event_problems(_event("generate_lead", **params)) == []
    assert event_problems(_event("generate_lead", **params, one_more=1)) != []


def test_a_value_longer_than_100_characters_is_a_problem_and_100_is_not() -> None:
    assert event_problems(_event(lead_status="x" * 100)) == []
    assert event_problems(_event(lead_status="x" * 101)) != []


def test_page_location_may_hold_1000_characters_but_not_more() -> None:
    assert event_problems(_event(page_location="x" * 1000)) == []
    assert event_problems(_event(page_location="x" * 1001)) != []


def test_a_value_without_a_currency_is_a_problem() -> None:
    assert event_problems(_event(value=50)) == ["parameter 'value' needs a 'currency'"]


@pytest.mark.parametrize("currency", ["US Dollars", "usd", "US", 840])
def test_a_currency_that_is_not_a_3_letter_code_is_a_problem(currency: object) -> None:
    assert event_problems(_event(value=50, currency=currency)) != []


@pytest.mark.parametrize("value", [["a"], {"a": 1}, True, None, float("nan")])
def test_a_parameter_that_is_not_a_string_or_a_finite_number_is_a_problem(value: object) -> None:
    assert event_problems(_event(lead_score=value)) != []


def test_problems_never_quote_a_parameters_value() -> None:
    problems = event_problems(_event(lead_status="secret-ish-" + "x" * 100))

    assert problems
    assert "secret-ish" not in json.dumps(problems)


def test_an_event_backdated_72_hours_is_taken_and_a_microsecond_more_is_too_old() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    assert not too_old(now - timedelta(hours=72), now)
    assert too_old(now - timedelta(hours=72, microseconds=1), now)


ENVELOPE = {"client_id": "1234567890.1234567890"}


def test_25_events_fit_one_request_and_the_26th_starts_another() -> None:
    events = [_event(lead_source=str(n)) for n in range(51)]

    requests = chunks(ENVELOPE, events)

    assert [len(r) for r in requests] == [MAX_EVENTS_PER_REQUEST, MAX_EVENTS_PER_REQUEST, 1]
    assert [e for r in requests for e in r] == events


def _event_of_size(size: int) -> dict[str, Any]:
    """An event whose JSON is exactly `size` bytes."""
    event = _event(padding="")
    event["params"]["padding"] = "x" * (size - body_size(event))
    assert body_size(event) == size
    return event


def _body(events: list[Any]) -> dict[str, Any]:
    return {**ENVELOPE, "events": events}


def test_a_body_of_one_byte_under_130_kb_is_one_request_and_one_more_byte_makes_two() -> None:
    empty = body_size(_body([]))
    second = 1_000
    # Two events in one body: the envelope, both events, and ", " between them.
    largest = MAX_BODY_BYTES - 1 - empty - second - 2

    fits = [_event_of_size(largest), _event_of_size(second)]
    overflows = [_event_of_size(largest + 1), _event_of_size(second)]

    assert body_size(_body(fits)) == MAX_BODY_BYTES - 1
    assert chunks(ENVELOPE, fits) == [fits]
    assert chunks(ENVELOPE, overflows) == [overflows[:1], overflows[1:]]


def test_every_request_of_large_events_stays_under_130_kb_and_is_as_full_as_it_can_be() -> None:
    events = [_event_of_size(7_000 + 37 * n) for n in range(60)]

    requests = chunks(ENVELOPE, events)

    assert [e for r in requests for e in r] == events
    for index, request in enumerate(requests):
        assert body_size(_body(request)) < MAX_BODY_BYTES
        if index + 1 < len(requests):
            assert body_size(_body([*request, requests[index + 1][0]])) >= MAX_BODY_BYTES

"""Reading GHL's wire shapes: the spec's own example answers (reference/ghl/assembled/) and the
quirks real answers are reported to have."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from adapters.ghl import dto
from domain.errors import ProviderError
from tests.integration.ghl.support import SPECS_DIR

ASSEMBLED = SPECS_DIR.parent / "assembled"

pytestmark = pytest.mark.skipif(not ASSEMBLED.is_dir(), reason="GHL's fixtures are not here")


def example(name: str) -> Any:
    return json.loads((ASSEMBLED / f"{name}.example.json").read_text())


def test_the_location_example_reads_as_a_location() -> None:
    location = dto.location(example("location-get-response"))

    assert (location.id, location.name, location.timezone) == (
        "ve9EPM428h8vShlRW1KT",
        "dentist",
        "America/Chicago",
    )
    assert location.allow_duplicate_contact is False


def test_the_upsert_example_reads_leniently_past_its_placeholder_values() -> None:
    upserted = dto.upserted_contact(example("contact-upsert-response"))

    assert upserted.created is True
    contact = upserted.contact
    assert contact.email == "rubika@deos.com"
    assert contact.date_added == datetime(2021, 7, 2, 5, 18, 26, 704000, tzinfo=UTC)
    assert contact.custom_fields[0].value == "name"
    assert contact.dnd is True


def test_the_calendar_list_example_reads_as_calendars() -> None:
    [calendar] = dto.calendars(example("calendars-list-response"))

    assert calendar.name == "test calendar"
    assert calendar.slot_duration_minutes == 30


def test_free_slots_skip_keys_that_are_not_dates() -> None:
    body = example("free-slots-response") | {"traceId": "abc"}

    slots = dto.free_slots(body, "America/Chicago")

    assert list(slots.days) == [date(2024, 10, 28), date(2024, 10, 29)]
    first = slots.all_slots()[0]
    assert first.utcoffset() == timedelta(hours=-5)
    assert first.hour == 10


def test_appointment_examples_read_with_booleans_sent_as_strings() -> None:
    fetched = dto.appointment(example("appointment-get-response"))
    created = dto.appointment(example("appointment-create-response"))

    assert fetched.calendar_id == "BqTwX8QFwXzpegMve9EQ"
    assert fetched.start is not None
    assert fetched.start.utcoffset() == timedelta(hours=5, minutes=30)
    assert created.id == "0TkCdp9PfvLeWKYRRvIz"
    assert created.status == "confirmed"


def test_block_slot_message_and_opportunity_examples_read() -> None:
    block = dto.block_slot(example("block-slot-create-response"))
    sent = dto.message_sent(example("send-message-response"))
    opportunity = dto.wrapped_opportunity(example("opportunity-get-response"))

    assert block.calendar_id == "CVokAlI8fgw4WYWoCtQz"
    assert sent.message_id == "t22c6DQcTDf3MjRhwf77"
    assert opportunity.monetary_value == 500.0


def test_the_token_example_reads_as_tokens_expiring_after_expires_in() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)

    tokens = dto.oauth_tokens(example("oauth-token-response"), now)

    assert tokens.expires_at == now + timedelta(seconds=86399)
    assert tokens.refresh_token.reveal() == "xy34dc0ae1234a4858f9ff06d4f66ba"
    assert "xy34" not in repr(tokens)


def test_error_messages_of_each_shared_schema() -> None:
    assert dto.error_message(example("error-400"), 400) == "Bad Request"
    assert dto.error_message(example("error-422"), 422) == "Unprocessable Entity"
    assert dto.error_message(None, 502) == "GoHighLevel answered HTTP 502"


def test_a_success_without_the_expected_object_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match="'contact'"):
        dto.wrapped_contact({"succeded": True})


def test_rate_limit_headers_read_whatever_their_case() -> None:
    from multidict import CIMultiDict

    headers = CIMultiDict(
        {
            "x-ratelimit-max": "100",
            "X-RATELIMIT-REMAINING": "7",
            "X-RateLimit-Interval-Milliseconds": "10000",
            "X-RateLimit-Daily-Remaining": "199000",
            "X-RateLimit-Limit-Daily": "200000",
        }
    )

    observed = dto.rate_limit_observation(headers, throttled=False)

    assert (observed.max_requests, observed.remaining, observed.interval_seconds) == (100, 7, 10.0)
    assert (observed.daily_limit, observed.daily_remaining) == (200_000, 199_000)
    assert observed.retry_after_seconds is None


def test_an_opportunity_page_continues_after_the_pair_its_meta_names_until_a_short_page() -> None:
    deal = {"id": "o1", "contactId": "c1", "status": "won", "updatedAt": "2026-01-05T15:00:00Z"}
    full = {
        "opportunities": [deal, deal | {"id": "o2"}],
        "meta": {"startAfter": 17, "startAfterId": "o2"},
    }

    page = dto.opportunity_page(full, page_size=2)
    params = dto.opportunity_search_params(
        "loc", contact_id=None, page_size=2, cursor=page.next_cursor
    )
    short = dto.opportunity_page(full | {"opportunities": [deal]}, page_size=2)

    assert [o.id for o in page.opportunities] == ["o1", "o2"]
    assert (params["startAfter"], params["startAfterId"], params["limit"]) == ("17", "o2", "2")
    assert short.next_cursor is None
    assert (
        dto.opportunity_page({"opportunities": [deal, deal], "meta": {}}, page_size=2).next_cursor
        is None
    )

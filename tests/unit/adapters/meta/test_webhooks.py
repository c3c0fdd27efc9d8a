"""Meta's webhooks: a batched POST split per change, each change read (ids kept as exact
strings, organic leads without an ad), odd shapes never failing, and the GET handshake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from adapters.meta.webhooks import MetaWebhooks, page_account
from application.ports import SignatureScheme, WebhookTarget
from domain.integration import IntegrationStatus
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from tests.support.meta import example, wire_body

VERIFY = example("webhook-verify-get.json")
SENDER = MetaWebhooks(verify_token=SecretStr(VERIFY["query"]["hub.verify_token"]))
SIGNED_BODY = example("x-hub-signature-256-example.json")["raw_body"].encode()


def the_batch() -> dict[str, Any]:
    """The batch as the receive path parses it (orjson, on the raw bytes)."""
    parsed: dict[str, Any] = orjson.loads(SIGNED_BODY)
    assert parsed == wire_body("webhook-leadgen-post.json")
    return parsed


def test_a_batch_is_split_into_one_delivery_per_change_with_its_entry() -> None:
    changes = SENDER.split(the_batch())

    assert [(c["entry_id"], c["entry_time"], c["field"]) for c in changes] == [
        ("104561234567890", 1785312000, "leadgen"),
        ("104561234567890", 1785312000, "leadgen"),
        ("209876543210987", 1785312003, "leadgen"),
    ]
    assert all(c["object"] == "page" for c in changes)
    assert changes[0]["value"]["leadgen_id"] == 1234567890123456


def test_each_change_is_a_submitted_lead_of_its_page_with_its_lead_id_exactly() -> None:
    facts = [SENDER.read(c, route_event=None) for c in SENDER.split(the_batch())]

    assert [(f.kind, f.event_type) for f in facts] == [(EventKind.LEAD_SUBMITTED, "leadgen")] * 3
    assert [f.account for f in facts] == [
        page_account("104561234567890"),
        page_account("104561234567890"),
        page_account("209876543210987"),
    ]
    # Numeric ids (the first change) and string ids (the others) read the same way.
    assert [f.delivery_id for f in facts] == [
        "1234567890123456",
        "1234567890123457",
        "2345678901234567",
    ]
    assert [f.sent_at for f in facts] == [
        datetime.fromtimestamp(1785311990, UTC),
        datetime.fromtimestamp(1785311995, UTC),
        datetime.fromtimestamp(1785312001, UTC),
    ]


def test_an_organic_lead_without_an_ad_is_read_like_any_other() -> None:
    organic = SENDER.split(the_batch())[2]
    assert "ad_id" not in organic["value"]

    facts = SENDER.read(organic, route_event=None)

    assert facts.kind is EventKind.LEAD_SUBMITTED
    assert facts.delivery_id == "2345678901234567"


def test_an_eighteen_digit_id_sent_as_a_number_stays_exact() -> None:
    body = b'{"entry":[{"id":120210000000000001,"changes":[{"field":"leadgen","value":{"leadgen_id":120210000000000003,"page_id":120210000000000001}}]}]}'

    [change] = SENDER.split(orjson.loads(body))
    facts = SENDER.read(change, route_event=None)

    assert facts.delivery_id == "120210000000000003"
    assert facts.account == page_account("120210000000000001")
    assert change["entry_id"] == "120210000000000001"


def test_an_id_that_lost_digits_as_a_float_is_not_guessed() -> None:
    change = {"field": "leadgen", "value": {"leadgen_id": 1.2021e17, "page_id": "104561234567890"}}

    facts = SENDER.read(change, route_event=None)

    assert facts.kind is EventKind.UNHANDLED
    assert facts.delivery_id is None


def test_the_page_comes_from_the_entry_when_the_change_names_none() -> None:
    change = {"entry_id": "104561234567890", "field": "leadgen", "value": {"leadgen_id": "42"}}

    facts = SENDER.read(change, route_event=None)

    assert facts.account == page_account("104561234567890")
    assert facts.kind is EventKind.LEAD_SUBMITTED


def test_an_entry_of_another_object_names_no_page() -> None:
    change = {"object": "instagram", "entry_id": "17841400000000000", "field": "comments"}

    facts = SENDER.read(change, route_event=None)

    assert facts.account is None
    assert facts.kind is EventKind.UNHANDLED


@pytest.mark.parametrize(
    "change",
    [
        {"entry_id": "104561234567890", "field": "feed", "value": {"item": "post"}},
        {"entry_id": "104561234567890", "field": "leadgen", "value": {"page_id": "1"}},
        {"entry_id": "104561234567890", "field": "leadgen", "value": "not an object"},
        {"field": "leadgen", "value": {"leadgen_id": "42", "page_id": True}},
    ],
)
def test_anything_but_a_complete_leadgen_change_is_unhandled(change: dict[str, Any]) -> None:
    facts = SENDER.read(change, route_event=None)

    assert facts.kind is EventKind.UNHANDLED
    assert facts.delivery_id is None
    assert facts.account is None or facts.account.kind == "meta.page"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"object": "page"},
        {"entry": "not a list"},
        {"entry": [None, 3, "x", {"changes": "no"}, {"id": [], "changes": [None, 7]}]},
        {"entry": [{"id": "1", "messaging": [{"sender": {"id": "2"}}]}]},
    ],
)
def test_a_body_without_changes_is_one_delivery_as_it_came(payload: dict[str, Any]) -> None:
    assert SENDER.split(payload) == (payload,)
    assert SENDER.read(payload, route_event=None).kind is EventKind.UNHANDLED


def test_odd_entries_beside_good_ones_are_skipped() -> None:
    batch = the_batch()
    batch["entry"].insert(0, {"id": {"nested": 1}, "changes": [{"field": "leadgen"}, "x"]})

    changes = SENDER.split(batch)

    assert len(changes) == 4
    assert changes[0]["entry_id"] is None
    assert SENDER.read(changes[0], route_event=None).kind is EventKind.UNHANDLED


def test_meta_signs_every_delivery_with_the_app_secret() -> None:
    target = WebhookTarget(
        integration_id="i-1",
        sub_account_id="sa-1",
        template_name="facebook_ads",
        is_active=True,
        status=IntegrationStatus.ACTIVE,
        config={"pageId": "104561234567890"},
    )

    assert SENDER.accepted_schemes(target, routed=False) == {SignatureScheme.APP_HMAC_SHA256}
    assert SENDER.platform_schemes == {SignatureScheme.APP_HMAC_SHA256}
    assert SENDER.name == "meta"


def test_the_handshake_echoes_the_challenge_verbatim() -> None:
    assert SENDER.answer(VERIFY["query"]) == VERIFY["expected_response_ok"]["body"]


@pytest.mark.parametrize(
    "changes",
    [
        {"hub.verify_token": "my-verify-token-124"},
        {"hub.verify_token": ""},
        {"hub.verify_token": "my-verify-token-123 "},
        {"hub.mode": "unsubscribe"},
        {"hub.challenge": ""},
    ],
)
def test_the_handshake_is_refused_unless_mode_and_token_match(changes: dict[str, str]) -> None:
    assert SENDER.answer({**VERIFY["query"], **changes}) is None


@pytest.mark.parametrize("missing", ["hub.mode", "hub.verify_token", "hub.challenge"])
def test_a_handshake_missing_a_parameter_is_refused(missing: str) -> None:
    query = {k: v for k, v in VERIFY["query"].items() if k != missing}

    assert SENDER.answer(query) is None

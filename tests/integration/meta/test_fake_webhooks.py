"""The fake's webhook sender: leadgen notifications signed as Meta signs them (the worked
example's algorithm over the raw bytes), batches across pages, repeats, numeric and string ids,
organic leads, and the GET verification handshake."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from adapters.meta.fake import LeadChange, Submission, leadgen_body
from adapters.meta.fake.seed import (
    DEMO_AD_ID,
    DEMO_APP_SECRET,
    DEMO_FORM_ID,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_SECOND_PAGE_ID,
)
from entrypoints.cli import main as cli_main
from tests.integration.meta.conftest import Receiver, Running, StartFake
from tests.support.meta import example


def verifies(body: bytes, header: str | None, secret: str = DEMO_APP_SECRET) -> bool:
    """The check of examples/x-hub-signature-256-example.json, as a receiver runs it."""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


async def subscribe(meta: Running) -> None:
    resp = await meta.post(
        f"/v26.0/{DEMO_PAGE_ID}/subscribed_apps",
        params={"subscribed_fields": "leadgen", "access_token": DEMO_PAGE_TOKEN},
    )
    assert resp.status == 200


async def test_the_example_body_gets_the_examples_signature(
    meta: Running, receiver: Receiver
) -> None:
    reference = example("x-hub-signature-256-example.json")
    assert reference["app_secret"] == DEMO_APP_SECRET

    delivery = await meta.control("POST", "/webhooks/send", {"body": reference["raw_body"]})

    [(body, headers)] = receiver.posts
    assert body == reference["raw_body"].encode()
    assert headers["X-Hub-Signature-256"] == reference["expected_header"]["X-Hub-Signature-256"]
    assert delivery["signature"] == reference["expected_header"]["X-Hub-Signature-256"]
    assert delivery["status"] == 200


async def test_a_submitted_lead_is_stored_and_notified_signed_over_the_raw_body(
    meta: Running, receiver: Receiver
) -> None:
    await subscribe(meta)

    result = await meta.control("POST", "/leads", {"fields": {"email": "neo@example.com"}})

    [lead] = result["leads"]
    [(body, headers)] = receiver.posts
    assert verifies(body, headers["X-Hub-Signature-256"])
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert payload["object"] == "page"
    [entry] = payload["entry"]
    assert entry["id"] == DEMO_PAGE_ID
    [change] = entry["changes"]
    assert change["field"] == "leadgen"
    assert set(change["value"]) == set(
        example("webhook-leadgen-post.json")["entry"][0]["changes"][0]["value"]
    )
    assert str(change["value"]["leadgen_id"]) == lead["id"]
    assert str(change["value"]["ad_id"]) == DEMO_AD_ID
    assert lead["field_data"] == [{"name": "email", "values": ["neo@example.com"]}]
    fetched = await meta.get(f"/v26.0/{lead['id']}", access_token=DEMO_PAGE_TOKEN)
    assert (await fetched.json())["field_data"] == lead["field_data"]


async def test_a_page_that_has_not_subscribed_gets_no_notification_unless_forced(
    meta: Running, receiver: Receiver
) -> None:
    skipped = await meta.control("POST", "/leads", {"page_id": DEMO_PAGE_ID})
    forced = await meta.control("POST", "/leads", {"page_id": DEMO_PAGE_ID, "force": True})

    assert skipped["skipped"] == [skipped["leads"][0]["id"]]
    assert skipped["deliveries"] == []
    assert len(receiver.posts) == 1
    assert forced["deliveries"][0]["leadgen_ids"] == [forced["leads"][0]["id"]]


async def test_an_organic_lead_has_no_ad_ids(meta: Running, receiver: Receiver) -> None:
    result = await meta.control("POST", "/leads", {"page_id": DEMO_SECOND_PAGE_ID})

    [value] = [c["value"] for e in receiver.bodies()[0]["entry"] for c in e["changes"]]
    assert "ad_id" not in value
    assert "adgroup_id" not in value
    assert result["leads"][0]["is_organic"] is True


async def test_a_batch_of_1000_changes_across_pages_is_one_post_with_mixed_id_types(
    meta: Running, receiver: Receiver
) -> None:
    await subscribe(meta)

    result = await meta.control("POST", "/webhooks/leadgen", {"count": 1000})

    [(body, headers)] = receiver.posts
    assert verifies(body, headers["X-Hub-Signature-256"])
    payload = json.loads(body)
    assert [e["id"] for e in payload["entry"]] == [DEMO_PAGE_ID, DEMO_SECOND_PAGE_ID]
    values = [c["value"] for e in payload["entry"] for c in e["changes"]]
    assert len(values) == 1000
    assert {type(v["leadgen_id"]) for v in values} == {int, str}
    assert sorted(str(v["leadgen_id"]) for v in values) == sorted(
        lead["id"] for lead in result["leads"]
    )
    ad_ids = {v["ad_id"] for v in values if "ad_id" in v}
    assert ad_ids == {int(DEMO_AD_ID), DEMO_AD_ID}  # 18 digits, exact as a JSON number


async def test_a_batch_over_1000_changes_is_refused_and_creates_nothing(meta: Running) -> None:
    async with meta.http.post(meta.url + "/_fake/webhooks/leadgen", json={"count": 1001}) as resp:
        assert resp.status == 400
    assert len(meta.fake.state.leads) == 1


async def test_id_styles_give_all_numbers_or_all_strings(meta: Running) -> None:
    changes = [
        LeadChange(page_id=DEMO_PAGE_ID, form_id=DEMO_FORM_ID, leadgen_id=str(10**15 + i),
                   created_time=1796000000, ad_id=DEMO_AD_ID)
        for i in range(3)
    ]  # fmt: skip

    numbers = json.loads(leadgen_body(changes, id_style="number", entry_time=1796000001))
    strings = json.loads(leadgen_body(changes, id_style="string", entry_time=1796000001))

    number_values = [c["value"] for c in numbers["entry"][0]["changes"]]
    string_values = [c["value"] for c in strings["entry"][0]["changes"]]
    assert all(isinstance(v[k], int) for v in number_values for k in ("leadgen_id", "ad_id"))
    assert all(isinstance(v[k], str) for v in string_values for k in ("leadgen_id", "ad_id"))
    assert numbers["entry"][0]["time"] == 1796000001


async def test_a_repeated_body_is_sent_byte_for_byte_with_the_same_signature(
    meta: Running, receiver: Receiver
) -> None:
    result = await meta.control("POST", "/leads", {"page_id": DEMO_SECOND_PAGE_ID, "repeat": 2})
    again = await meta.control("POST", "/webhooks/resend", {})

    assert len(receiver.posts) == 3
    assert len({body for body, _ in receiver.posts}) == 1
    assert len({h["X-Hub-Signature-256"] for _, h in receiver.posts}) == 1
    assert len({h["X-Hub-Signature"] for _, h in receiver.posts}) == 1
    assert [d["resent_from"] for d in result["deliveries"]] == [None, 0]
    assert again["resent_from"] == 0


async def test_bad_and_missing_signatures_can_be_sent(meta: Running, receiver: Receiver) -> None:
    body = {"object": "page", "entry": []}
    await meta.control("POST", "/webhooks/send", {"body": body, "signature": "invalid"})
    await meta.control("POST", "/webhooks/send", {"body": body, "signature": "missing"})

    (bad, bad_headers), (_, missing_headers) = receiver.posts
    assert bad_headers["X-Hub-Signature-256"].startswith("sha256=")
    assert not verifies(bad, bad_headers["X-Hub-Signature-256"])
    assert "X-Hub-Signature-256" not in missing_headers


async def test_the_receivers_answer_is_reported(meta: Running, receiver: Receiver) -> None:
    receiver.answers.append(429)

    result = await meta.control("POST", "/leads", {"page_id": DEMO_SECOND_PAGE_ID})
    log = await meta.control("GET", "/webhooks")

    assert result["deliveries"][0]["status"] == 429
    assert [d["status"] for d in log["deliveries"]] == [429]


async def test_the_handshake_reports_the_echoed_challenge_and_a_refusal(meta: Running) -> None:
    ok = await meta.control("POST", "/webhooks/verify", {"challenge": "1158201444"})
    refused = await meta.control("POST", "/webhooks/verify", {"verify_token": "wrong"})

    reference = example("webhook-verify-get.json")
    assert ok["status"] == reference["expected_response_ok"]["status"]
    assert ok["response_body"] == reference["expected_response_ok"]["body"]
    assert ok["response_content_type"] == "text/plain"
    assert ok["echoed"] is True
    assert refused["status"] == reference["expected_response_bad_token"]["status"]
    assert refused["echoed"] is False


async def test_in_process_submissions_deliver_too(
    start_fake: StartFake, receiver: Receiver
) -> None:
    meta = await start_fake()

    result = await meta.fake.submit_leads(
        [Submission(page_id=DEMO_SECOND_PAGE_ID), Submission(page_id=DEMO_SECOND_PAGE_ID)],
        id_style="string",
    )

    values: list[dict[str, Any]] = [
        c["value"] for e in receiver.bodies()[0]["entry"] for c in e["changes"]
    ]
    assert [v["leadgen_id"] for v in values] == [lead["id"] for lead in result.leads]


async def test_without_a_webhook_url_a_send_is_a_conflict(start_fake: StartFake) -> None:
    meta = await start_fake(webhook_url=None)

    async with meta.http.post(meta.url + "/_fake/leads", json={}) as resp:
        assert resp.status == 409


def test_integrations_fake_meta_is_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli_main(["fake-meta", "--help"])

    assert exit_.value.code == 0
    assert "integrations fake-meta" in capsys.readouterr().out

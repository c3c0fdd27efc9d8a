"""The fake GA4 answers as the notes' examples show: the validation server's messages, the Admin
API's lists and errors, and 204 from `/mp/collect` whatever it is sent."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from adapters.ga4.fake.rules import validation_messages
from adapters.ga4.fake.seed import DEMO_API_SECRET, DEMO_MEASUREMENT_ID, DEMO_PROPERTY_ID
from tests.integration.ga4.support import GA4_EXAMPLES, running_ga4


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GA4_EXAMPLES / name).read_text())
    return loaded


def test_the_validation_server_answers_the_notes_example_as_documented() -> None:
    example = _example("mp-debug-response.json")
    body = example["_request_body"]

    assert validation_messages(body, len(json.dumps(body))) == example["validationMessages"]


def test_the_validation_server_has_no_message_for_the_notes_valid_request() -> None:
    body = {k: v for k, v in _example("mp-collect-request.json").items() if not k.startswith("_")}

    assert validation_messages(body, len(json.dumps(body))) == []


async def test_collect_answers_204_to_anything_and_records_only_what_ga4_would_keep() -> None:
    async with running_ga4() as running, aiohttp.ClientSession() as session:
        statuses = []
        for secret, body in (
            (DEMO_API_SECRET, b'{"client_id": "1.2", "events": [{"name": "generate_lead"}]}'),
            ("wrong", b'{"client_id": "1.2", "events": [{"name": "generate_lead"}]}'),
            (DEMO_API_SECRET, b"not json"),
        ):
            async with session.post(
                f"{running.url}/mp/collect",
                params={"measurement_id": DEMO_MEASUREMENT_ID, "api_secret": secret},
                data=body,
            ) as resp:
                statuses.append((resp.status, await resp.read()))

        recorded = running.fake.recorded_events()

    assert statuses == [(204, b"")] * 3
    assert recorded == [{"name": "generate_lead", "client_id": "1.2"}]


async def test_the_admin_api_refuses_a_missing_token_with_googles_401() -> None:
    async with (
        running_ga4() as running,
        aiohttp.ClientSession() as session,
        session.get(f"{running.url}/v1beta/properties/{DEMO_PROPERTY_ID}/dataStreams") as resp,
    ):
        status, body = resp.status, await resp.json()

    assert status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"

"""The fake's Conversions API: the notes' rules refuse a whole batch for one bad event (stale,
over 1000, CRM fields missing); accepted events are kept for assertions."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest

from adapters.meta.fake.seed import DEMO_DATASET_ID, DEMO_PAGE_TOKEN, DEMO_SYSTEM_USER_TOKEN
from tests.integration.meta.conftest import Running, StartFake
from tests.support.meta import example

EVENTS = f"/v26.0/{DEMO_DATASET_ID}/events"
NOW = 1796000000.0


@pytest.fixture
async def capi(start_fake: StartFake) -> Running:
    return await start_fake(clock=lambda: NOW)


def request_body(**overrides: Any) -> dict[str, Any]:
    """The example's request, its events moved to an hour ago (the example's times are old)."""
    body = {k: v for k, v in example("capi-request.json").items() if not k.startswith("_")}
    body = copy.deepcopy(body)
    for event in body["data"]:
        event["event_time"] = int(NOW) - 3600
    body.update(overrides)
    return body


async def post(capi: Running, body: dict[str, Any], token: str = DEMO_PAGE_TOKEN) -> Any:
    resp = await capi.post(EVENTS, params={"access_token": token}, json=body)
    return resp.status, await resp.json()


async def test_the_examples_batch_is_accepted_and_kept(capi: Running) -> None:
    body = request_body()

    status, answer = await post(capi, body)

    assert status == 200
    assert set(answer) == set(wire_keys("capi-success-response.json"))
    assert answer["events_received"] == 2
    assert answer["messages"] == []
    kept = await capi.control("GET", f"/capi/events?dataset_id={DEMO_DATASET_ID}")
    assert [e["event"] for e in kept["events"]] == body["data"]
    assert {e["test_event_code"] for e in kept["events"]} == {"TEST12345"}
    assert {e["version"] for e in kept["events"]} == {"v26.0"}
    assert {e["fbtrace_id"] for e in kept["events"]} == {answer["fbtrace_id"]}


def wire_keys(name: str) -> list[str]:
    return [k for k in example(name) if not k.startswith("_")]


async def test_form_encoded_data_is_accepted_as_the_docs_send_it(capi: Running) -> None:
    body = request_body()
    resp = await capi.post(
        EVENTS,
        data={"data": json.dumps(body["data"]), "access_token": DEMO_SYSTEM_USER_TOKEN},
    )

    assert resp.status == 200
    assert (await resp.json())["events_received"] == 2


async def test_one_stale_event_refuses_the_whole_batch_as_the_example_says(capi: Running) -> None:
    body = request_body()
    body["data"][1]["event_time"] = int(NOW) - 8 * 24 * 3600

    status, answer = await post(capi, body)

    assert status == 400
    reference = example("capi-error-invalid-event.json")["error"]
    assert set(answer["error"]) == set(reference)
    assert answer["error"]["code"] == 100
    assert answer["error"]["error_user_title"] == reference["error_user_title"]
    assert capi.fake.capi_events == []


async def test_more_than_1000_events_are_refused(capi: Running) -> None:
    one = request_body()["data"][0]

    status, answer = await post(capi, {"data": [one] * 1001})
    status_1000, _ = await post(capi, {"data": [one] * 1000})

    assert (status, answer["error"]["code"]) == (400, 100)
    assert status_1000 == 200
    assert len(capi.fake.capi_events) == 1000


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("user_data", "lead_id"), None),
        (("user_data", "lead_id"), "not-a-lead-id"),
        (("custom_data", "event_source"), None),
        (("custom_data", "lead_event_source"), None),
        (("action_source",), "website"),
        (("event_name",), None),
        (("event_time",), None),
        (("event_time",), int(NOW) * 1000),
    ],
)
async def test_a_crm_event_without_its_required_fields_refuses_the_batch(
    capi: Running, path: tuple[str, ...], value: object
) -> None:
    body = request_body()
    target = body["data"][0]
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value

    status, answer = await post(capi, body)

    assert status == 400
    assert answer["error"]["code"] == 100
    assert capi.fake.capi_events == []


async def test_an_unknown_dataset_or_an_empty_batch_is_code_100(capi: Running) -> None:
    resp = await capi.post(
        "/v26.0/1111111111/events",
        params={"access_token": DEMO_PAGE_TOKEN},
        json=request_body(),
    )
    empty_status, empty = await post(capi, {"data": []})

    assert resp.status == 400
    assert (await resp.json())["error"]["error_subcode"] == 33
    assert (empty_status, empty["error"]["code"]) == (400, 100)


async def test_the_real_clock_is_used_without_a_clock(start_fake: StartFake) -> None:
    meta = await start_fake()
    body = request_body()
    for event in body["data"]:
        event["event_time"] = int(time.time()) - 60

    status, _ = await post(meta, body)

    assert status == 200

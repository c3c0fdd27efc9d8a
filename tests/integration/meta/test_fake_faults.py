"""The fake's faults: Meta's throttling (400 or 403 with a throttle code and the wait in
X-Business-Use-Case-Usage, never 429, no Retry-After), rising usage headers, token death and
scripted transient errors."""

from __future__ import annotations

import json

import pytest

from adapters.meta.fake import FaultPlan, Throttle
from adapters.meta.fake.seed import (
    DEMO_APP_TOKEN,
    DEMO_LEAD_ID,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_SYSTEM_USER_TOKEN,
)
from tests.integration.meta.conftest import Running, StartFake
from tests.support.meta import example

LEAD = f"/v26.0/{DEMO_LEAD_ID}"


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80005])
async def test_a_throttle_answers_400_with_its_code_after_n_calls_and_never_429(
    meta: Running, code: int
) -> None:
    await meta.control("PUT", "/faults", {"throttle": {"code": code, "after": 2, "minutes": 42}})

    statuses = []
    for _ in range(4):
        resp = await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)
        statuses.append(resp.status)

    assert statuses == [200, 200, 400, 400]
    body = await resp.json()
    assert body["error"]["code"] == code
    assert "Retry-After" not in resp.headers
    usage = json.loads(resp.headers["X-Business-Use-Case-Usage"])
    assert usage[DEMO_PAGE_ID][0]["estimated_time_to_regain_access"] == 42


async def test_the_leadgen_throttle_looks_like_the_example(meta: Running) -> None:
    await meta.control("PUT", "/faults", {"throttle": {"code": 80005}})

    resp = await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)

    reference = example("error-80005-leadgen-buc-throttle.json")
    assert resp.status == reference["_status"]
    assert set((await resp.json())["error"]) == set(reference["error"])
    usage = json.loads(resp.headers["X-Business-Use-Case-Usage"])
    assert usage[DEMO_PAGE_ID][0]["type"] == "leadgen"
    assert "X-App-Usage" in resp.headers


async def test_a_throttle_may_answer_403_be_limited_to_routes_and_lift_after_count(
    start_fake: StartFake,
) -> None:
    meta = await start_fake(
        faults=FaultPlan(throttle=Throttle(code=80005, status=403, count=1, routes=["object"]))
    )

    me = await meta.get("/v26.0/me", access_token=DEMO_PAGE_TOKEN)
    throttled = await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)
    lifted = await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)

    assert [me.status, throttled.status, lifted.status] == [200, 403, 200]


async def test_a_429_throttle_cannot_be_set(meta: Running) -> None:
    async with meta.http.put(
        meta.url + "/_fake/faults", json={"throttle": {"code": 80005, "status": 429}}
    ) as resp:
        assert resp.status == 400


async def test_x_app_usage_rises_with_each_call(start_fake: StartFake) -> None:
    meta = await start_fake(usage_step_percent=10)

    counts = []
    for _ in range(3):
        resp = await meta.get("/v26.0/me", access_token=DEMO_PAGE_TOKEN)
        counts.append(json.loads(resp.headers["X-App-Usage"])["call_count"])

    assert counts == [10, 20, 30]
    assert set(json.loads(resp.headers["X-App-Usage"])) == set(
        json.loads(example("usage-headers.json")["X-App-Usage"])
    )


async def test_by_default_x_app_usage_rises_a_percent_every_ten_calls(meta: Running) -> None:
    counts = []
    for _ in range(20):
        resp = await meta.get("/v26.0/me", access_token=DEMO_PAGE_TOKEN)
        counts.append(json.loads(resp.headers["X-App-Usage"])["call_count"])

    assert counts == [0] * 9 + [1] * 10 + [2]


@pytest.mark.parametrize("subcode", [460, 463, 467, None])
async def test_a_killed_token_answers_190_with_its_subcode_from_then_on(
    meta: Running, subcode: int | None
) -> None:
    alive = await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)
    await meta.control("POST", "/tokens/kill", {"token": DEMO_PAGE_TOKEN, "subcode": subcode})
    first = await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)
    second = await meta.get("/v26.0/me", access_token=DEMO_PAGE_TOKEN)
    other = await meta.get(LEAD, access_token=DEMO_SYSTEM_USER_TOKEN)

    assert alive.status == 200
    for resp in (first, second):
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert error["code"] == 190
        assert error.get("error_subcode") == subcode
    assert other.status == 200


async def test_a_token_can_die_after_a_number_of_calls_and_debug_token_then_says_so(
    meta: Running,
) -> None:
    await meta.control(
        "POST", "/tokens/kill", {"token": DEMO_PAGE_TOKEN, "subcode": 460, "after": 2}
    )
    statuses = [(await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)).status for _ in range(3)]
    debug = await meta.get(
        "/v26.0/debug_token", input_token=DEMO_PAGE_TOKEN, access_token=DEMO_APP_TOKEN
    )

    assert statuses == [200, 200, 400]
    data = (await debug.json())["data"]
    assert data["is_valid"] is False
    assert data["error"]["subcode"] == 460


async def test_a_scripted_transient_error_answers_once(meta: Running) -> None:
    await meta.control(
        "PUT", "/faults", {"errors": [{"code": 1, "status": 500, "subcode": 99, "after": 1}]}
    )

    statuses = [(await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)).status for _ in range(3)]

    assert statuses == [200, 500, 200]
    failed = meta.fake.log[1]
    assert (failed.error_code, failed.error_subcode) == (1, 99)


async def test_reset_restores_the_seed_and_clears_faults_events_and_logs(meta: Running) -> None:
    await meta.control("PUT", "/faults", {"throttle": {"code": 4}})
    await meta.control("POST", "/tokens/kill", {"token": DEMO_PAGE_TOKEN})
    await meta.control("POST", "/leads", {"deliver": False})

    await meta.control("POST", "/reset")
    resp = await meta.get(LEAD, access_token=DEMO_PAGE_TOKEN)

    assert resp.status == 200
    assert list(meta.fake.state.leads) == [DEMO_LEAD_ID]
    assert len(meta.fake.log) == 1

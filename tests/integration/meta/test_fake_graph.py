"""The fake's Graph routes answer in the shapes of Meta's examples: debug_token, /me,
subscribed_apps, a lead by id, a form's leads paged; any version prefix, recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_APP_TOKEN,
    DEMO_EXPIRED_TOKEN,
    DEMO_FORM_ID,
    DEMO_LEAD_ID,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_SCOPES,
    DEMO_SECOND_PAGE_ID,
    DEMO_SECOND_PAGE_TOKEN,
    DEMO_SYSTEM_USER_TOKEN,
)
from adapters.meta.fake.state import graph_time
from tests.integration.meta.conftest import Running, StartFake
from tests.support.meta import example

LEAD_FIELDS = "id,created_time,ad_id,adset_id,campaign_id,form_id,is_organic,platform,field_data"


def wire(data: dict[str, object]) -> dict[str, object]:
    """An example without its annotations (keys starting with ``_``)."""
    return {k: v for k, v in data.items() if not k.startswith("_")}


async def test_debug_token_of_the_demo_page_token_has_the_examples_keys_and_the_page_scopes(
    meta: Running,
) -> None:
    resp = await meta.get(
        "/v26.0/debug_token", input_token=DEMO_PAGE_TOKEN, access_token=DEMO_APP_TOKEN
    )

    assert resp.status == 200
    data = (await resp.json())["data"]
    assert set(example("debug-token-response.json")["data"]) == set(data)
    assert data["is_valid"] is True
    assert data["app_id"] == DEMO_APP_ID
    assert data["type"] == "PAGE"
    assert data["profile_id"] == DEMO_PAGE_ID
    assert data["expires_at"] == 0
    assert set(DEMO_SCOPES) <= set(data["scopes"])
    granular = {g["scope"]: g.get("target_ids") for g in data["granular_scopes"]}
    assert granular["leads_retrieval"] == [DEMO_PAGE_ID]
    assert granular["pages_manage_metadata"] == [DEMO_PAGE_ID]
    assert granular["ads_management"] is None


async def test_debug_token_answers_200_with_is_valid_false_for_an_unknown_or_expired_token(
    meta: Running,
) -> None:
    unknown = await meta.get(
        "/v26.0/debug_token", input_token="EAAnot-a-token", access_token=DEMO_APP_TOKEN
    )
    expired = await meta.get(
        "/v26.0/debug_token", input_token=DEMO_EXPIRED_TOKEN, access_token=DEMO_APP_TOKEN
    )

    assert unknown.status == 200
    unknown_data = (await unknown.json())["data"]
    assert unknown_data["is_valid"] is False
    assert unknown_data["error"]["code"] == 190
    assert expired.status == 200
    expired_data = (await expired.json())["data"]
    assert set(expired_data) == set(example("debug-token-invalid-response.json")["data"])
    assert expired_data["is_valid"] is False
    assert expired_data["error"]["code"] == 190
    assert expired_data["error"]["subcode"] == 463


async def test_debug_token_refuses_a_wrong_app_token(meta: Running) -> None:
    resp = await meta.get(
        "/v26.0/debug_token", input_token=DEMO_PAGE_TOKEN, access_token=f"{DEMO_APP_ID}|wrong"
    )

    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == 190


async def test_me_answers_the_page_of_a_page_token_and_the_user_of_a_system_user_token(
    meta: Running,
) -> None:
    page = await meta.get("/v26.0/me", access_token=DEMO_PAGE_TOKEN, fields="id,name")
    user = await meta.get("/v26.0/me", access_token=DEMO_SYSTEM_USER_TOKEN)

    assert (await page.json()) == {"id": DEMO_PAGE_ID, "name": "Acme Solar"}
    assert (await user.json())["id"] == "10158765432100001"


async def test_subscribing_the_page_to_leadgen_lists_the_app_as_the_example_does(
    meta: Running,
) -> None:
    path = f"/v26.0/{DEMO_PAGE_ID}/subscribed_apps"
    before = await meta.get(path, access_token=DEMO_PAGE_TOKEN)
    subscribed = await meta.post(
        path, params={"subscribed_fields": "leadgen", "access_token": DEMO_PAGE_TOKEN}
    )
    after = await meta.get(path, access_token=DEMO_PAGE_TOKEN)

    reference = example("subscribed-apps.json")
    assert (await before.json()) == {"data": []}
    assert (await subscribed.json()) == reference["subscribe_response"]
    assert (await after.json()) == reference["list_response"]


async def test_a_subscription_replaces_the_apps_fields_and_a_delete_removes_them(
    meta: Running,
) -> None:
    path = f"/v26.0/{DEMO_PAGE_ID}/subscribed_apps"
    for fields in ("leadgen,feed", "leadgen"):
        await meta.post(path, params={"subscribed_fields": fields, "access_token": DEMO_PAGE_TOKEN})
    listed = await meta.get(path, access_token=DEMO_PAGE_TOKEN)
    async with meta.http.delete(meta.url + path, params={"access_token": DEMO_PAGE_TOKEN}) as resp:
        deleted = await resp.json()
    after = await meta.get(path, access_token=DEMO_PAGE_TOKEN)

    assert (await listed.json())["data"][0]["subscribed_fields"] == ["leadgen"]
    assert deleted == {"success": True}
    assert (await after.json()) == {"data": []}


async def test_a_pages_forms_are_listed(meta: Running) -> None:
    resp = await meta.get(f"/v26.0/{DEMO_PAGE_ID}/leadgen_forms", access_token=DEMO_PAGE_TOKEN)
    foreign = await meta.get(
        f"/v26.0/{DEMO_PAGE_ID}/leadgen_forms", access_token=DEMO_SECOND_PAGE_TOKEN
    )

    assert (await resp.json()) == {"data": [{"id": DEMO_FORM_ID, "name": "Solar quote"}]}
    assert foreign.status == 400


async def test_subscribing_needs_pages_manage_metadata_and_the_pages_own_token(
    meta: Running,
) -> None:
    minted = await meta.control(
        "POST", "/tokens", {"page_ids": [DEMO_PAGE_ID], "scopes": ["leads_retrieval"]}
    )
    path = f"/v26.0/{DEMO_PAGE_ID}/subscribed_apps"
    unscoped = await meta.post(
        path, params={"subscribed_fields": "leadgen", "access_token": minted["token"]}
    )
    foreign = await meta.post(
        path, params={"subscribed_fields": "leadgen", "access_token": DEMO_SECOND_PAGE_TOKEN}
    )

    assert unscoped.status == 400
    assert (await unscoped.json())["error"]["code"] == 200
    assert foreign.status == 400
    assert (await foreign.json())["error"]["code"] == 100
    assert meta.fake.state.pages[DEMO_PAGE_ID]["subscribed_fields"] == []


async def test_a_lead_is_served_as_the_retrieval_example_with_the_fields_asked_for(
    meta: Running,
) -> None:
    resp = await meta.get(
        f"/v26.0/{DEMO_LEAD_ID}", access_token=DEMO_PAGE_TOKEN, fields=LEAD_FIELDS
    )

    assert resp.status == 200
    body = await resp.json()
    assert body == wire(example("lead-retrieval-response.json"))
    assert list(body) == list(wire(example("lead-retrieval-response.json")))


async def test_field_data_with_subfields_and_a_bearer_token_are_understood(meta: Running) -> None:
    async with meta.http.get(
        f"{meta.url}/v26.0/{DEMO_LEAD_ID}",
        params={"fields": "id,field_data{name,values}"},
        headers={"Authorization": f"Bearer {DEMO_SYSTEM_USER_TOKEN}"},
    ) as resp:
        body = await resp.json()

    assert set(body) == {"id", "field_data"}


async def test_an_unknown_lead_or_field_is_code_100(meta: Running) -> None:
    missing = await meta.get("/v26.0/1999999999999999", access_token=DEMO_PAGE_TOKEN)
    bad_field = await meta.get(
        f"/v26.0/{DEMO_LEAD_ID}", access_token=DEMO_PAGE_TOKEN, fields="id,no_such_field"
    )

    assert missing.status == 400
    error = (await missing.json())["error"]
    assert set(error) == set(example("error-100-lead-not-found.json")["error"])
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100,
        33,
        "GraphMethodException",
    )
    assert "1999999999999999" in error["message"]
    assert error["fbtrace_id"] == missing.headers["x-fb-trace-id"]
    assert (await bad_field.json())["error"]["code"] == 100


async def test_a_lead_of_another_page_or_without_leads_retrieval_is_not_found(
    meta: Running,
) -> None:
    minted = await meta.control(
        "POST", "/tokens", {"page_ids": [DEMO_PAGE_ID], "scopes": ["pages_show_list"]}
    )
    foreign = await meta.get(f"/v26.0/{DEMO_LEAD_ID}", access_token=DEMO_SECOND_PAGE_TOKEN)
    unscoped = await meta.get(f"/v26.0/{DEMO_LEAD_ID}", access_token=minted["token"])

    for resp in (foreign, unscoped):
        assert resp.status == 400
        assert (await resp.json())["error"]["error_subcode"] == 33


async def test_an_expired_token_is_190_463_with_www_authenticate(meta: Running) -> None:
    resp = await meta.get(f"/v26.0/{DEMO_LEAD_ID}", access_token=DEMO_EXPIRED_TOKEN)

    assert resp.status == 400
    error = (await resp.json())["error"]
    assert set(error) == set(example("error-190-463-expired-token.json")["error"])
    assert (error["code"], error["error_subcode"]) == (190, 463)
    assert resp.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform" "invalid_token"')


async def test_no_token_or_an_unknown_token_is_190_without_subcode(meta: Running) -> None:
    none = await meta.get(f"/v26.0/{DEMO_LEAD_ID}")
    unknown = await meta.get(f"/v26.0/{DEMO_LEAD_ID}", access_token="EAAunknown")

    for resp in (none, unknown):
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert set(error) == set(example("error-190-no-subcode-invalid-token.json")["error"])
        assert error["code"] == 190


async def test_every_version_prefix_is_served_and_recorded(meta: Running) -> None:
    for version in ("v26.0", "v25.0", "v26.0", "v3.2"):
        resp = await meta.get(f"/{version}/me", access_token=DEMO_PAGE_TOKEN)
        assert resp.status == 200
    unversioned = await meta.get("/me", access_token=DEMO_PAGE_TOKEN)

    assert unversioned.status == 400
    assert meta.fake.versions_used() == ["v26.0", "v25.0", "v3.2"]
    log = await meta.control("GET", "/log")
    assert log["versions"] == ["v26.0", "v25.0", "v3.2"]
    assert DEMO_PAGE_TOKEN not in str(log)


async def test_a_forms_leads_page_newest_first_through_the_next_links(
    start_fake: StartFake,
) -> None:
    meta = await start_fake()
    created = await meta.control(
        "POST",
        "/webhooks/leadgen",
        {
            "leads": [{"form_id": DEMO_FORM_ID, "created_time": 1796000000 + i} for i in range(5)],
            "deliver": False,
        },
    )
    expected = [*reversed([lead["id"] for lead in created["leads"]]), DEMO_LEAD_ID]

    seen: list[str] = []
    url: str | None = f"{meta.url}/v26.0/{DEMO_FORM_ID}/leads"
    params: dict[str, str] | None = {"access_token": DEMO_PAGE_TOKEN, "limit": "2"}
    while url is not None:
        async with meta.http.get(url, params=params) as resp:
            body = await resp.json()
        assert resp.status == 200
        seen += [lead["id"] for lead in body["data"]]
        url, params = body.get("paging", {}).get("next"), None

    assert seen == expected


async def test_a_forms_leads_filter_on_time_created(meta: Running) -> None:
    await meta.control(
        "POST",
        "/webhooks/leadgen",
        {"leads": [{"form_id": DEMO_FORM_ID, "created_time": 1796000100}], "deliver": False},
    )
    resp = await meta.get(
        f"/v26.0/{DEMO_FORM_ID}/leads",
        access_token=DEMO_PAGE_TOKEN,
        filtering='[{"field":"time_created","operator":"GREATER_THAN","value":1796000000}]',
    )

    body = await resp.json()
    assert graph_time(1796000100) == "2026-11-30T00:55:00+0000"
    assert [lead["created_time"] for lead in body["data"]] == [graph_time(1796000100)]


async def test_appsecret_proof_is_checked_when_sent_and_required_when_told(
    start_fake: StartFake,
) -> None:
    meta = await start_fake(require_appsecret_proof=True)
    proof = hmac.new(DEMO_APP_SECRET.encode(), DEMO_PAGE_TOKEN.encode(), hashlib.sha256)

    without = await meta.get("/v26.0/me", access_token=DEMO_PAGE_TOKEN)
    wrong = await meta.get("/v26.0/me", access_token=DEMO_PAGE_TOKEN, appsecret_proof="00" * 32)
    right = await meta.get(
        "/v26.0/me", access_token=DEMO_PAGE_TOKEN, appsecret_proof=proof.hexdigest()
    )

    assert (without.status, (await without.json())["error"]["code"]) == (400, 100)
    assert (wrong.status, (await wrong.json())["error"]["code"]) == (400, 100)
    assert right.status == 200
    assert [r.appsecret_proof for r in meta.fake.log] == [None, "invalid", "valid"]


async def test_a_second_page_is_reachable_by_its_own_token(meta: Running) -> None:
    resp = await meta.get(f"/v26.0/{DEMO_SECOND_PAGE_ID}", access_token=DEMO_SECOND_PAGE_TOKEN)

    assert (await resp.json()) == {"id": DEMO_SECOND_PAGE_ID, "name": "Acme Roofing"}


async def test_a_seed_file_gives_its_own_app_pages_and_tokens(
    start_fake: StartFake, tmp_path: Path
) -> None:
    seed = {
        "app": {"id": 42, "secret": "s3cret", "name": "Other app"},
        "pages": [{"id": 777, "name": "Seeded page", "subscribed_fields": ["leadgen"]}],
        "tokens": [{"token": "EAAseeded", "type": "PAGE", "page_ids": [777], "scopes": []}],
        "forms": [{"id": 888, "page_id": 777, "name": "Seeded form"}],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    meta = await start_fake(seed=path)

    me = await meta.get("/v26.0/me", access_token="EAAseeded")
    debug = await meta.get("/v26.0/debug_token", input_token="EAAseeded", access_token="42|s3cret")

    assert (await me.json()) == {"id": "777", "name": "Seeded page"}
    assert (await debug.json())["data"]["app_id"] == "42"

"""The fake's Facebook Login on its own: what the dialog and the token endpoint refuse, and the
login plan's control routes."""

from __future__ import annotations

from yarl import URL

from adapters.meta.fake.seed import DEMO_APP_ID, DEMO_APP_SECRET, DEMO_PAGE_TOKEN, DEMO_USER_ID
from tests.integration.meta.conftest import Running

CALLBACK = "http://127.0.0.1:9/cb?keep=1"


async def dialog(meta: Running, path: str = "/v26.0/dialog/oauth", **params: str) -> URL | str:
    query = {"client_id": DEMO_APP_ID, "redirect_uri": CALLBACK, "state": "s1", **params}
    async with meta.http.get(meta.url + path, params=query, allow_redirects=False) as resp:
        if resp.status == 302:
            return URL(resp.headers["Location"])
        assert resp.status == 400
        return await resp.text()


async def test_the_dialog_redirects_with_a_code_keeping_the_redirects_own_query(
    meta: Running,
) -> None:
    back = await dialog(meta, path="/dialog/oauth", scope="pages_show_list")

    assert isinstance(back, URL)
    assert back.query["keep"] == "1"
    assert back.query["state"] == "s1"
    assert back.query["code"] in meta.fake.login.codes


async def test_the_dialog_refuses_another_apps_id_and_a_relative_redirect(meta: Running) -> None:
    assert "Invalid App ID" in str(await dialog(meta, client_id="999"))
    assert "redirect_uri" in str(await dialog(meta, redirect_uri="/cb"))
    assert "code_challenge_method" in str(
        await dialog(meta, code_challenge="abc", code_challenge_method="S512")
    )
    assert meta.fake.login.codes == {}


async def test_the_token_endpoint_checks_the_app_secret_and_the_token_it_extends(
    meta: Running,
) -> None:
    wrong_secret = await meta.get(
        "/v26.0/oauth/access_token",
        client_id=DEMO_APP_ID,
        client_secret="nope",
        grant_type="fb_exchange_token",
        fb_exchange_token=DEMO_PAGE_TOKEN,
    )
    page_token = await meta.get(
        "/v26.0/oauth/access_token",
        client_id=DEMO_APP_ID,
        client_secret=DEMO_APP_SECRET,
        grant_type="fb_exchange_token",
        fb_exchange_token=DEMO_PAGE_TOKEN,
    )

    assert wrong_secret.status == 400
    assert (await wrong_secret.json())["error"]["code"] == 1
    assert (await page_token.json())["error"]["code"] == 190


async def test_the_login_plan_is_replaced_checked_and_reset(meta: Running) -> None:
    plan = await meta.control("PUT", "/login", {"user_id": DEMO_USER_ID, "declined": ["x"]})
    async with meta.http.put(meta.url + "/_fake/login", json={"user_id": "1"}) as unknown:
        unknown_status = unknown.status
    async with meta.http.put(meta.url + "/_fake/login", json={"deny": True, "bogus": 1}) as bad:
        bad_status = bad.status
    await meta.control("POST", "/reset")

    assert plan["plan"]["declined"] == ["x"]
    assert (unknown_status, bad_status) == (400, 400)
    assert (await meta.control("GET", "/login"))["plan"]["declined"] == []

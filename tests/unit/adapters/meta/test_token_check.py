"""The connection test's verdict on debug_token's answer (the reference's examples): valid, this
app's, unexpired, this Page's, with every scope, the Page scopes granted for this Page."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.meta.graph import TokenInfo
from adapters.meta.provider import check_token
from tests.support.meta import APP_ID, PAGE_ID, wire_body

NOW = datetime(2026, 7, 30, 12, 0, tzinfo=UTC)


def debug_token(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(wire_body("debug-token-response.json"))
    body["data"].update(changes)
    return body


def verdict(body: dict[str, Any], page_id: str = PAGE_ID) -> str | None:
    return check_token(TokenInfo.of(body), app_id=APP_ID, page_id=page_id, now=NOW).problem


def test_the_reference_page_token_passes() -> None:
    info = TokenInfo.of(debug_token())

    assert check_token(info, app_id=APP_ID, page_id=PAGE_ID, now=NOW).problem is None
    assert info.expires_at == 0
    assert info.type == "PAGE"


def test_an_invalid_token_says_why_meta_refused_it() -> None:
    problem = verdict(wire_body("debug-token-invalid-response.json"))

    assert problem is not None
    assert "190/463" in problem
    assert "expired" in problem


def test_a_token_of_another_app_is_refused_naming_both_apps() -> None:
    problem = verdict(debug_token(app_id="9999999999"))

    assert problem is not None
    assert "9999999999" in problem
    assert APP_ID in problem


def test_an_expired_token_is_refused() -> None:
    assert "expired" in (verdict(debug_token(expires_at=int(NOW.timestamp()) - 1)) or "")
    assert verdict(debug_token(expires_at=int(NOW.timestamp()) + 3600)) is None


def test_a_page_token_of_another_page_is_refused() -> None:
    assert "209876543210987" in (verdict(debug_token(profile_id="209876543210987")) or "")


def test_an_app_token_is_refused() -> None:
    assert "app token" in (verdict(debug_token(type="APP")) or "")


@pytest.mark.parametrize(
    "missing", ["leads_retrieval", "pages_manage_metadata", "pages_show_list", "ads_management"]
)
def test_a_missing_scope_is_named(missing: str) -> None:
    body = debug_token()
    body["data"]["scopes"].remove(missing)

    result = check_token(TokenInfo.of(body), app_id=APP_ID, page_id=PAGE_ID, now=NOW)

    assert result.missing_scopes == (missing,)
    assert result.problem is not None
    assert missing in result.problem


def test_page_scopes_granted_for_other_pages_only_are_missing_for_this_one() -> None:
    body = debug_token(type="SYSTEM_USER", profile_id=None)

    result = check_token(TokenInfo.of(body), app_id=APP_ID, page_id="209876543210987", now=NOW)

    assert result.missing_scopes == (
        "leads_retrieval",
        "pages_manage_metadata",
        "pages_show_list",
    )


def test_a_scope_granted_without_targets_covers_every_page() -> None:
    body = debug_token(type="SYSTEM_USER", profile_id=None)
    body["data"]["granular_scopes"] = [{"scope": "leads_retrieval"}]

    assert verdict(body, page_id="209876543210987") is None


def test_ids_sent_as_numbers_compare_as_exact_strings() -> None:
    body = debug_token(app_id=int(APP_ID), profile_id=int(PAGE_ID))
    for grant in body["data"]["granular_scopes"]:
        grant["target_ids"] = [int(t) for t in grant.get("target_ids", [])] or None
        if grant["target_ids"] is None:
            del grant["target_ids"]

    assert verdict(body) is None

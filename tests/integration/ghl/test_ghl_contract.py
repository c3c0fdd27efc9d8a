"""The fake's contract check: requests GHL's OpenAPI specs forbid are caught and logged (and so
fail any test through the start_fake fixture); the fake's own answers follow the specs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from adapters.ghl.fake.contract import ContractChecker
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from tests.integration.ghl.support import SPECS_DIR, RunningFake

pytestmark = pytest.mark.skipif(not SPECS_DIR.is_dir(), reason="GHL's specs are not here")

CONTACTS = {"Authorization": f"Bearer {DEMO_PRIVATE_TOKEN}", "Version": "2021-07-28"}
CONVERSATIONS = {"Authorization": f"Bearer {DEMO_PRIVATE_TOKEN}", "Version": "2021-04-15"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def send(
    http: aiohttp.ClientSession,
    running: RunningFake,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> tuple[int, list[str]]:
    """Sends one raw request; answers its status and the contract errors the fake logged, then
    forgets them (they are provoked on purpose here)."""
    async with http.request(method, running.url + path, headers=headers, json=body) as resp:
        await resp.read()
        status = resp.status
    errors = running.fake.log[-1].contract_errors
    running.fake.log.clear()
    return status, errors


async def test_a_body_missing_a_required_field_is_caught(
    http: aiohttp.ClientSession, running: RunningFake
) -> None:
    status, errors = await send(
        http, running, "POST", "/contacts/upsert", CONTACTS, {"email": "a@example.com"}
    )

    assert status == 422
    assert any("'locationId' is a required property" in e for e in errors)


async def test_a_version_header_of_another_family_is_caught(
    http: aiohttp.ClientSession, running: RunningFake
) -> None:
    status, errors = await send(
        http, running, "GET", f"/calendars/?locationId={DEMO_LOCATION_ID}", CONTACTS
    )

    assert status == 400
    assert any("Version" in e for e in errors)


async def test_a_path_the_spec_does_not_have_is_caught(
    http: aiohttp.ClientSession, running: RunningFake
) -> None:
    # GHL's path is /contacts/ with the slash.
    status, errors = await send(
        http, running, "POST", "/contacts", CONTACTS, {"locationId": DEMO_LOCATION_ID}
    )

    assert status == 422
    assert errors == ["Path not found for https://services.leadconnectorhq.com/contacts"]


async def test_a_wrongly_typed_field_is_caught(
    http: aiohttp.ClientSession, running: RunningFake
) -> None:
    status, errors = await send(
        http,
        running,
        "PUT",
        "/opportunities/fakeOpportunity00001/status",
        CONTACTS,
        {"status": "closed"},
    )

    assert status == 422
    assert any("'closed' is not one of" in e for e in errors)


async def test_a_contact_search_without_page_limit_is_caught(
    http: aiohttp.ClientSession, running: RunningFake
) -> None:
    # The spec's search body is empty; the check uses the documented one (contract.py).
    status, errors = await send(
        http, running, "POST", "/contacts/search", CONTACTS, {"locationId": DEMO_LOCATION_ID}
    )

    assert status == 422
    assert any("'pageLimit' is a required property" in e for e in errors)


async def test_a_message_without_sub_type_or_status_is_caught(
    http: aiohttp.ClientSession, running: RunningFake
) -> None:
    # Both are required by GHL's current spec (API-NOTES §3.4).
    body = {"type": "SMS", "contactId": "fakeContact000000001", "message": "hello"}
    status, errors = await send(
        http, running, "POST", "/conversations/messages", CONVERSATIONS, body
    )

    assert status == 422
    assert any("'subType' is a required property" in e for e in errors)
    assert any("'status' is a required property" in e for e in errors)


async def test_a_message_with_its_sub_type_as_a_string_passes_the_check(
    http: aiohttp.ClientSession, running: RunningFake
) -> None:
    # The spec types subType as an object, yet its own example is the string "Email".
    body = {
        "type": "SMS",
        "subType": "SMS",
        "contactId": "fakeContact000000001",
        "message": "hello",
        "status": "pending",
    }
    status, errors = await send(
        http, running, "POST", "/conversations/messages", CONVERSATIONS, body
    )

    assert (status, errors) == (200, [])


def test_answers_are_checked_against_the_shared_error_schemas() -> None:
    checker = ContractChecker(SPECS_DIR)

    class Request:  # what check_response reads of an aiohttp request
        method = "GET"
        path = f"/locations/{DEMO_LOCATION_ID}"
        query: dict[str, str] = {}
        headers = CONTACTS
        cookies: dict[str, str] = {}
        content_type = "application/json"

    good = b'{"statusCode":401,"message":"Invalid token","error":"Unauthorized"}'
    bad = b'{"statusCode":"401","message":["not a string"]}'
    # UnauthorizedDTO lives in ../common/common-schemas.json: the relative $ref resolves.
    assert checker.check_response(Request(), b"", 401, good) == []  # type: ignore[arg-type]
    errors = checker.check_response(Request(), b"", 401, bad)  # type: ignore[arg-type]
    assert any("is not of type 'number'" in e for e in errors)

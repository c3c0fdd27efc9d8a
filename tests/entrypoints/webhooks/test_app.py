"""The webhook app over HTTP: its routes, its error bodies, its 429s, its one log line."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient
from structlog.testing import capture_logs

from application.webhooks import ReceiveWebhookCommand, ReceiveWebhookResult
from domain.errors import StorageUnavailableError
from entrypoints.logging import merge_request_fields
from entrypoints.webhooks.app import create_webhook_app
from tests.entrypoints.webhooks.conftest import Client, Inbox, make_receiver
from tests.integration.webhooks.support import Signer

CONTACT = b'{"type":"ContactCreate","locationId":"loc-1","id":"c-1","email":"ann@example.com"}'


def error_of(body: dict[str, Any]) -> tuple[int, str, str]:
    error = body["error"]
    assert set(error) == {"code", "message", "status", "details"}
    info = error["details"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["domain"] == "integrations"
    return error["code"], error["status"], info["reason"]


async def test_a_signed_delivery_is_acknowledged_once_stored(
    client: Client, inbox: Inbox, signer: Signer
) -> None:
    await inbox.integration()

    response = await client.post("/webhooks/ghl", data=CONTACT, headers=signer.ghl(CONTACT))

    assert response.status == 200
    answer = await response.json()
    assert answer["status"] == "accepted"
    [stored] = inbox.uow.store.deliveries.values()
    assert answer["deliveryId"] == stored.delivery_id


async def test_a_body_over_one_mebibyte_is_413(
    client: Client, inbox: Inbox, signer: Signer
) -> None:
    await inbox.integration()
    body = json.dumps({"locationId": "loc-1", "pad": "x" * (1024 * 1024)}).encode()

    response = await client.post("/webhooks/ghl", data=io.BytesIO(body), headers=signer.ghl(body))

    assert response.status == 413
    assert error_of(await response.json()) == (413, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
    assert inbox.uow.store.deliveries == {}


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"\xff"], ids=["broken", "array", "binary"])
async def test_a_body_that_is_not_a_json_object_is_400(client: Client, body: bytes) -> None:
    response = await client.post("/webhooks/ghl/contact.created", data=body)

    assert response.status == 400
    assert error_of(await response.json()) == (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")


async def test_an_unknown_location_is_404(client: Client, signer: Signer) -> None:
    response = await client.post("/webhooks/ghl", data=CONTACT, headers=signer.ghl(CONTACT))

    assert response.status == 404
    body = await response.json()
    assert error_of(body) == (404, "NOT_FOUND", "NOT_FOUND")
    assert body["error"]["details"][0]["metadata"] == {"resource": "location", "id": "loc-1"}


async def test_a_bad_signature_is_401_and_nothing_of_the_body_is_logged(
    client: Client, inbox: Inbox
) -> None:
    await inbox.integration()
    forged = Signer().ghl(CONTACT)

    with capture_logs() as logs:
        response = await client.post("/webhooks/ghl", data=CONTACT, headers=forged)

    assert response.status == 401
    assert error_of(await response.json()) == (401, "UNAUTHENTICATED", "WEBHOOK_SIGNATURE_INVALID")
    assert inbox.uow.store.deliveries == {}
    logged = repr(logs)
    assert "ann@example.com" not in logged
    assert "c-1" not in logged
    assert forged["x-ghl-signature"] not in logged


async def test_an_inactive_integration_is_409(client: Client, inbox: Inbox, signer: Signer) -> None:
    await inbox.integration(active=False)

    response = await client.post("/webhooks/ghl", data=CONTACT, headers=signer.ghl(CONTACT))

    assert response.status == 409
    assert error_of(await response.json()) == (409, "FAILED_PRECONDITION", "INTEGRATION_NOT_ACTIVE")


async def test_storage_unavailable_is_429_with_retry_after_never_5xx(
    client: Client, inbox: Inbox, signer: Signer
) -> None:
    await inbox.integration()
    inbox.writer.error = StorageUnavailableError("the database is unavailable, try again")

    response = await client.post("/webhooks/ghl", data=CONTACT, headers=signer.ghl(CONTACT))

    assert response.status == 429
    assert response.headers["Retry-After"] == "30"
    assert error_of(await response.json()) == (429, "UNAVAILABLE", "STORAGE_UNAVAILABLE")


async def test_any_unexpected_failure_is_429_and_logged(
    client: Client, inbox: Inbox, signer: Signer
) -> None:
    await inbox.integration()
    inbox.writer.error = RuntimeError("asyncpg went sideways")

    with capture_logs() as logs:
        response = await client.post("/webhooks/ghl", data=CONTACT, headers=signer.ghl(CONTACT))

    assert response.status == 429
    assert response.headers["Retry-After"] == "30"
    body = await response.json()
    assert error_of(body) == (429, "UNAVAILABLE", "INTERNAL")
    assert "sideways" not in body["error"]["message"]
    [failure] = [e for e in logs if e["event"] == "webhook_unexpected_error"]
    assert failure["error_type"] == "RuntimeError"


async def test_a_failure_outside_the_use_case_is_429_too(
    aiohttp_client: AiohttpClient,
) -> None:
    class Broken:
        sender = "ghl"

        async def execute(self, cmd: ReceiveWebhookCommand) -> ReceiveWebhookResult:
            raise KeyError("bug")

    client = await aiohttp_client(create_webhook_app([Broken()]))  # type: ignore[arg-type]

    response = await client.post("/webhooks/ghl", data=b"{}")

    assert response.status == 429
    assert response.headers["Retry-After"] == "60"


async def test_unknown_paths_and_methods_answer_with_error_bodies(client: Client) -> None:
    missing = await client.post("/webhooks/other", data=b"{}")
    elsewhere = await client.get("/")
    no_event = await client.post("/webhooks/ghl/", data=b"{}")
    wrong_method = await client.get("/webhooks/ghl")
    wrong_method_routed = await client.put("/webhooks/ghl/ContactCreate", data=b"{}")

    for response in (missing, elsewhere, no_event):
        assert response.status == 404
        assert error_of(await response.json()) == (404, "NOT_FOUND", "NOT_FOUND")
        assert response.headers["X-Request-Id"]
    for response in (wrong_method, wrong_method_routed):
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert error_of(await response.json())[0] == 405


async def test_each_request_is_logged_once_with_its_outcome_and_request_id(
    client: Client, inbox: Inbox, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    integration = await inbox.integration()
    caplog.set_level(logging.DEBUG, "entrypoints.webhooks")  # stored deliveries log at DEBUG

    with capture_logs(processors=[merge_request_fields]) as logs:
        response = await client.post(
            "/webhooks/ghl",
            data=CONTACT,
            headers={**signer.ghl(CONTACT), "X-Request-Id": "req-42"},
        )

    assert response.headers["X-Request-Id"] == "req-42"
    [line] = [e for e in logs if e["event"] == "webhook_request"]
    assert line["status"] == 200
    assert line["method"] == "POST"
    assert line["route"] == "/webhooks/ghl"
    assert line["request_id"] == "req-42"
    assert line["integration_id"] == integration.id
    assert line["kind"] == "contact.created"
    assert line["duplicate"] is False
    assert "ann@example.com" not in repr(logs)


async def test_a_malformed_request_id_is_replaced(client: Client) -> None:
    response = await client.post(
        "/webhooks/ghl", data=b"{}", headers={"X-Request-Id": "bad id with spaces"}
    )

    assert response.headers["X-Request-Id"] != "bad id with spaces"
    assert len(response.headers["X-Request-Id"]) == 32


async def test_the_body_limit_is_configurable(
    aiohttp_client: AiohttpClient, inbox: Inbox, signer: Signer
) -> None:
    await inbox.integration()
    client = await aiohttp_client(
        create_webhook_app([make_receiver(inbox, signer)], max_body_bytes=64)
    )

    response = await client.post("/webhooks/ghl", data=CONTACT, headers=signer.ghl(CONTACT))

    assert response.status == 413

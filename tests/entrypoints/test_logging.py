"""The redaction processor: no secret reaches a log line, whatever shape it comes in."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import structlog

from domain.values import SecretStr
from entrypoints.logging import (
    REDACTED,
    configure_logging,
    merge_request_fields,
    redact_secrets,
    request_id_of,
    start_request,
)

PIT = "pit-1b2c3d4e-5f60-7182-9314-a5b6c7d8e9f0"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_values_under_sensitive_keys_are_masked_at_any_depth() -> None:
    event = redact_secrets(
        None,
        "info",
        {
            "event": "called",
            "apiKey": "abc",
            "headers": {"Authorization": "whatever", "x-ok": "fine"},
            "items": [{"client_secret": "s"}, {"refresh_token": "r"}],
            "secret_fields": ["apiKey"],
            "error_code": "INVALID_CREDENTIALS",
        },
    )
    assert event["apiKey"] == REDACTED
    assert event["headers"] == {"Authorization": REDACTED, "x-ok": "fine"}
    assert event["items"] == [{"client_secret": REDACTED}, {"refresh_token": REDACTED}]
    assert event["secret_fields"] == ["apiKey"]
    assert event["error_code"] == "INVALID_CREDENTIALS"


@pytest.mark.parametrize(
    "text", [f"Bearer {PIT}", f"token {JWT} rejected", f"key={PIT}", f"bearer {JWT}"]
)
def test_token_shaped_strings_are_masked_inside_free_text(text: str) -> None:
    event = redact_secrets(None, "info", {"event": "x", "detail": text})
    assert PIT not in event["detail"]
    assert JWT not in event["detail"]
    assert REDACTED in event["detail"]


def test_a_secret_object_is_masked() -> None:
    event = redact_secrets(None, "info", {"event": "x", "value": SecretStr("hunter2-hunter2")})
    assert event["value"] == REDACTED


def test_standard_library_loggers_are_rendered_as_redacted_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="INFO", json=True)
    try:
        logging.getLogger("aiohttp.client").warning("sending Authorization: Bearer %s", PIT)
        structlog.get_logger("t").info("called", api_key=PIT, locationId="loc-1")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert PIT not in json.dumps(lines)
    assert lines[0]["level"] == "warning"
    assert lines[1] == {
        **lines[1],
        "event": "called",
        "api_key": REDACTED,
        "locationId": "loc-1",
    }


def test_database_drivers_log_no_statements_even_at_debug(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="DEBUG", json=True)
    try:
        for driver in ("aiosqlite", "asyncpg", "sqlalchemy.engine.Engine", "sqlalchemy.pool"):
            logger = logging.getLogger(driver)
            logger.debug("executing INSERT INTO leads VALUES (%r)", "ada@example.com")
            logger.info("INSERT INTO leads VALUES (%r)", "ada@example.com")
        logging.getLogger("entrypoints.grpc").debug("rpc_finished")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert [line["event"] for line in lines] == ["rpc_finished"]


async def test_lines_logged_while_serving_a_request_carry_its_context_and_only_its_own() -> None:
    async def serve(request_id: str, *, fail: bool) -> list[dict[str, object]]:
        context = start_request(request_id=request_id, route="/webhooks/ghl")
        if fail:
            context["error_code"] = "NOT_FOUND"
        with structlog.testing.capture_logs(processors=[merge_request_fields]) as logs:
            structlog.get_logger("t").info("deep_inside", request_id="its-own-wins")
            structlog.get_logger("t").info("deep_inside")
        return logs

    # Requests on one connection run one after the other in the same task and context.
    first = await serve("req-1", fail=True)
    second = await serve("req-2", fail=False)

    assert first[0]["request_id"] == "its-own-wins"
    assert (first[1]["request_id"], first[1]["error_code"]) == ("req-1", "NOT_FOUND")
    assert second[1]["request_id"] == "req-2"
    assert "error_code" not in second[1]


async def test_a_request_context_stays_in_its_own_task() -> None:
    async def other_request() -> None:
        start_request(request_id="req-other")

    start_request(request_id="req-mine")
    await asyncio.create_task(other_request())

    with structlog.testing.capture_logs(processors=[merge_request_fields]) as logs:
        structlog.get_logger("t").info("after")
    assert logs[0]["request_id"] == "req-mine"


def test_a_sane_request_id_is_kept_and_any_other_replaced_by_a_fresh_one() -> None:
    fresh = [request_id_of(given) for given in (None, "", "has spaces", "x" * 129, None)]

    assert request_id_of("req-42:a.b_c") == "req-42:a.b_c"
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in fresh)
    assert len(set(fresh)) == len(fresh)

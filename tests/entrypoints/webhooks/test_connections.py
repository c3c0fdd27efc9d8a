"""The webhook server on a loopback port, driven over raw sockets: slow and vanishing clients."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from entrypoints.listening import PortInUseError
from entrypoints.logging import merge_request_fields
from entrypoints.webhooks.app import create_webhook_app, start_webhook_server, stop_webhook_server
from tests.entrypoints.webhooks.conftest import Inbox, make_receiver
from tests.integration.webhooks.support import Signer

GENEROUS = 30.0
"""How long a test waits for what must happen within a second or two."""


@pytest.fixture
async def port(inbox: Inbox, signer: Signer) -> AsyncIterator[int]:
    await inbox.integration()
    app = create_webhook_app([make_receiver(inbox, signer)], body_timeout_seconds=1)
    runner, bound = await start_webhook_server(
        app, host="127.0.0.1", port=0, header_timeout_seconds=1
    )
    try:
        yield bound
    finally:
        await stop_webhook_server(runner)


async def _dribble(writer: asyncio.StreamWriter, data: bytes, closed: asyncio.Event) -> None:
    """Send `data` a byte every tenth of a second until it is sent or the server hangs up."""
    for byte in data:
        if closed.is_set():
            return
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(0.1)


async def _answer_while_dribbling(port: int, head: bytes, dribbled: bytes) -> bytes:
    """Send `head` at once, then `dribbled` slowly; everything the server sent before it closed
    the connection (within GENEROUS seconds, else the test fails)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    closed = asyncio.Event()
    writer.write(head)
    sender = asyncio.create_task(_dribble(writer, dribbled, closed))
    try:
        answer = await asyncio.wait_for(reader.read(), GENEROUS)
    finally:
        closed.set()
        await sender
        writer.close()
    return answer


async def test_a_client_sending_its_headers_a_byte_at_a_time_is_cut_off(port: int) -> None:
    endless_header = b"X-Slow: " + b"a" * 1000  # would take 100 s at this pace

    answer = await _answer_while_dribbling(
        port, b"POST /webhooks/ghl HTTP/1.1\r\nHost: x\r\n", endless_header
    )

    assert answer == b""  # closed before a request was read: nothing to answer


async def test_a_connection_that_never_sends_a_request_is_closed(port: int) -> None:
    answer = await _answer_while_dribbling(port, b"", b"")

    assert answer == b""


async def test_a_body_sent_a_byte_at_a_time_is_answered_408_and_the_connection_closed(
    port: int,
) -> None:
    head = (
        b"POST /webhooks/ghl HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )

    with capture_logs() as logs:
        answer = await _answer_while_dribbling(port, head, b'"pad": "' + b"x" * 990)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert (error["code"], error["status"]) == (408, "INVALID_ARGUMENT")
    assert not [e for e in logs if e["log_level"] in ("error", "critical")]


async def _wait_for(condition: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GENEROUS
    while not condition():
        assert loop.time() < deadline, "the condition did not come true"
        await asyncio.sleep(0.05)


async def test_a_client_gone_before_its_body_arrived_is_logged_as_one_line_without_traceback(
    port: int, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    head = b"POST /webhooks/ghl HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"

    with capture_logs(processors=[merge_request_fields]) as logs:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head + b'{"type": "Cont')
        await writer.drain()
        await asyncio.sleep(0.2)  # the handler is waiting for the rest of the body
        writer.close()
        await _wait_for(lambda: any(e["event"] == "webhook_request" for e in logs))

    lines: list[Any] = [e for e in logs if e["event"] == "webhook_request"]
    assert len(lines) == 1
    assert lines[0]["status"] == 499
    assert lines[0]["error_code"] == "CANCELLED"
    assert [e for e in logs if e["log_level"] in ("error", "critical") or "exc_info" in e] == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert inbox.uow.store.deliveries == {}


async def test_a_port_in_use_is_a_clear_error_unless_sharing_is_asked_for(
    inbox: Inbox, signer: Signer
) -> None:
    def app() -> web.Application:
        return create_webhook_app([make_receiver(inbox, signer)])

    first, port = await start_webhook_server(app(), host="127.0.0.1", port=0)
    try:
        with pytest.raises(PortInUseError, match=f"webhooks: 127.0.0.1:{port} is already in use"):
            await start_webhook_server(app(), host="127.0.0.1", port=port)
    finally:
        await stop_webhook_server(first)

    shared, port = await start_webhook_server(app(), host="127.0.0.1", port=0, reuse_port=True)
    try:
        second, again = await start_webhook_server(
            app(), host="127.0.0.1", port=port, reuse_port=True
        )
        await stop_webhook_server(second)
    finally:
        await stop_webhook_server(shared)
    assert again == port

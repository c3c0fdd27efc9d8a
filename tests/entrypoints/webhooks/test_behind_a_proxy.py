"""The webhook port runs behind a proxy that terminates TLS (docs/deployment.md): the service
trusts no forwarding header, and records no client address, forwarded or not."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from structlog.testing import capture_logs

from entrypoints.logging import merge_request_fields
from entrypoints.webhooks.app import create_webhook_app, start_webhook_server, stop_webhook_server
from tests.entrypoints.webhooks.conftest import Inbox, make_receiver
from tests.integration.webhooks.support import Signer

CONTACT = b'{"type":"ContactCreate","locationId":"loc-1","id":"c-1"}'
FORWARDED = {
    "X-Forwarded-For": "203.0.113.77",
    "X-Real-IP": "203.0.113.77",
    "Forwarded": "for=203.0.113.77;proto=https",
    "X-Forwarded-Proto": "https",
}


async def test_forwarding_headers_change_nothing_and_no_address_is_logged(
    inbox: Inbox, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    await inbox.integration()
    caplog.set_level(logging.DEBUG)
    runner, port = await start_webhook_server(
        create_webhook_app([make_receiver(inbox, signer)]), host="127.0.0.1", port=0
    )
    url = f"http://127.0.0.1:{port}/webhooks/ghl"
    try:
        with capture_logs(processors=[merge_request_fields]) as logs:
            async with aiohttp.ClientSession() as http:
                headers = {**signer.ghl(CONTACT), **FORWARDED}
                async with http.post(url, data=CONTACT, headers=headers) as forwarded:
                    assert forwarded.status == 200
                # Trusted for a signature, never for the address a request claims.
                async with http.post(url, data=CONTACT, headers=FORWARDED) as unsigned:
                    assert unsigned.status == 401
    finally:
        await stop_webhook_server(runner)

    assert len([e for e in logs if e["event"] == "webhook_request"]) == 2
    for address in ("203.0.113.77", "127.0.0.1"):
        assert address not in repr(logs)
        assert address not in caplog.text

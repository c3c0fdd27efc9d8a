"""Failures of the transport (no HTTP answer), told apart by whether a request may be repeated."""

from __future__ import annotations

import json
from typing import Any

import aiohttp


class TransportError(Exception):
    """No HTTP answer. `unsent`: the request certainly never reached the provider (safe to
    repeat even when it is not idempotent); `retryable`: the failure is worth another attempt."""

    def __init__(self, reason: str, *, unsent: bool, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unsent = unsent
        self.retryable = retryable


def transport_error(err: BaseException) -> TransportError:
    # Order matters: the TLS and connect-timeout classes subclass the broader ones below.
    if isinstance(err, aiohttp.ClientSSLError):
        return TransportError("TLS handshake failed", unsent=True, retryable=False)
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return TransportError("DNS lookup failed", unsent=True)
    if isinstance(err, aiohttp.ClientConnectorError):
        return TransportError("connection refused or unreachable", unsent=True)
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return TransportError("connect timeout", unsent=True)
    if isinstance(err, TimeoutError):
        return TransportError("read timeout", unsent=False)
    return TransportError("connection dropped", unsent=False)


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or None when it is empty or not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None

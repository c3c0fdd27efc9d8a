"""List pagination (AIP-158): page sizes, and opaque page tokens sealed with AES-256-GCM."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.ports import PageRequest
from domain.errors import FieldViolation, InvalidArgumentError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_VERSION = b"\x01"
_NONCE_BYTES = 12
_CONTEXT = b"integrations/page-token/v1\x00"

Scope = Mapping[str, str | list[str]]
"""What a token is valid for: the list method and every filter that shaped the first page."""


def page_size(requested: int) -> int:
    """0 means the default; above the maximum is clamped; negative is invalid."""
    if requested < 0:
        raise InvalidArgumentError(
            "page_size must not be negative", (FieldViolation("page_size", "must be >= 0"),)
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


class PageTokens:
    """Seals the position of the next page into a token the client cannot read or forge.

    The token's associated data is its scope (the method and its filters), so a token replayed
    with other filters fails to open and is refused as INVALID_ARGUMENT, like a tampered one.
    A page size may change between pages (AIP-158). Tokens do not expire: they hold only a
    position in a list ordered by id, and every page is filtered by the caller's rights anew.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the page token key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def request(self, *, size: int, token: str, scope: Scope) -> PageRequest:
        """The PageRequest of a List call's `page_size` and `page_token`."""
        return PageRequest(size=page_size(size), after_id=self._open(token, scope) or None)

    def next_token(self, after_id: str | None, scope: Scope) -> str:
        """The `next_page_token` for a page whose last item has id `after_id` (empty at the end)."""
        if after_id is None:
            return ""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, after_id.encode(), _associated_data(scope))
        return base64.urlsafe_b64encode(_VERSION + nonce + sealed).rstrip(b"=").decode()

    def _open(self, token: str, scope: Scope) -> str:
        if not token:
            return ""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            if raw[:1] != _VERSION:
                raise ValueError("unknown token version")
            nonce, sealed = raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
            return self._aead.decrypt(nonce, sealed, _associated_data(scope)).decode()
        except (binascii.Error, ValueError, InvalidTag):
            raise InvalidArgumentError(
                "page_token is not valid",
                (
                    FieldViolation(
                        "page_token",
                        "must be a next_page_token returned by the same method with the same "
                        "filters",
                    ),
                ),
            ) from None


def _associated_data(scope: Scope) -> bytes:
    return _CONTEXT + json.dumps(scope, sort_keys=True, separators=(",", ":")).encode()

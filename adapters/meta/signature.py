"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``,
keyed with the platform's app secret (one secret for every tenant)."""

from __future__ import annotations

import hashlib
import hmac

from domain.errors import WebhookSignatureInvalidError, WebhookUnsignedError
from domain.values import SecretStr

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def app_signature(app_secret: SecretStr, body: bytes) -> str:
    """The header value Meta sends for `body`: over the bytes exactly as received (re-serialised
    JSON differs from what Meta signed)."""
    digest = hmac.new(app_secret.reveal().encode(), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_app_signature(app_secret: SecretStr, body: bytes, header_value: str | None) -> None:
    """Raise WebhookUnsignedError when the header is missing or empty, and
    WebhookSignatureInvalidError when it does not sign `body`; compared in constant time."""
    if not header_value:
        raise WebhookUnsignedError(f"the delivery carries no {SIGNATURE_HEADER} header")
    expected = app_signature(app_secret, body).encode()
    if not hmac.compare_digest(expected, header_value.encode()):
        raise WebhookSignatureInvalidError(f"the {SIGNATURE_HEADER} signature does not match")

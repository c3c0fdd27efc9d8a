"""Webhook signatures over the raw body bytes: GHL's Ed25519 and RSA, HMAC-SHA256 with an
integration's secret or with the platform's app secret (``X-Hub-Signature-256``, as Meta signs),
Standard Webhooks. Secrets and signatures are compared in constant time and never appear in errors."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from adapters.crypto.ghl_public_keys import GHL_ED25519_PUBLIC_KEY_PEM, GHL_RSA_PUBLIC_KEY_PEM
from application.ports import SignatureScheme, VerifiedSignature
from domain.errors import WebhookSignatureInvalidError, WebhookUnsignedError
from domain.values import SecretStr

GHL_ED25519_HEADER = "x-ghl-signature"
GHL_RSA_HEADER = "x-wh-signature"
HMAC_HEADER = "x-webhook-signature"
APP_HMAC_HEADER = "x-hub-signature-256"
SW_ID_HEADER = "webhook-id"
SW_TIMESTAMP_HEADER = "webhook-timestamp"
SW_SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_HEADERS = frozenset(
    {
        GHL_ED25519_HEADER,
        GHL_RSA_HEADER,
        HMAC_HEADER,
        APP_HMAC_HEADER,
        SW_ID_HEADER,
        SW_TIMESTAMP_HEADER,
        SW_SIGNATURE_HEADER,
    }
)
"""Every header a verifier reads (lower-case)."""

_ABSENT = "N/A"  # GHL's sample code treats this value as no signature
_ED25519_SIGNATURE_BYTES = 64
_SW_SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_SW_VERSION = "v1"
_HMAC_PREFIX = "sha256="
# What a check of each scheme that signs no time or id returns: one shared (frozen) value.
_ED25519_VERIFIED = VerifiedSignature(SignatureScheme.PUBLISHED_ED25519)
_RSA_VERIFIED = VerifiedSignature(SignatureScheme.PUBLISHED_RSA_SHA256)
_HMAC_VERIFIED = VerifiedSignature(SignatureScheme.HMAC_SHA256)
_APP_HMAC_VERIFIED = VerifiedSignature(SignatureScheme.APP_HMAC_SHA256)


def load_ed25519_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_rsa_public_key(pem: bytes) -> RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def app_hmac_signature(app_secret: SecretStr, body: bytes) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` + hex HMAC-SHA256 of the body under the app secret."""
    return _HMAC_PREFIX + _hmac_digest(app_secret, body).hex()


def hmac_signature(secret: SecretStr, body: bytes) -> str:
    """The seed's ``x-webhook-signature``: hex HMAC-SHA256 of the body under the secret."""
    return _hmac_digest(secret, body).hex()


def _hmac_digest(secret: SecretStr, body: bytes) -> bytes:
    return hmac.digest(secret.reveal().encode(), body, "sha256")  # one-shot: no HMAC object


def standard_webhooks_signature(
    secret: SecretStr, message_id: str, timestamp: int, body: bytes
) -> str:
    """One ``webhook-signature`` entry: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_standard_webhooks_key(secret), signed, hashlib.sha256).digest()
    return f"{_SW_VERSION},{base64.b64encode(digest).decode()}"


def _standard_webhooks_key(secret: SecretStr) -> bytes:
    """A ``whsec_`` secret is base64 (padding optional, as the reference libraries accept);
    any other string is used as it is."""
    value = secret.reveal()
    if not value.startswith(_SW_SECRET_PREFIX):
        return value.encode()
    encoded = value[len(_SW_SECRET_PREFIX) :]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise WebhookSignatureInvalidError(
            "the integration's webhook secret is not a valid whsec_ secret"
        ) from None


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


class WebhookSignatureVerifier:
    """A SignatureVerifier. GHL's keys default to the published ones bundled with the package;
    pass others to follow a key rotation (or to trust a test sender). Without `app_secret`, no
    app-secret signature verifies."""

    def __init__(
        self,
        *,
        ghl_ed25519_key: Ed25519PublicKey | None = None,
        ghl_rsa_key: RSAPublicKey | None = None,
        app_secret: SecretStr | None = None,
    ) -> None:
        self._ed25519 = ghl_ed25519_key or load_ed25519_public_key(GHL_ED25519_PUBLIC_KEY_PEM)
        self._rsa = ghl_rsa_key or load_rsa_public_key(GHL_RSA_PUBLIC_KEY_PEM)
        self._app_secret = app_secret

    @classmethod
    def from_files(
        cls,
        *,
        ghl_ed25519_pem: Path | None = None,
        ghl_rsa_pem: Path | None = None,
        app_secret: SecretStr | None = None,
    ) -> WebhookSignatureVerifier:
        """Keys from PEM files; None keeps the bundled key."""
        return cls(
            ghl_ed25519_key=None
            if ghl_ed25519_pem is None
            else load_ed25519_public_key(ghl_ed25519_pem.read_bytes()),
            ghl_rsa_key=None
            if ghl_rsa_pem is None
            else load_rsa_public_key(ghl_rsa_pem.read_bytes()),
            app_secret=app_secret,
        )

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        schemes: frozenset[SignatureScheme],
        secret: SecretStr | None,
    ) -> VerifiedSignature:
        ed25519 = headers.get(GHL_ED25519_HEADER)
        if SignatureScheme.PUBLISHED_ED25519 in schemes and ed25519 and ed25519 != _ABSENT:
            return self._ed25519_check(body, ed25519)
        rsa = headers.get(GHL_RSA_HEADER)
        if SignatureScheme.PUBLISHED_RSA_SHA256 in schemes and rsa and rsa != _ABSENT:
            return self._rsa_check(body, rsa)
        if SignatureScheme.APP_HMAC_SHA256 in schemes and APP_HMAC_HEADER in headers:
            return self._app_hmac_check(body, headers[APP_HMAC_HEADER])
        if SignatureScheme.STANDARD_WEBHOOKS in schemes and SW_SIGNATURE_HEADER in headers:
            return _standard_webhooks_check(body, headers, secret)
        if SignatureScheme.HMAC_SHA256 in schemes and HMAC_HEADER in headers:
            return _hmac_check(body, headers[HMAC_HEADER], secret)
        raise WebhookUnsignedError("the delivery carries no signature this integration accepts")

    def _ed25519_check(self, body: bytes, header: str) -> VerifiedSignature:
        signature = _b64(header)
        if signature is None or len(signature) != _ED25519_SIGNATURE_BYTES:
            raise WebhookSignatureInvalidError("the x-ghl-signature is malformed")
        try:
            self._ed25519.verify(signature, body)
        except InvalidSignature:
            raise WebhookSignatureInvalidError("the x-ghl-signature does not match") from None
        return _ED25519_VERIFIED

    def _app_hmac_check(self, body: bytes, header: str) -> VerifiedSignature:
        if self._app_secret is None:
            raise WebhookSignatureInvalidError("no app secret is configured to check with")
        value = header.strip()
        if not value.startswith(_HMAC_PREFIX):
            raise WebhookSignatureInvalidError("the x-hub-signature-256 is malformed")
        try:
            given = bytes.fromhex(value[len(_HMAC_PREFIX) :])
        except ValueError:
            raise WebhookSignatureInvalidError("the x-hub-signature-256 is malformed") from None
        if not hmac.compare_digest(_hmac_digest(self._app_secret, body), given):
            raise WebhookSignatureInvalidError("the x-hub-signature-256 does not match")
        return _APP_HMAC_VERIFIED

    def _rsa_check(self, body: bytes, header: str) -> VerifiedSignature:
        signature = _b64(header)
        if signature is None:
            raise WebhookSignatureInvalidError("the x-wh-signature is malformed")
        try:
            self._rsa.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise WebhookSignatureInvalidError("the x-wh-signature does not match") from None
        return _RSA_VERIFIED


def _hmac_check(body: bytes, header: str, secret: SecretStr | None) -> VerifiedSignature:
    if secret is None:
        raise WebhookSignatureInvalidError("the integration has no webhook secret to check with")
    value = header.strip().lower().removeprefix(_HMAC_PREFIX)
    try:
        given = bytes.fromhex(value)
    except ValueError:
        raise WebhookSignatureInvalidError("the x-webhook-signature is malformed") from None
    if not hmac.compare_digest(_hmac_digest(secret, body), given):
        raise WebhookSignatureInvalidError("the x-webhook-signature does not match")
    return _HMAC_VERIFIED


def _standard_webhooks_check(
    body: bytes, headers: Mapping[str, str], secret: SecretStr | None
) -> VerifiedSignature:
    if secret is None:
        raise WebhookSignatureInvalidError("the integration has no webhook secret to check with")
    message_id = headers.get(SW_ID_HEADER, "")
    raw_timestamp = headers.get(SW_TIMESTAMP_HEADER, "").strip()
    if not message_id or not raw_timestamp.isdigit():
        raise WebhookSignatureInvalidError("the webhook-id or webhook-timestamp header is missing")
    timestamp = int(raw_timestamp)
    expected = standard_webhooks_signature(secret, message_id, timestamp, body).encode()
    # Several space-separated signatures may be sent (during a secret rotation); any one counts.
    # Every entry is compared, so the time taken does not depend on which one matched.
    matched = False
    for entry in headers[SW_SIGNATURE_HEADER].split():
        matched |= hmac.compare_digest(expected, entry.encode())
    if not matched:
        raise WebhookSignatureInvalidError("the webhook-signature does not match")
    try:
        sent_at = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookSignatureInvalidError("the webhook-timestamp is out of range") from None
    return VerifiedSignature(
        SignatureScheme.STANDARD_WEBHOOKS, sent_at=sent_at, message_id=message_id
    )

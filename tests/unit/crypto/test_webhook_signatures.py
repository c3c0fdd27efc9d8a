"""Webhook signature checks over raw bytes: GHL's Ed25519 and RSA, HMAC, Standard Webhooks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from adapters.crypto.ghl_public_keys import GHL_ED25519_PUBLIC_KEY_PEM, GHL_RSA_PUBLIC_KEY_PEM
from adapters.crypto.signatures import (
    WebhookSignatureVerifier,
    app_hmac_signature,
    hmac_signature,
    load_ed25519_public_key,
    load_rsa_public_key,
    standard_webhooks_signature,
)
from adapters.ghl.webhooks import GHL_SCHEMES
from application.ports import SignatureScheme
from domain.errors import WebhookSignatureInvalidError, WebhookUnsignedError
from domain.values import SecretStr
from tests.support.reference import provider_reference

BODY = b'{"type":"ContactCreate","locationId":"loc-1","id":"c-1"}'
HMAC_SECRET = SecretStr("the-integrations-own-webhook-secret")
ALL = frozenset(SignatureScheme)

# The Standard Webhooks specification's published test vector.
SW_SECRET = SecretStr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
SW_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SW_TIMESTAMP = 1614265330
SW_BODY = b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture(scope="module")
def ed25519_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def verifier(
    ed25519_key: Ed25519PrivateKey, rsa_key: rsa.RSAPrivateKey
) -> WebhookSignatureVerifier:
    return WebhookSignatureVerifier(
        ghl_ed25519_key=ed25519_key.public_key(), ghl_rsa_key=rsa_key.public_key()
    )


def ed25519_header(key: Ed25519PrivateKey, body: bytes) -> str:
    return base64.b64encode(key.sign(body)).decode()


def rsa_header(key: rsa.RSAPrivateKey, body: bytes) -> str:
    return base64.b64encode(key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


def test_the_published_ghl_keys_ship_with_the_package() -> None:
    ed25519 = load_ed25519_public_key(GHL_ED25519_PUBLIC_KEY_PEM)
    rsa_public = load_rsa_public_key(GHL_RSA_PUBLIC_KEY_PEM)

    assert isinstance(ed25519, Ed25519PublicKey)
    assert isinstance(rsa_public, RSAPublicKey)
    assert rsa_public.key_size == 4096
    # The default verifier uses them, and so refuses what another key signed.
    with pytest.raises(WebhookSignatureInvalidError):
        WebhookSignatureVerifier().verify(
            body=BODY,
            headers={"x-ghl-signature": ed25519_header(Ed25519PrivateKey.generate(), BODY)},
            schemes=GHL_SCHEMES,
            secret=None,
        )


def test_a_key_of_the_wrong_type_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="Ed25519"):
        load_ed25519_public_key(GHL_RSA_PUBLIC_KEY_PEM)
    with pytest.raises(ValueError, match="RSA"):
        load_rsa_public_key(GHL_ED25519_PUBLIC_KEY_PEM)


def test_keys_can_be_read_from_files(tmp_path: Path, ed25519_key: Ed25519PrivateKey) -> None:
    path = tmp_path / "ed25519.pem"
    path.write_bytes(
        ed25519_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    verified = WebhookSignatureVerifier.from_files(ghl_ed25519_pem=path).verify(
        body=BODY,
        headers={"x-ghl-signature": ed25519_header(ed25519_key, BODY)},
        schemes=GHL_SCHEMES,
        secret=None,
    )

    assert verified.scheme is SignatureScheme.PUBLISHED_ED25519


def test_ghls_ed25519_signature_over_the_raw_bytes_verifies(
    verifier: WebhookSignatureVerifier, ed25519_key: Ed25519PrivateKey
) -> None:
    verified = verifier.verify(
        body=BODY,
        headers={"x-ghl-signature": ed25519_header(ed25519_key, BODY)},
        schemes=GHL_SCHEMES,
        secret=None,
    )

    assert verified.scheme is SignatureScheme.PUBLISHED_ED25519


def test_the_same_json_reserialized_does_not_verify(
    verifier: WebhookSignatureVerifier, ed25519_key: Ed25519PrivateKey
) -> None:
    spaced = BODY.replace(b",", b", ")

    with pytest.raises(WebhookSignatureInvalidError, match="does not match") as caught:
        verifier.verify(
            body=spaced,
            headers={"x-ghl-signature": ed25519_header(ed25519_key, BODY)},
            schemes=GHL_SCHEMES,
            secret=None,
        )
    assert not isinstance(caught.value, WebhookUnsignedError)  # signed, wrongly: it counts


def test_ghls_legacy_rsa_signature_verifies(
    verifier: WebhookSignatureVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    verified = verifier.verify(
        body=BODY,
        headers={"x-wh-signature": rsa_header(rsa_key, BODY)},
        schemes=GHL_SCHEMES,
        secret=None,
    )

    assert verified.scheme is SignatureScheme.PUBLISHED_RSA_SHA256


def test_na_counts_as_no_ed25519_signature_so_rsa_decides(
    verifier: WebhookSignatureVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    verified = verifier.verify(
        body=BODY,
        headers={"x-ghl-signature": "N/A", "x-wh-signature": rsa_header(rsa_key, BODY)},
        schemes=GHL_SCHEMES,
        secret=None,
    )

    assert verified.scheme is SignatureScheme.PUBLISHED_RSA_SHA256


def test_a_wrong_ed25519_signature_is_final_even_beside_a_good_rsa_one(
    verifier: WebhookSignatureVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    forged = ed25519_header(Ed25519PrivateKey.generate(), BODY)

    with pytest.raises(WebhookSignatureInvalidError):
        verifier.verify(
            body=BODY,
            headers={"x-ghl-signature": forged, "x-wh-signature": rsa_header(rsa_key, BODY)},
            schemes=GHL_SCHEMES,
            secret=None,
        )


@pytest.mark.parametrize(
    "header",
    ["", "not base64!", base64.b64encode(b"short").decode(), base64.b64encode(bytes(65)).decode()],
    ids=["empty", "not base64", "too short", "too long"],
)
def test_a_malformed_ed25519_signature_is_refused(
    verifier: WebhookSignatureVerifier, header: str
) -> None:
    with pytest.raises(WebhookSignatureInvalidError):
        verifier.verify(
            body=BODY, headers={"x-ghl-signature": header}, schemes=GHL_SCHEMES, secret=None
        )


def test_a_malformed_rsa_signature_is_refused(verifier: WebhookSignatureVerifier) -> None:
    for header in ("%%%", base64.b64encode(bytes(256)).decode()):
        with pytest.raises(WebhookSignatureInvalidError):
            verifier.verify(
                body=BODY, headers={"x-wh-signature": header}, schemes=GHL_SCHEMES, secret=None
            )


def test_the_seeds_hex_hmac_verifies_with_the_integrations_secret(
    verifier: WebhookSignatureVerifier,
) -> None:
    header = hmac_signature(HMAC_SECRET, BODY)

    for value in (header, header.upper(), "sha256=" + header):
        verified = verifier.verify(
            body=BODY,
            headers={"x-webhook-signature": value},
            schemes=frozenset({SignatureScheme.HMAC_SHA256}),
            secret=HMAC_SECRET,
        )
        assert verified.scheme is SignatureScheme.HMAC_SHA256


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        (hmac_signature(SecretStr("another-secret"), BODY), HMAC_SECRET),
        (hmac_signature(HMAC_SECRET, BODY + b" "), HMAC_SECRET),
        ("zz-not-hex", HMAC_SECRET),
        (hmac_signature(HMAC_SECRET, BODY), None),
    ],
    ids=["other secret", "other body", "not hex", "integration has no secret"],
)
def test_a_wrong_hmac_is_refused(
    verifier: WebhookSignatureVerifier, header: str, secret: SecretStr | None
) -> None:
    with pytest.raises(WebhookSignatureInvalidError):
        verifier.verify(
            body=BODY,
            headers={"x-webhook-signature": header},
            schemes=frozenset({SignatureScheme.HMAC_SHA256}),
            secret=secret,
        )


def test_standard_webhooks_signing_reproduces_the_specifications_test_vector() -> None:
    assert standard_webhooks_signature(SW_SECRET, SW_ID, SW_TIMESTAMP, SW_BODY) == SW_SIGNATURE


def test_the_specifications_test_vector_verifies(verifier: WebhookSignatureVerifier) -> None:
    verified = verifier.verify(
        body=SW_BODY,
        headers={
            "webhook-id": SW_ID,
            "webhook-timestamp": str(SW_TIMESTAMP),
            # Several signatures may be sent during a secret rotation; any one counts.
            "webhook-signature": f"v1,bm9wZQ== {SW_SIGNATURE}",
        },
        schemes=frozenset({SignatureScheme.STANDARD_WEBHOOKS}),
        secret=SW_SECRET,
    )

    assert verified.scheme is SignatureScheme.STANDARD_WEBHOOKS
    assert verified.message_id == SW_ID
    assert verified.sent_at == datetime.fromtimestamp(SW_TIMESTAMP, UTC)


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-id": "msg_other", "webhook-timestamp": str(SW_TIMESTAMP)},
        {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TIMESTAMP + 1)},
        {"webhook-timestamp": str(SW_TIMESTAMP)},
        {"webhook-id": SW_ID, "webhook-timestamp": "soon"},
    ],
    ids=["other id", "other timestamp", "no id", "timestamp not a number"],
)
def test_standard_webhooks_binds_the_id_and_timestamp_into_the_signature(
    verifier: WebhookSignatureVerifier, headers: dict[str, str]
) -> None:
    with pytest.raises(WebhookSignatureInvalidError):
        verifier.verify(
            body=SW_BODY,
            headers={**headers, "webhook-signature": SW_SIGNATURE},
            schemes=frozenset({SignatureScheme.STANDARD_WEBHOOKS}),
            secret=SW_SECRET,
        )


def test_a_signature_of_a_scheme_the_integration_does_not_accept_is_no_signature(
    verifier: WebhookSignatureVerifier, ed25519_key: Ed25519PrivateKey
) -> None:
    with pytest.raises(WebhookUnsignedError, match="no signature this integration"):
        verifier.verify(
            body=BODY,
            headers={
                "x-ghl-signature": ed25519_header(ed25519_key, BODY),
                "x-webhook-signature": hmac_signature(HMAC_SECRET, BODY),
            },
            schemes=frozenset({SignatureScheme.STANDARD_WEBHOOKS}),
            secret=HMAC_SECRET,
        )


def test_no_signature_at_all_is_refused_whatever_is_accepted(
    verifier: WebhookSignatureVerifier,
) -> None:
    with pytest.raises(WebhookUnsignedError):
        verifier.verify(body=BODY, headers={}, schemes=ALL, secret=HMAC_SECRET)


def test_errors_never_carry_the_signature_or_the_secret(verifier: WebhookSignatureVerifier) -> None:
    header = hmac_signature(SecretStr("another-secret"), BODY)

    with pytest.raises(WebhookSignatureInvalidError) as caught:
        verifier.verify(
            body=BODY,
            headers={"x-webhook-signature": header},
            schemes=ALL,
            secret=HMAC_SECRET,
        )

    assert header not in str(caught.value)
    assert HMAC_SECRET.reveal() not in str(caught.value)


# --- the platform's app secret (X-Hub-Signature-256): the provider notes' worked example --------

APP_EXAMPLE = provider_reference("meta") / "examples" / "x-hub-signature-256-example.json"


def app_example() -> dict[str, Any]:
    example: dict[str, Any] = json.loads(APP_EXAMPLE.read_text())
    return example


def test_an_app_secret_signature_verifies_over_the_raw_bytes() -> None:
    example = app_example()
    verifier = WebhookSignatureVerifier(app_secret=SecretStr(example["app_secret"]))
    body = example["raw_body"].encode()
    header = example["expected_header"]["X-Hub-Signature-256"]

    verified = verifier.verify(
        body=body,
        headers={"x-hub-signature-256": header},
        schemes=frozenset({SignatureScheme.APP_HMAC_SHA256}),
        secret=None,
    )

    assert verified.scheme is SignatureScheme.APP_HMAC_SHA256
    assert app_hmac_signature(SecretStr(example["app_secret"]), body) == header


@pytest.mark.parametrize(
    "mangle",
    [
        lambda e: (json.dumps(json.loads(e["raw_body"]), indent=2) + "\n").encode(),
        lambda e: e["raw_body"].encode() + b" ",
    ],
    ids=["re-serialised", "one byte more"],
)
def test_an_app_secret_signature_over_other_bytes_is_refused(
    mangle: Callable[[dict[str, Any]], bytes],
) -> None:
    example = app_example()
    verifier = WebhookSignatureVerifier(app_secret=SecretStr(example["app_secret"]))

    with pytest.raises(WebhookSignatureInvalidError):
        verifier.verify(
            body=mangle(example),
            headers={"x-hub-signature-256": example["expected_header"]["X-Hub-Signature-256"]},
            schemes=frozenset({SignatureScheme.APP_HMAC_SHA256}),
            secret=None,
        )


@pytest.mark.parametrize("secret", [None, "another-app-secret"])
def test_an_app_secret_signature_needs_the_apps_own_secret(secret: str | None) -> None:
    example = app_example()
    verifier = WebhookSignatureVerifier(app_secret=None if secret is None else SecretStr(secret))

    with pytest.raises(WebhookSignatureInvalidError) as raised:
        verifier.verify(
            body=example["raw_body"].encode(),
            headers={"x-hub-signature-256": example["expected_header"]["X-Hub-Signature-256"]},
            schemes=frozenset({SignatureScheme.APP_HMAC_SHA256}),
            secret=None,
        )
    assert example["app_secret"] not in str(raised.value)


def test_an_app_secret_signature_is_not_accepted_where_the_scheme_is_not() -> None:
    example = app_example()
    verifier = WebhookSignatureVerifier(app_secret=SecretStr(example["app_secret"]))

    with pytest.raises(WebhookUnsignedError):
        verifier.verify(
            body=example["raw_body"].encode(),
            headers={"x-hub-signature-256": example["expected_header"]["X-Hub-Signature-256"]},
            schemes=GHL_SCHEMES,
            secret=HMAC_SECRET,
        )

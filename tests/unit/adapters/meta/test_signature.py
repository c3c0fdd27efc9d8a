"""Meta's X-Hub-Signature-256, checked with the worked example of the reference notes."""

from __future__ import annotations

import pytest

from adapters.meta.signature import (
    SIGNATURE_HEADER,
    app_signature,
    verify_app_signature,
)
from domain.errors import WebhookSignatureInvalidError, WebhookUnsignedError
from domain.values import SecretStr
from tests.support.meta import example

WORKED = example("x-hub-signature-256-example.json")
SECRET = SecretStr(WORKED["app_secret"])
BODY = WORKED["raw_body"].encode()
EXPECTED = WORKED["expected_header"]["X-Hub-Signature-256"]


def test_the_signature_of_the_worked_example_is_the_one_meta_sends() -> None:
    assert len(BODY) == WORKED["raw_body_length_bytes"]
    assert app_signature(SECRET, BODY) == EXPECTED
    assert SIGNATURE_HEADER == "X-Hub-Signature-256"


def test_the_worked_examples_signature_verifies() -> None:
    verify_app_signature(SECRET, BODY, EXPECTED)


def test_the_same_payload_serialised_differently_is_signed_differently() -> None:
    pretty = WORKED["same_payload_pretty_printed_with_indent_2_plus_newline_gives"]

    with pytest.raises(WebhookSignatureInvalidError):
        verify_app_signature(SECRET, BODY, pretty)


@pytest.mark.parametrize(
    "header",
    [
        WORKED["same_compact_body_signed_with_wrong_secret_gives"],
        EXPECTED.removeprefix("sha256="),
        EXPECTED.upper(),
        "sha1=" + EXPECTED.removeprefix("sha256="),
        EXPECTED + "0",
        "sha256=é",
    ],
)
def test_a_wrong_signature_is_invalid_and_not_unsigned(header: str) -> None:
    with pytest.raises(WebhookSignatureInvalidError) as raised:
        verify_app_signature(SECRET, BODY, header)

    assert not isinstance(raised.value, WebhookUnsignedError)


def test_a_signature_made_with_another_secret_is_invalid() -> None:
    forged = app_signature(SecretStr("not-the-app-secret"), BODY)

    with pytest.raises(WebhookSignatureInvalidError):
        verify_app_signature(SECRET, BODY, forged)


def test_a_changed_body_no_longer_verifies() -> None:
    with pytest.raises(WebhookSignatureInvalidError):
        verify_app_signature(SECRET, BODY + b" ", EXPECTED)


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_signature_is_unsigned(header: str | None) -> None:
    with pytest.raises(WebhookUnsignedError):
        verify_app_signature(SECRET, BODY, header)


def test_the_secret_never_appears_in_the_errors() -> None:
    with pytest.raises(WebhookSignatureInvalidError) as raised:
        verify_app_signature(SECRET, BODY, "sha256=00")

    assert SECRET.reveal() not in str(raised.value)

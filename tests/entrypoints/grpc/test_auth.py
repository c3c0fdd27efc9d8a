"""JwtAuthenticator and mint_token: HS256 secrets, JWKS files, claims, issuer and audience."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from domain.errors import UnauthenticatedError
from domain.values import Principal, Role
from entrypoints.auth import JwtAuthenticator, mint_token

SECRET = "0123456789abcdef0123456789abcdef-hs256"


def claims(**extra: Any) -> dict[str, Any]:
    return {
        "sub": "svc-bot",
        "role": "service",
        "sub_account_id": "sub-1",
        "exp": datetime.now(UTC) + timedelta(minutes=5),
        **extra,
    }


@pytest.fixture
def keys() -> dict[str, Any]:
    return {
        "es": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture
def jwks_file(tmp_path: Path, keys: dict[str, Any]) -> Path:
    entries = [
        {**ECAlgorithm.to_jwk(keys["es"].public_key(), as_dict=True), "kid": "es-1"},
        {**OKPAlgorithm.to_jwk(keys["ed"].public_key(), as_dict=True), "kid": "ed-1"},
        {**RSAAlgorithm.to_jwk(keys["rsa"].public_key(), as_dict=True), "kid": "rsa-1"},
    ]
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": entries}))
    return path


def test_a_minted_token_authenticates_as_its_principal() -> None:
    token = mint_token(
        SECRET, subject="u-1", role="user", sub_account_id="sub-1", ttl=timedelta(minutes=1)
    )

    principal = JwtAuthenticator(hs256_secret=SECRET).authenticate(f"Bearer {token}")

    assert principal == Principal(subject="u-1", role=Role.USER, sub_account_id="sub-1")


def test_the_bearer_scheme_is_case_insensitive() -> None:
    token = mint_token(
        SECRET, subject="a", role=Role.ADMIN, sub_account_id=None, ttl=timedelta(minutes=1)
    )

    assert JwtAuthenticator(hs256_secret=SECRET).authenticate(f"bearer {token}").is_admin


@pytest.mark.parametrize(("kid", "key"), [("es-1", "es"), ("ed-1", "ed"), ("rsa-1", "rsa")])
def test_a_token_signed_by_a_jwks_key_authenticates(
    jwks_file: Path, keys: dict[str, Any], kid: str, key: str
) -> None:
    algorithm = {"es": "ES256", "ed": "EdDSA", "rsa": "RS256"}[key]
    token = jwt.encode(claims(), keys[key], algorithm=algorithm, headers={"kid": kid})

    principal = JwtAuthenticator(jwks_file=jwks_file).authenticate(f"Bearer {token}")

    assert principal == Principal(subject="svc-bot", role=Role.SERVICE, sub_account_id="sub-1")


def test_a_token_naming_an_unknown_key_is_refused(jwks_file: Path, keys: dict[str, Any]) -> None:
    token = jwt.encode(claims(), keys["es"], algorithm="ES256", headers={"kid": "es-2"})

    with pytest.raises(UnauthenticatedError, match="unknown key"):
        JwtAuthenticator(jwks_file=jwks_file).authenticate(f"Bearer {token}")


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(jwks_file: Path) -> None:
    impostor = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), impostor, algorithm="ES256", headers={"kid": "es-1"})

    with pytest.raises(UnauthenticatedError, match="not valid"):
        JwtAuthenticator(jwks_file=jwks_file).authenticate(f"Bearer {token}")


def test_an_hmac_token_keyed_with_a_jwks_public_key_is_refused(
    jwks_file: Path, keys: dict[str, Any]
) -> None:
    # The algorithm-confusion attack: sign with HS256, using the public key as the secret.
    public_pem = (
        keys["es"].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "es-1"}).encode())
    payload = _b64(json.dumps({**claims(), "exp": int(claims()["exp"].timestamp())}).encode())
    signature = _b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())

    with pytest.raises(UnauthenticatedError, match="not valid"):
        JwtAuthenticator(jwks_file=jwks_file).authenticate(f"Bearer {header}.{payload}.{signature}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_jwks_file_with_one_key_needs_no_kid(tmp_path: Path, keys: dict[str, Any]) -> None:
    path = tmp_path / "one.json"
    path.write_text(
        json.dumps({"keys": [ECAlgorithm.to_jwk(keys["es"].public_key(), as_dict=True)]})
    )
    token = jwt.encode(claims(), keys["es"], algorithm="ES256")

    assert JwtAuthenticator(jwks_file=path).authenticate(f"Bearer {token}").subject == "svc-bot"


def test_a_jwks_file_holding_an_hmac_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "oct.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}))

    with pytest.raises(ValueError, match="HS256"):
        JwtAuthenticator(jwks_file=path)


def test_issuer_and_audience_are_checked_when_configured() -> None:
    authenticator = JwtAuthenticator(
        hs256_secret=SECRET, issuer="https://id.example", audience="integrations"
    )
    good = mint_token(
        SECRET,
        subject="a",
        role="admin",
        sub_account_id=None,
        ttl=timedelta(minutes=1),
        issuer="https://id.example",
        audience="integrations",
    )
    wrong_audience = mint_token(
        SECRET,
        subject="a",
        role="admin",
        sub_account_id=None,
        ttl=timedelta(minutes=1),
        issuer="https://id.example",
        audience="billing",
    )
    no_issuer = mint_token(
        SECRET,
        subject="a",
        role="admin",
        sub_account_id=None,
        ttl=timedelta(minutes=1),
        audience="integrations",
    )

    assert authenticator.authenticate(f"Bearer {good}").is_admin
    for token in (wrong_audience, no_issuer):
        with pytest.raises(UnauthenticatedError):
            authenticator.authenticate(f"Bearer {token}")


def test_a_token_expired_within_the_leeway_is_still_accepted() -> None:
    token = mint_token(
        SECRET,
        subject="a",
        role="admin",
        sub_account_id=None,
        ttl=timedelta(seconds=10),
        now=datetime.now(UTC) - timedelta(seconds=20),
    )

    assert JwtAuthenticator(hs256_secret=SECRET).authenticate(f"Bearer {token}").is_admin
    with pytest.raises(UnauthenticatedError, match="expired"):
        JwtAuthenticator(hs256_secret=SECRET, leeway=timedelta(0)).authenticate(f"Bearer {token}")


def test_a_short_hmac_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        JwtAuthenticator(hs256_secret="too-short")


def test_exactly_one_key_source_is_required(jwks_file: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        JwtAuthenticator()
    with pytest.raises(ValueError, match="exactly one"):
        JwtAuthenticator(hs256_secret=SECRET, jwks_file=jwks_file)


def test_minting_a_user_token_without_a_sub_account_is_refused() -> None:
    with pytest.raises(ValueError, match="sub_account_id"):
        mint_token(SECRET, subject="u", role="user", sub_account_id=None, ttl=timedelta(minutes=1))


def test_the_error_never_echoes_the_token() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

    with pytest.raises(UnauthenticatedError) as caught:
        JwtAuthenticator(hs256_secret=SECRET).authenticate(f"Bearer {token}")

    assert token not in str(caught.value)
    assert "c2lnbmF0dXJl" not in caught.value.message

"""Authentication: verifying callers' JWTs (PyJWT), minting dev tokens, and the callers known by
their client certificate (mutual TLS)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from domain.errors import UnauthenticatedError
from domain.values import Principal, Role

_HMAC_ALGORITHM = "HS256"
# Asymmetric algorithms accepted from a JWKS file. HMAC keys are refused there, so a public key
# can never be used as an HMAC secret (algorithm confusion).
_JWKS_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32
_SCHEME = "bearer"
_ROLES = frozenset(r.value for r in Role)
_VERIFIED_MAX = 10_000


@dataclass(frozen=True, slots=True)
class _VerificationKey:
    algorithm: str
    key: Any


class JwtAuthenticator:
    """Turns an `authorization: Bearer <JWT>` header into a Principal.

    Tokens are signed either with HS256 and a shared secret, or with RS256/ES256/EdDSA and one
    of the keys of a JWKS file (chosen by the token's `kid`; a file of one key needs none). The
    claims `sub`, `role` (admin, user or service) and `exp` are required, and `sub_account_id`
    too for users and services; `iss` and `aud` are checked when configured. Every failure is an
    UnauthenticatedError whose message says what was wrong without echoing the token.
    """

    def __init__(
        self,
        *,
        hs256_secret: str | bytes | None = None,
        jwks_file: Path | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: timedelta = timedelta(seconds=30),
    ) -> None:
        self._keys: dict[str | None, _VerificationKey]
        if hs256_secret is not None and jwks_file is None:
            self._keys = {None: _VerificationKey(_HMAC_ALGORITHM, _secret_bytes(hs256_secret))}
        elif jwks_file is not None and hs256_secret is None:
            self._keys = _load_jwks(jwks_file)
        else:
            raise ValueError("give exactly one of hs256_secret and jwks_file")
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        # Tokens already verified, until they expire: a caller sends the same token with every
        # call, and checking it again costs as much as a read RPC's own work.
        self._verified: dict[str, tuple[float, Principal]] = {}

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller named by the header's token; raises UnauthenticatedError if it is absent,
        malformed, badly signed, expired, or lacks a required claim."""
        token = _bearer_token(authorization)
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[0]:
            return cached[1]
        principal, expires = self._verify(token)
        if len(self._verified) >= _VERIFIED_MAX:  # bounded: unknown tokens must not grow it
            self._verified.clear()
        self._verified[token] = (expires, principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The token's principal, and until when PyJWT would accept it (its expiry + leeway)."""
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "require": ["exp", "sub"],
                    "verify_aud": self._audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as err:
            raise UnauthenticatedError("the bearer token has expired") from err
        except jwt.MissingRequiredClaimError as err:
            raise UnauthenticatedError(f"the bearer token lacks the {err.claim!r} claim") from err
        except jwt.PyJWTError as err:
            raise UnauthenticatedError("the bearer token is not valid") from err
        return _principal(claims), float(claims["exp"]) + self._leeway.total_seconds()

    def _key_for(self, token: str) -> _VerificationKey:
        if None in self._keys:
            return self._keys[None]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as err:
            raise UnauthenticatedError("the bearer token is not valid") from err
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise UnauthenticatedError("the bearer token is signed with an unknown key")
        return key


class CertificateIdentities:
    """The callers admitted by their client certificate alone, from an allow-list of
    `identity=role` entries: `admin` (every sub-account) or `service:<sub_account_id>` (one).

    An identity is what gRPC names a verified client certificate by: each of its subject
    alternative names (DNS names, URIs such as SPIFFE ids, emails, IP addresses) if it has any,
    else its subject's common name. A certificate whose identity is not on the list gets no
    principal: its caller must send a bearer token like any other."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self._principals = principals

    @classmethod
    def parse(cls, text: str) -> CertificateIdentities:
        """Comma-separated entries, e.g. `backend.internal=admin,spiffe://corp/crm=service:sa-1`;
        ValueError names the first malformed one."""
        principals: dict[str, Principal] = {}
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            identity, _, grant = entry.rpartition("=")
            identity = identity.strip()
            role, _, sub_account_id = grant.strip().partition(":")
            if not identity:
                raise ValueError(f"entry {entry!r} must read identity=admin or identity=service:ID")
            if role == Role.ADMIN and not sub_account_id:
                principals[identity] = Principal(subject=identity, role=Role.ADMIN)
            elif role == Role.SERVICE and sub_account_id:
                principals[identity] = Principal(
                    subject=identity, role=Role.SERVICE, sub_account_id=sub_account_id
                )
            else:
                raise ValueError(
                    f"the role of {identity!r} must be admin or service:<sub_account_id>"
                )
        if not principals:
            raise ValueError("the list names no identity")
        return cls(principals)

    def principal(self, identities: Iterable[bytes] | None) -> Principal | None:
        """The principal of the first of a certificate's identities on the list, if any."""
        for identity in identities or ():
            principal = self._principals.get(identity.decode("utf-8", "replace"))
            if principal is not None:
                return principal
        return None


def mint_token(
    secret: str | bytes,
    *,
    subject: str,
    role: Role | str,
    sub_account_id: str | None,
    ttl: timedelta,
    issuer: str | None = None,
    audience: str | None = None,
    now: datetime | None = None,
) -> str:
    """An HS256 token that JwtAuthenticator(hs256_secret=secret) accepts (for development and
    tests: production tokens come from the platform's identity provider)."""
    role = Role(role)
    if role is not Role.ADMIN and not sub_account_id:
        raise ValueError(f"a {role} token needs a sub_account_id")
    if not subject:
        raise ValueError("a token needs a subject")
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "role": str(role),
        "iat": issued,
        "exp": issued + ttl,
    }
    if sub_account_id:
        claims["sub_account_id"] = sub_account_id
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, _secret_bytes(secret), algorithm=_HMAC_ALGORITHM)


def _secret_bytes(secret: str | bytes) -> bytes:
    raw = secret.encode() if isinstance(secret, str) else secret
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(f"an HS256 secret must be at least {MIN_SECRET_BYTES} bytes long")
    return raw


def _load_jwks(path: Path) -> dict[str | None, _VerificationKey]:
    """Every usable public key of a JWKS file, by key id; a file of one key may omit the id."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read the JWKS file {path}: {err}") from err
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"the JWKS file {path} holds no keys")
    keys: dict[str | None, _VerificationKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(entry)
        except jwt.PyJWTError as err:
            raise ValueError(f"the JWKS file {path} holds an unusable key: {err}") from err
        if jwk.algorithm_name not in _JWKS_ALGORITHMS:
            raise ValueError(
                f"the JWKS file {path} holds a {jwk.algorithm_name} key; "
                f"allowed: {', '.join(sorted(_JWKS_ALGORITHMS))}"
            )
        keys[jwk.key_id] = _VerificationKey(jwk.algorithm_name, jwk)
    if not keys:
        raise ValueError(f"the JWKS file {path} holds no signing keys")
    if None in keys and len(keys) > 1:
        raise ValueError(f"the JWKS file {path} holds several keys, so each needs a 'kid'")
    return keys


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise UnauthenticatedError("a bearer token is required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != _SCHEME or not token.strip():
        raise UnauthenticatedError("the authorization header must read 'Bearer <token>'")
    return token.strip()


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnauthenticatedError("the bearer token's 'sub' claim must be a non-empty string")
    role_claim = claims.get("role")
    if not isinstance(role_claim, str) or role_claim not in _ROLES:
        raise UnauthenticatedError("the bearer token's 'role' claim must be admin, user or service")
    role = Role(role_claim)
    sub_account_id = claims.get("sub_account_id")
    if sub_account_id is not None and not isinstance(sub_account_id, str):
        raise UnauthenticatedError("the bearer token's 'sub_account_id' claim must be a string")
    if role is not Role.ADMIN and not sub_account_id:
        raise UnauthenticatedError(f"a {role} token needs a 'sub_account_id' claim")
    return Principal(subject=subject, role=role, sub_account_id=sub_account_id or None)

"""The secrets of a sign-in: the state that ties a callback to its session, and the PKCE
verifier and challenge (RFC 7636, S256), as OAuth 2.0 Security BCP (RFC 9700) asks."""

from __future__ import annotations

import base64
import hashlib
import secrets

# 32 random bytes: the state and the verifier are each as hard to guess as a 256-bit key.
_ENTROPY_BYTES = 32


def new_state() -> str:
    return secrets.token_urlsafe(_ENTROPY_BYTES)


def state_digest(state: str) -> str:
    """What a session keeps of its state: the callback's state is looked up by it, so that a
    copy of the database cannot answer a callback."""
    return hashlib.sha256(state.encode()).hexdigest()


def new_code_verifier() -> str:
    """43 characters of the unreserved alphabet (RFC 7636 §4.1 allows 43 to 128)."""
    return secrets.token_urlsafe(_ENTROPY_BYTES)


def code_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding (the S256 method)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

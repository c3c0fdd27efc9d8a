"""The state and PKCE rules of a sign-in (RFC 7636, RFC 9700)."""

from __future__ import annotations

import re

from application.connect_policy import ConnectPolicy, with_outcome
from application.connect_security import (
    code_challenge,
    new_code_verifier,
    new_state,
    state_digest,
)

_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def test_the_s256_challenge_is_rfc_7636s_example() -> None:
    # RFC 7636, Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_verifier_is_43_to_128_unreserved_characters_and_never_repeats() -> None:
    verifiers = {new_code_verifier() for _ in range(200)}

    assert len(verifiers) == 200
    assert all(43 <= len(v) <= 128 and _UNRESERVED.fullmatch(v) for v in verifiers)


def test_states_carry_256_bits_and_never_repeat() -> None:
    states = {new_state() for _ in range(200)}

    assert len(states) == 200
    assert all(len(s) >= 43 and _UNRESERVED.fullmatch(s) for s in states)


def test_a_session_keeps_a_digest_of_its_state_not_the_state() -> None:
    state = new_state()
    digest = state_digest(state)

    assert state not in digest
    assert digest == state_digest(state)
    assert digest != state_digest(state + "x")


def test_return_urls_are_matched_exactly() -> None:
    policy = ConnectPolicy(
        public_base_url="https://integrations.example/",
        return_urls=("https://app.example/connected", "https://app.example/cb?tab=crm"),
    )

    assert policy.allows("https://app.example/connected")
    assert policy.allows("https://app.example/cb?tab=crm")
    for near in (
        "https://app.example/connected/",
        "https://app.example/connected?next=https://evil.example",
        "https://app.example/Connected",
        "https://app.example.evil.example/connected",
        "http://app.example/connected",
        "https://app.example/cb",
    ):
        assert not policy.allows(near), near
    assert policy.callback_url("acme") == "https://integrations.example/oauth/acme/callback"
    assert policy.fallback_url == "https://app.example/connected"


def test_the_outcome_is_appended_to_the_return_urls_query() -> None:
    assert (
        with_outcome("https://app.example/cb?tab=crm", {"state": "failed", "error": "x y"})
        == "https://app.example/cb?tab=crm&state=failed&error=x+y"
    )
    assert with_outcome("https://app.example/cb", {"state": "connected"}) == (
        "https://app.example/cb?state=connected"
    )

"""The rules of a sign-in's session: claimed once, before its expiry; ended once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.connection_session import (
    AccountChoice,
    ConnectFailure,
    ConnectionSession,
    SessionStatus,
)
from domain.errors import InvalidTransitionError
from domain.values import EncryptedSecret

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def session() -> ConnectionSession:
    return ConnectionSession(
        id="s" * 32,
        sub_account_id="sa-1",
        template_name="acme_crm",
        provider="acme",
        display_name="CRM",
        return_url="https://app.example/back",
        state_digest="d" * 64,
        created_by="user-1",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
        code_verifier=EncryptedSecret("sealed-verifier"),
    )


def test_a_pending_session_is_claimed_once() -> None:
    s = session()

    assert s.claim(NOW) is None
    assert s.status is SessionStatus.EXCHANGING
    assert s.claim(NOW) is ConnectFailure.SESSION_USED


def test_an_expired_session_cannot_be_claimed_and_fails() -> None:
    s = session()

    assert s.claim(NOW + timedelta(minutes=10)) is ConnectFailure.SESSION_EXPIRED
    assert s.status is SessionStatus.FAILED
    assert s.failure is ConnectFailure.SESSION_EXPIRED
    assert s.claim(NOW) is ConnectFailure.SESSION_USED


def test_an_ended_session_forgets_its_secrets_and_ends_once() -> None:
    s = session()
    s.claim(NOW)
    s.await_choice((AccountChoice("a", "A"), AccountChoice("b", "B")), {"t": EncryptedSecret("x")})
    s.begin_choice(NOW)
    s.connect(("int-1",), now=NOW)

    assert (s.status, s.integration_ids, s.completed_at) == (
        SessionStatus.CONNECTED,
        ("int-1",),
        NOW,
    )
    assert s.grant == {}
    assert s.code_verifier is None
    with pytest.raises(InvalidTransitionError):
        s.fail(ConnectFailure.INTERNAL, now=NOW)


def test_accounts_are_chosen_once_and_only_while_choosing() -> None:
    s = session()
    with pytest.raises(InvalidTransitionError):
        s.begin_choice(NOW)
    s.claim(NOW)
    s.await_choice((AccountChoice("a", "A"),), {})
    s.begin_choice(NOW)

    with pytest.raises(InvalidTransitionError):
        s.begin_choice(NOW)


def test_a_choice_after_the_expiry_fails_the_session() -> None:
    s = session()
    s.claim(NOW)
    s.await_choice((AccountChoice("a", "A"),), {"t": EncryptedSecret("x")})

    s.begin_choice(NOW + timedelta(hours=1))

    assert s.status is SessionStatus.FAILED
    assert s.failure is ConnectFailure.SESSION_EXPIRED
    assert s.grant == {}


def test_a_session_connects_only_while_exchanging() -> None:
    with pytest.raises(InvalidTransitionError):
        session().connect(("int-1",), now=NOW)


def test_only_a_session_left_exchanging_past_its_expiry_gives_up() -> None:
    grace = timedelta(minutes=5)
    pending, exchanging = session(), session()
    exchanging.claim(NOW)
    late = NOW + timedelta(minutes=15)

    assert not pending.give_up_if_stalled(late, grace=grace)
    assert not exchanging.give_up_if_stalled(NOW + timedelta(minutes=14), grace=grace)
    assert exchanging.give_up_if_stalled(late, grace=grace)
    assert exchanging.failure is ConnectFailure.INTERNAL

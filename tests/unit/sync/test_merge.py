"""Merging unpushed local changes with the provider's version, field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.sync_merge import FieldConflict, Side, merge

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOCAL_AT = {"email": T0, "phone": T0}


def test_a_field_only_the_provider_changed_takes_the_providers_value() -> None:
    result = merge(
        remote={"email": "a@x.com", "city": "Austin"},
        pending={"email": "a@x.com"},
        base={"email": "old@x.com"},
        local_changed_at={"email": T0},
        remote_changed_at=T0 + timedelta(minutes=1),
    )

    assert result.values == {"email": "a@x.com", "city": "Austin"}
    assert result.pending == {}
    assert result.conflicts == ()


def test_a_field_only_this_side_changed_stays_pending_over_the_providers_value() -> None:
    result = merge(
        remote={"email": "old@x.com", "city": "Austin"},
        pending={"email": "new@x.com"},
        base={"email": "old@x.com"},
        local_changed_at={"email": T0},
        remote_changed_at=T0 + timedelta(minutes=5),
    )

    assert result.values == {"email": "new@x.com", "city": "Austin"}
    assert result.pending == {"email": "new@x.com"}
    assert result.base == {"email": "old@x.com"}
    assert result.conflicts == ()


def test_a_field_both_changed_goes_to_the_newer_change_field_by_field() -> None:
    result = merge(
        remote={"email": "theirs@x.com", "phone": "+1 555 0100"},
        pending={"email": "mine@x.com", "phone": "+1 555 0199"},
        base={"email": "old@x.com", "phone": "+1 555 0000"},
        local_changed_at={"email": T0 + timedelta(minutes=2), "phone": T0},
        remote_changed_at=T0 + timedelta(minutes=1),
    )

    assert result.values == {"email": "mine@x.com", "phone": "+1 555 0100"}
    assert result.pending == {"email": "mine@x.com"}
    assert result.base == {"email": "theirs@x.com"}
    assert result.conflicts == (
        FieldConflict("email", "mine@x.com", "theirs@x.com", Side.LOCAL),
        FieldConflict("phone", "+1 555 0199", "+1 555 0100", Side.REMOTE),
    )


def test_both_sides_making_the_same_change_is_no_conflict() -> None:
    result = merge(
        remote={"email": "same@x.com"},
        pending={"email": "same@x.com"},
        base={"email": "old@x.com"},
        local_changed_at={"email": T0},
        remote_changed_at=T0 + timedelta(minutes=1),
    )

    assert result.pending == {}
    assert result.conflicts == ()


def test_a_provider_change_of_unknown_time_loses_to_the_local_one() -> None:
    result = merge(
        remote={"email": "theirs@x.com"},
        pending={"email": "mine@x.com"},
        base={"email": "old@x.com"},
        local_changed_at=LOCAL_AT,
        remote_changed_at=None,
    )

    assert result.pending == {"email": "mine@x.com"}
    assert [c.winner for c in result.conflicts] == [Side.LOCAL]

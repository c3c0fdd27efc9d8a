"""Value objects: secrets that cannot leak through formatting, and principals."""

from __future__ import annotations

from domain.values import EncryptedSecret, Principal, Role, SecretStr


def test_a_secret_never_shows_its_value_when_formatted() -> None:
    secret = SecretStr("pit-0123456789abcdef")
    assert "0123456789" not in f"{secret} {secret!r} {[secret]} { ({'k': secret}) }"
    assert secret.reveal() == "pit-0123456789abcdef"


def test_a_secret_hints_its_last_four_characters_only_when_long_enough() -> None:
    assert SecretStr("pit-0123456789abcdef").hint() == "cdef"
    assert SecretStr("short-secret"[:11]).hint() == ""


def test_an_encrypted_secret_masks_itself_and_names_its_key() -> None:
    secret = EncryptedSecret("v1.dk-42.payload", "1a2b")
    assert secret.masked() == "••••1a2b"
    assert secret.key_id == "dk-42"
    assert "payload" not in repr(secret)


def test_admins_reach_every_sub_account_and_others_only_their_own() -> None:
    admin = Principal("a", Role.ADMIN)
    user = Principal("u", Role.USER, "sa-1")
    assert admin.can_access("sa-9")
    assert user.can_access("sa-1")
    assert not user.can_access("sa-2")

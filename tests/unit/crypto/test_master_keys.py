"""Master key rings: parsing the environment and key files, wrapping data keys."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.crypto.master_keys import MasterKeyError, MasterKeyRing, generate_master_key
from application.ports import WrappedDataKey
from domain.errors import SecretUnreadableError

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(100, 132))).decode()
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_keyring_parses_entries_newest_first() -> None:
    ring = MasterKeyRing.parse(f"k2:{KEY_B}, k1:{KEY_A}")

    assert ring.newest_id == "k2"
    assert ring.key_ids == ("k2", "k1")


def test_generated_master_keys_parse_and_differ() -> None:
    first, second = generate_master_key(), generate_master_key()

    ring = MasterKeyRing.parse(f"{second},{first}")

    assert ring.key_ids == (second.split(":")[0], first.split(":")[0])
    assert first.split(":")[1] != second.split(":")[1]
    assert len(base64.b64decode(first.split(":")[1])) == 32


def test_a_generated_key_id_is_short_and_starts_with_its_creation_time() -> None:
    key_id = generate_master_key(WHEN).split(":")[0]

    assert key_id.startswith("20260101T000000-")
    assert len(key_id) <= 24


def test_a_key_file_holds_one_entry_per_line_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "master.keys"
    path.write_text(f"# rotated 2026-01-01\nk2:{KEY_B}\n\n   # old\nk1:{KEY_A}\n")

    ring = MasterKeyRing.from_file(path)

    assert ring.key_ids == ("k2", "k1")


def test_a_missing_key_file_is_reported_by_path(tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match=r"missing\.keys"):
        MasterKeyRing.from_file(tmp_path / "missing.keys")


def test_a_key_file_that_is_not_text_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "binary.keys"
    path.write_bytes(b"k1:\xff\xfe" + bytes(range(32)))

    with pytest.raises(MasterKeyError) as excinfo:
        MasterKeyRing.from_file(path)

    assert "xff" not in str(excinfo.value)
    assert excinfo.value.__cause__ is None


@pytest.mark.parametrize(
    ("value", "material"),
    [
        pytest.param(KEY_A, KEY_A, id="no key id"),
        pytest.param(f"k1:{KEY_A[:-4]}", KEY_A[:-4], id="too short"),
        pytest.param(
            f"k1:{base64.b64encode(bytes(range(33))).decode()}",
            base64.b64encode(bytes(range(33))).decode(),
            id="too long",
        ),
        pytest.param(f"k1:{KEY_A[:-1]}!", KEY_A[:-1], id="not base64"),
        pytest.param(f":{KEY_A}", KEY_A, id="empty key id"),
        pytest.param(f"k 1:{KEY_A}", KEY_A, id="bad key id"),
        pytest.param(f"k1:{KEY_A},k1:{KEY_B}", KEY_B, id="duplicate key id"),
        pytest.param(f"k1:{KEY_A},", KEY_A, id="trailing comma"),
        pytest.param("", "", id="empty"),
    ],
)
def test_a_bad_master_key_setting_is_refused_without_echoing_key_material(
    value: str, material: str
) -> None:
    with pytest.raises(MasterKeyError) as excinfo:
        MasterKeyRing.parse(value)

    message = str(excinfo.value)
    assert message
    for secret in {material, KEY_A, KEY_B} - {""}:
        assert secret[:8] not in message
    assert excinfo.value.__cause__ is None


def test_errors_name_the_offending_entry() -> None:
    with pytest.raises(MasterKeyError, match="entry 2"):
        MasterKeyRing.parse(f"k2:{KEY_B},k1:{KEY_A[:-4]}")


def test_the_repr_of_a_keyring_shows_key_ids_only() -> None:
    ring = MasterKeyRing.parse(f"k1:{KEY_A}")

    assert "k1" in repr(ring)
    assert KEY_A[:8] not in repr(ring)


def test_a_data_key_unwraps_to_what_was_wrapped() -> None:
    ring = MasterKeyRing.parse(f"k1:{KEY_A}")

    wrapped, raw = ring.new_data_key(key_id="dk-1", sub_account_id="sub-a", created_at=WHEN)

    assert wrapped.master_key_id == "k1"
    assert raw not in wrapped.wrapped
    assert ring.unwrap(wrapped) == raw


@pytest.mark.parametrize(
    "relabel",
    [
        lambda k: dataclasses.replace(k, sub_account_id="sub-b"),
        lambda k: dataclasses.replace(k, key_id="dk-2"),
    ],
    ids=["another sub-account", "another key id"],
)
def test_a_wrapped_data_key_relabelled_for_another_key_or_tenant_does_not_unwrap(
    relabel: Callable[[WrappedDataKey], WrappedDataKey],
) -> None:
    ring = MasterKeyRing.parse(f"k1:{KEY_A}")
    wrapped, _ = ring.new_data_key(key_id="dk-1", sub_account_id="sub-a", created_at=WHEN)

    with pytest.raises(SecretUnreadableError):
        ring.unwrap(relabel(wrapped))


def test_a_data_key_wrapped_by_an_unknown_master_key_is_unreadable() -> None:
    old = MasterKeyRing.parse(f"k1:{KEY_A}")
    wrapped, _ = old.new_data_key(key_id="dk-1", sub_account_id="sub-a", created_at=WHEN)

    with pytest.raises(SecretUnreadableError, match="not configured") as excinfo:
        MasterKeyRing.parse(f"k2:{KEY_B}").unwrap(wrapped)

    assert KEY_A[:8] not in str(excinfo.value)

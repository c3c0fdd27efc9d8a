"""Settings.from_env: the read pool's size."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrypoints.config import ConfigurationError, Settings


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"INTEGRATIONS_DATA_DIR": str(tmp_path), **extra}


def test_the_read_pool_holds_ten_connections_unless_told_otherwise(tmp_path: Path) -> None:
    assert Settings.from_env(_env(tmp_path)).read_pool_size == 10
    assert Settings.from_env(_env(tmp_path, READ_POOL_SIZE="4")).read_pool_size == 4


@pytest.mark.parametrize("size", ["0", "-1", "many"])
def test_a_read_pool_size_that_is_not_a_positive_integer_is_refused(
    tmp_path: Path, size: str
) -> None:
    with pytest.raises(ConfigurationError, match="READ_POOL_SIZE"):
        Settings.from_env(_env(tmp_path, READ_POOL_SIZE=size))

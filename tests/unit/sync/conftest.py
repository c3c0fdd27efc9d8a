"""Fixtures of the sync unit tests."""

from __future__ import annotations

import pytest

from tests.unit.sync.support import Sync, make_sync


@pytest.fixture
async def app() -> Sync:
    return await make_sync()

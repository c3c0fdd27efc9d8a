"""Fixtures of the webhook handler tests."""

from __future__ import annotations

import pytest

from tests.unit.webhook_handlers.support import App, make_app


@pytest.fixture
async def app() -> App:
    return await make_app()

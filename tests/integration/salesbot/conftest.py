"""The fake sales bot on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from tests.integration.salesbot.fake_bot import FakeBot, create_bot_app


@pytest.fixture
def bot() -> FakeBot:
    return FakeBot()


@pytest.fixture
async def bot_url(bot: FakeBot) -> AsyncIterator[str]:
    server = TestServer(create_bot_app(bot), host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("/reply"))
    await server.close()

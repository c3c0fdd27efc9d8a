"""HttpSalesBot against a local fake bot: the JSON contract, and failures that retry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.salesbot import HttpSalesBot
from application.ports import BotContact, ReplyContext
from domain.errors import ConnectionFailedError, ProviderError
from domain.values import SecretStr
from tests.integration.salesbot.fake_bot import FakeBot

CONTEXT = ReplyContext(
    sub_account_id="sa-1",
    integration_id="int-1",
    contact=BotContact(
        external_id="contact-1",
        lead_id="lead-1",
        first_name="Ada",
        timezone="America/Chicago",
        strategy_id="st-fast",
    ),
    message="Do you have a slot on Friday?",
    channel="SMS",
    conversation_id="conv-1",
)


@pytest.fixture
async def sales_bot(bot_url: str) -> AsyncIterator[HttpSalesBot]:
    client = HttpSalesBot(bot_url, token=SecretStr("bot-token-123"), timeout_seconds=0.5)
    yield client
    await client.close()


async def test_the_bot_gets_the_message_and_its_contact_and_its_reply_comes_back(
    sales_bot: HttpSalesBot, bot: FakeBot
) -> None:
    reply = await sales_bot.reply(CONTEXT)

    assert reply == bot.reply
    assert bot.requests == [
        {
            "sub_account_id": "sa-1",
            "integration_id": "int-1",
            "contact": {
                "external_id": "contact-1",
                "lead_id": "lead-1",
                "first_name": "Ada",
                "last_name": None,
                "email": None,
                "phone": None,
                "company": None,
                "timezone": "America/Chicago",
                "status": None,
                "assigned_user_id": None,
                "strategy_id": "st-fast",
            },
            "message": "Do you have a slot on Friday?",
            "channel": "SMS",
            "conversation_id": "conv-1",
        }
    ]
    assert bot.authorizations == ["Bearer bot-token-123"]


@pytest.mark.parametrize("silence", [None, "", "   "])
async def test_a_null_or_empty_reply_means_no_answer(
    sales_bot: HttpSalesBot, bot: FakeBot, silence: str | None
) -> None:
    bot.reply = silence

    assert await sales_bot.reply(CONTEXT) is None


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_bot_failing_on_its_side_raises_connection_failed(
    sales_bot: HttpSalesBot, bot: FakeBot, status: int
) -> None:
    bot.status = status

    with pytest.raises(ConnectionFailedError, match=str(status)):
        await sales_bot.reply(CONTEXT)


async def test_a_bot_refusing_the_request_raises_a_provider_error(
    sales_bot: HttpSalesBot, bot: FakeBot
) -> None:
    bot.status = 422

    with pytest.raises(ProviderError, match="422") as caught:
        await sales_bot.reply(CONTEXT)
    assert not isinstance(caught.value, ConnectionFailedError)


async def test_a_bot_too_slow_to_answer_raises_connection_failed(
    sales_bot: HttpSalesBot, bot: FakeBot
) -> None:
    bot.delay = 2.0

    with pytest.raises(ConnectionFailedError, match="cannot be reached"):
        await sales_bot.reply(CONTEXT)


@pytest.mark.parametrize(
    "raw", [b"<html>oops</html>", b'{"answer": "hi"}', b'{"reply": 42}', b"[]"]
)
async def test_an_answer_off_the_contract_raises_connection_failed(
    sales_bot: HttpSalesBot, bot: FakeBot, raw: bytes
) -> None:
    bot.raw = raw

    with pytest.raises(ConnectionFailedError):
        await sales_bot.reply(CONTEXT)


async def test_a_bot_nobody_listens_for_raises_connection_failed() -> None:
    client = HttpSalesBot("http://127.0.0.1:9/reply", timeout_seconds=0.5)
    try:
        with pytest.raises(ConnectionFailedError, match="cannot be reached") as caught:
            await client.reply(CONTEXT)
    finally:
        await client.close()
    assert "Friday" not in str(caught.value)

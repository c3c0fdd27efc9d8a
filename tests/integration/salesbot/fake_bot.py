"""A fake sales bot: an aiohttp server that answers the HttpSalesBot contract, scripted."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeBot:
    """Answers ``{"reply": reply}``; `status`, `raw` and `delay` script other answers."""

    reply: str | None = "Happy to help! Does Friday at 10am work?"
    status: int = 200
    raw: bytes | None = None
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)


FAKE_BOT = web.AppKey("fake_bot", FakeBot)


async def _answer(request: web.Request) -> web.Response:
    bot = request.app[FAKE_BOT]
    bot.requests.append(await request.json())
    bot.authorizations.append(request.headers.get("Authorization"))
    if bot.delay:
        await asyncio.sleep(bot.delay)
    if bot.raw is not None:
        return web.Response(body=bot.raw, status=bot.status, content_type="application/json")
    return web.json_response({"reply": bot.reply}, status=bot.status)


def create_bot_app(bot: FakeBot) -> web.Application:
    app = web.Application()
    app[FAKE_BOT] = bot
    app.router.add_post("/reply", _answer)
    return app

"""``GET /oauth/{provider}/callback``: where a provider sends the browser back after sign-in."""

from __future__ import annotations

import structlog
from aiohttp import web

from application.use_cases.complete_connection import CompleteConnection
from entrypoints.webhooks.handlers import Handler

# The callback's URL holds a code: no cache keeps the answer, and the page the browser goes
# to next is not told where it came from.
_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}
log = structlog.get_logger(__name__)
_NOWHERE = "This sign-in link is not valid, or was already used. Start connecting again."


def callback_route(complete: CompleteConnection, provider: str) -> Handler:
    """The outcome of the sign-in, as a redirect (303) to the session's return URL; 400 with a
    plain sentence when the session is unknown and no return URL is allowed to receive it.
    The query (state, code) is never logged."""

    async def answer(request: web.Request) -> web.StreamResponse:
        params = {key: request.query.getone(key) for key in request.query}
        outcome = await complete.execute(provider, params)
        log.info("connect_callback", provider=provider, state=outcome.state, error=outcome.error)
        if outcome.redirect_url is None:
            return web.Response(status=400, text=_NOWHERE, headers=_HEADERS)
        return web.Response(status=303, headers={**_HEADERS, "Location": outcome.redirect_url})

    return answer

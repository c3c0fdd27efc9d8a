"""HttpSalesBot: the SalesBot port over HTTP (``SALESBOT_URL``).

The contract, one POST per inbound message, JSON both ways:

request  ``{"sub_account_id": str, "integration_id": str,
            "contact": {"external_id": str, "lead_id": str|null, "first_name": str|null,
                        "last_name": str|null, "email": str|null, "phone": str|null,
                        "company": str|null, "timezone": str|null, "status": str|null,
                        "assigned_user_id": str|null, "strategy_id": str|null},
            "message": str, "channel": str, "conversation_id": str|null}``
           ``channel`` is the GHL send type the reply will go out on (``SMS``, ``Email``, ...).
response 200 ``{"reply": str|null}``; null or an empty string means "do not answer".

Anything else fails: a timeout, a connection error, a 5xx or an answer that is not the shape
above raise ConnectionFailedError; a 4xx raises ProviderError. Either way the delivery is
retried (and dead-lettered if it keeps failing). The bearer token, if any, is sent as
``Authorization: Bearer``; neither it nor message text appear in errors.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import aiohttp

from application.ports import ReplyContext
from domain.errors import ConnectionFailedError, ProviderError
from domain.values import SecretStr

DEFAULT_TIMEOUT_SECONDS = 10.0


class HttpSalesBot:
    """Create it once per process and `close()` it at shutdown; the aiohttp session opens on
    first use, inside the running loop."""

    def __init__(
        self,
        url: str,
        *,
        token: SecretStr | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def reply(self, context: ReplyContext) -> str | None:
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.reveal()}"
        try:
            async with self._get_session().post(
                self._url, json=request_body(context), headers=headers
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise ConnectionFailedError(
                f"the sales bot cannot be reached ({type(err).__name__})"
            ) from err
        if status >= 500 or status == 429:
            raise ConnectionFailedError(f"the sales bot answered HTTP {status}")
        if status >= 400:
            raise ProviderError(f"the sales bot refused the message: HTTP {status}")
        if not 200 <= status < 300:
            raise ConnectionFailedError(f"the sales bot answered HTTP {status}")
        return _reply(raw)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session


def request_body(context: ReplyContext) -> dict[str, Any]:
    return {
        "sub_account_id": context.sub_account_id,
        "integration_id": context.integration_id,
        "contact": dataclasses.asdict(context.contact),
        "message": context.message,
        "channel": context.channel,
        "conversation_id": context.conversation_id,
    }


def _reply(raw: bytes) -> str | None:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ConnectionFailedError("the sales bot's answer is not JSON") from None
    if not isinstance(body, dict) or "reply" not in body:
        raise ConnectionFailedError("the sales bot's answer has no 'reply'")
    reply = body["reply"]
    if reply is None or (isinstance(reply, str) and not reply.strip()):
        return None
    if not isinstance(reply, str):
        raise ConnectionFailedError("the sales bot's 'reply' is not a string")
    return reply

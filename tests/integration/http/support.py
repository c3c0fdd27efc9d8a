"""A tiny fake provider for the outbound HTTP machinery's tests: its policy (throttles as HTTP 400
with a code and the wait in the body, as Meta does; 503 with Retry-After as transient) and a
loopback server answering from a script."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from adapters.http import Authorizer, HttpAnswer, HttpRequest, RateLimitSlot
from application.ports.rate_limits import Priority, RateLimitObservation
from domain.errors import (
    ConnectionFailedError,
    DomainError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)

THROTTLE_CODES = frozenset({4, 17})


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One call's context at the fake provider: the account it limits by, and the lane."""

    account: str
    priority: Priority = Priority.LIVE


class FakeTokens:
    """Bearer tokens handed out one after another; `refresh` moves to the next, if any."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.refreshes = 0

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.tokens[0]}"}

    async def refresh(self) -> bool:
        self.refreshes += 1
        if len(self.tokens) < 2:
            return False
        self.tokens.pop(0)
        return True


class FakePolicy:
    """The fake provider's rules, as a real provider's policy states them."""

    name = "fakeprovider"
    display_name = "FakeProvider"

    def __init__(self, tokens: FakeTokens | None = None) -> None:
        self.tokens = tokens or FakeTokens("token-1")

    def rate_limit(self, call: FakeCall, request: HttpRequest) -> RateLimitSlot:
        return RateLimitSlot(f"fake:account:{call.account}", 60_000, call.priority)

    def authorizer(self, call: FakeCall) -> Authorizer:
        return self.tokens

    def log_fields(self, call: FakeCall) -> Mapping[str, object]:
        return {"account": call.account}

    def headers(self, request: HttpRequest) -> Mapping[str, str]:
        return {"Fake-Version": "2030-01-01", "Accept": "application/json"}

    def endpoint(self, path: str) -> str:
        return "/items/{id}" if path.startswith("/items/") else path

    def observe(self, answer: HttpAnswer) -> RateLimitObservation:
        slow_down = answer.headers.get("Fake-Slow-Down")
        if answer.status < 300 and slow_down is not None:
            # Its usage is nearly spent: served, but asks for a pause before the next request.
            return RateLimitObservation(throttled=True, retry_after_seconds=float(slow_down))
        code, wait = _error_code(answer.body), _error_wait(answer.body)
        throttled = answer.status == 400 and code in THROTTLE_CODES
        retry_after = answer.headers.get("Retry-After")
        return RateLimitObservation(
            throttled=throttled,
            retry_after_seconds=wait if throttled else float(retry_after) if retry_after else None,
        )

    def is_transient(self, answer: HttpAnswer) -> bool:
        return answer.status == 503

    def error_for(
        self, answer: HttpAnswer, observed: RateLimitObservation, request: HttpRequest
    ) -> DomainError:
        if answer.status == 401:
            return InvalidCredentialsError("FakeProvider refused the credentials")
        if observed.throttled:
            return RateLimitExceededError(
                "FakeProvider's rate limit was still exceeded after retries",
                retry_after_seconds=observed.retry_after_seconds or 60.0,
            )
        if answer.status >= 500:
            return ConnectionFailedError(f"FakeProvider answered HTTP {answer.status}")
        if answer.status == 404 and request.resource is not None:
            return NotFoundError(*request.resource)
        return ProviderError(f"FakeProvider answered HTTP {answer.status}")

    def trace_id(self, answer: HttpAnswer) -> str | None:
        return answer.headers.get("Fake-Trace")


def _error_code(body: Any) -> int | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def _error_wait(body: Any) -> float | None:
    error = body.get("error") if isinstance(body, dict) else None
    wait = error.get("wait_seconds") if isinstance(error, dict) else None
    return float(wait) if isinstance(wait, int | float) else None


@dataclass(frozen=True, slots=True)
class Scripted:
    """One answer the fake server gives instead of its normal one."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # monotonic time the request arrived
    path: str
    authorization: str | None
    version: str | None


class FakeProviderServer:
    """Answers GET/POST /items/{id} with {"id": ...}, or the next scripted answer. `hold` keeps
    the next request waiting until `release()` is called."""

    def __init__(self) -> None:
        self.script: deque[Scripted] = deque()
        self.received: list[Received] = []
        self._held = asyncio.Event()
        self._released = asyncio.Event()
        self._hold_next = False

    def answer(self, *answers: Scripted) -> None:
        self.script.extend(answers)

    def hold_next(self) -> None:
        self._hold_next = True
        self._held.clear()
        self._released.clear()

    async def wait_held(self) -> None:
        await asyncio.wait_for(self._held.wait(), timeout=10)

    def release(self) -> None:
        self._released.set()

    def paths(self) -> list[str]:
        return [r.path for r in self.received]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/items/{id}", self._item)
        return app

    async def _item(self, request: web.Request) -> web.StreamResponse:
        self.received.append(
            Received(
                time.monotonic(),
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("Fake-Version"),
            )
        )
        if self._hold_next:
            self._hold_next = False
            self._held.set()
            await self._released.wait()
        if self.script:
            scripted = self.script.popleft()
            if scripted.drop:
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            return web.json_response(
                scripted.body, status=scripted.status, headers=dict(scripted.headers)
            )
        if request.headers.get("Authorization") == "Bearer expired":
            return web.json_response({"error": {"code": 190}}, status=401)
        return web.json_response({"id": request.match_info["id"]})

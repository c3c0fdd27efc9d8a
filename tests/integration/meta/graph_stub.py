"""A stand-in Graph API for the Meta adapter's tests on loopback: it answers the reference
examples' bodies (shared/reference/meta/examples), records every request, and plays scripted
answers first (throttles, token deaths, transient errors)."""

from __future__ import annotations

import copy
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.meta import headers_of, status_of, wire_body


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass
class Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def example(cls, name: str) -> Scripted:
        headers = {k: v for k, v in headers_of(name).items() if k.lower() != "content-type"}
        return cls(status_of(name), wire_body(name), headers)


@dataclass
class GraphStub:
    debug_token: dict[str, Any] = field(
        default_factory=lambda: wire_body("debug-token-response.json")
    )
    dead_tokens: set[str] = field(default_factory=set)
    """Tokens debug_token finds invalid (the reference's invalid answer)."""
    subscribed: list[dict[str, Any]] = field(default_factory=list)
    leads: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"1234567890123456": wire_body("lead-retrieval-response.json")}
    )
    seen: list[Seen] = field(default_factory=list)
    script: deque[Scripted] = field(default_factory=deque)

    def then(self, *answers: Scripted) -> None:
        self.script.extend(answers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{version}/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("Authorization"),
                json.loads(raw) if raw else None,
            )
        )
        if self.script:
            scripted = self.script.popleft()
            return web.json_response(
                scripted.body, status=scripted.status, headers=scripted.headers
            )
        parts = request.match_info["tail"].split("/")
        if parts == ["debug_token"]:
            if request.query.get("input_token") in self.dead_tokens:
                return web.json_response(wire_body("debug-token-invalid-response.json"))
            return web.json_response(self.debug_token)
        if len(parts) == 2 and parts[1] == "subscribed_apps":
            if request.method == "POST":
                fields = request.query["subscribed_fields"].split(",")
                self.subscribed = [{"id": "1122334455667788", "subscribed_fields": fields}]
                return web.json_response({"success": True})
            return web.json_response({"data": copy.deepcopy(self.subscribed)})
        if len(parts) == 2 and parts[1] == "events" and request.method == "POST":
            events = json.loads(raw)["data"]
            return web.json_response(
                {**wire_body("capi-success-response.json"), "events_received": len(events)}
            )
        if len(parts) == 1 and parts[0] in self.leads:
            return web.json_response(self.leads[parts[0]])
        return web.json_response(wire_body("error-100-lead-not-found.json"), status=400)

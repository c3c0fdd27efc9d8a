"""Fixtures: the fake Meta on a real loopback port, a receiver standing in for the service's
webhook route, Meta's reference examples (``shared/reference/meta/examples``); and the Meta
adapter's MetaGraph pointed at a stand-in Graph API serving those examples."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.http import HttpTimeouts, RetryPolicy
from adapters.meta.fake import FAKE_META, FakeMeta, create_app
from adapters.meta.fake.seed import DEMO_VERIFY_TOKEN
from adapters.meta.graph import MetaGraph
from adapters.ratelimit import TokenBucketRateLimiter
from tests.integration.meta.graph_stub import GraphStub
from tests.support.meta import SETTINGS


@dataclass
class Receiver:
    """The service's webhook route, as far as the sender can tell: keeps what it got."""

    url: str = ""
    posts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer, then 200

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.posts]


@dataclass
class Running:
    url: str
    fake: FakeMeta
    http: aiohttp.ClientSession

    async def get(self, path: str, **params: str) -> aiohttp.ClientResponse:
        async with self.http.get(self.url + path, params=params) as resp:
            await resp.read()
            return resp

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        async with self.http.post(self.url + path, **kwargs) as resp:
            await resp.read()
            return resp

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.url + "/_fake" + path, json=body) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json() if resp.status != 204 else None


StartFake = Callable[..., Awaitable[Running]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver()

    async def hook(request: web.Request) -> web.Response:
        if request.method == "GET":
            query = request.query
            if query.get("hub.mode") == "subscribe" and query.get("hub.verify_token") == (
                DEMO_VERIFY_TOKEN
            ):
                return web.Response(text=query["hub.challenge"], content_type="text/plain")
            return web.Response(status=403)
        box.posts.append((await request.read(), dict(request.headers)))
        return web.Response(status=box.answers.pop(0) if box.answers else 200)

    app = web.Application()
    app.router.add_route("*", "/webhooks/meta", hook)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    box.url = str(server.make_url("/webhooks/meta"))
    yield box
    await server.close()


@pytest.fixture
async def start_fake(receiver: Receiver) -> AsyncIterator[StartFake]:
    servers: list[TestServer] = []
    http = aiohttp.ClientSession()

    async def start(**kwargs: Any) -> Running:
        kwargs.setdefault("webhook_url", receiver.url)
        kwargs.setdefault("random_seed", 7)
        app = create_app(**kwargs)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        servers.append(server)
        return Running(str(server.make_url("")).rstrip("/"), app[FAKE_META], http)

    yield start
    for server in servers:
        await server.close()
    await http.close()


@pytest.fixture
async def meta(start_fake: StartFake) -> Running:
    return await start_fake()


FAST_RETRY = RetryPolicy(
    max_attempts=4, base_delay=0.02, max_delay=0.1, total_seconds=5.0, rate_limit_wait=2.0
)
FAST_TIMEOUTS = HttpTimeouts(connect=1.0, read=2.0)


@pytest.fixture
def stub() -> GraphStub:
    return GraphStub()


@pytest.fixture
async def graph(stub: GraphStub) -> AsyncIterator[MetaGraph]:
    server = TestServer(stub.app(), host="127.0.0.1", port=0)
    await server.start_server()
    graph = MetaGraph(
        replace(SETTINGS, graph_base_url=str(server.make_url("")).rstrip("/")),
        rate_limiter=TokenBucketRateLimiter(),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
        app_rate_limit_per_minute=6000,
    )
    try:
        yield graph
    finally:
        await graph.close()
        await server.close()

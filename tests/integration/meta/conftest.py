"""Fixtures: a stand-in Graph API on a real loopback port, and the Meta adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestServer

from adapters.http import HttpTimeouts, RetryPolicy
from adapters.meta.graph import MetaGraph
from adapters.ratelimit import TokenBucketRateLimiter
from tests.integration.meta.graph_stub import GraphStub
from tests.support.meta import SETTINGS

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

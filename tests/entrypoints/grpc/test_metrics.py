"""The gRPC API's Prometheus metrics, read as the metrics text after calls to the real server:
the Prometheus gRPC middlewares' names and labels, by method and code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from application.event_feed import OutboxPage
from application.use_cases.stream_events import StreamEvents
from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from integrations.v1 import (
    event_service_pb2,
    event_service_pb2_grpc,
    integration_service_pb2,
)
from tests.entrypoints.grpc.conftest import JWT_SECRET, PAGE_TOKEN_KEY, Service, admin_md
from tests.fakes import FakeUnitOfWorkFactory
from tests.support.waiting import PATIENCE_SECONDS

SERVICE = "integrations.v1.IntegrationService"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape() -> Samples:
    """Every sample of the metrics text the service exposes (the default registry)."""
    text = generate_latest(REGISTRY).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def unary(method: str, **more: str) -> dict[str, str]:
    return {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": method, **more}


async def test_calls_are_counted_by_method_and_code_with_their_messages_and_latency(
    service: Service,
) -> None:
    before = scrape()
    await service.stub.ListIntegrations(
        integration_service_pb2.ListIntegrationsRequest(), metadata=admin_md()
    )
    await service.stub.ListIntegrations(
        integration_service_pb2.ListIntegrationsRequest(), metadata=admin_md()
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await service.stub.GetIntegration(
            integration_service_pb2.GetIntegrationRequest(name="integrations/missing"),
            metadata=admin_md(),
        )
    with pytest.raises(grpc.aio.AioRpcError):
        await service.stub.ListIntegrations(integration_service_pb2.ListIntegrationsRequest())
    after = scrape()

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    listed, got = unary("ListIntegrations"), unary("GetIntegration")
    assert added("grpc_server_started_total", **listed) == 3
    assert added("grpc_server_handled_total", **listed, grpc_code="OK") == 2
    assert added("grpc_server_handled_total", **listed, grpc_code="UNAUTHENTICATED") == 1
    assert added("grpc_server_handled_total", **got, grpc_code="NOT_FOUND") == 1
    assert added("grpc_server_msg_received_total", **listed) == 3
    assert added("grpc_server_msg_sent_total", **listed) == 2
    assert added("grpc_server_msg_sent_total", **got) == 0
    assert added("grpc_server_handling_seconds_count", **listed) == 3
    assert added("grpc_server_handling_seconds_bucket", **listed, le="+Inf") == 3
    assert added("grpc_server_handling_seconds_sum", **listed) > 0
    assert value(after, "grpc_server_in_flight", **listed) == 0


class IdleFeed:
    """An outbox feed with no events, which says when a stream starts waiting on it."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self._closed = asyncio.Event()

    async def read_page(
        self, *, after_sequence: int, limit: int, sub_account_id: str | None = None
    ) -> OutboxPage:
        raise AssertionError("an idle feed has nothing to read")

    async def wait_for_events(self, after_sequence: int) -> bool:
        self.waiting.set()
        await self._closed.wait()
        return False

    def close(self) -> None:
        self._closed.set()


async def test_an_open_stream_is_in_flight_until_it_ends(
    use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, object],
) -> None:
    cases = use_cases[0]
    feed = IdleFeed()
    stream_labels = {
        "grpc_type": "server_stream",
        "grpc_service": "integrations.v1.EventService",
        "grpc_method": "StreamEvents",
    }
    async for channel in _serving_events(cases, feed):
        stub = event_service_pb2_grpc.EventServiceStub(channel)
        before = scrape()
        stream = stub.StreamEvents(event_service_pb2.StreamEventsRequest(), metadata=admin_md())
        reading = asyncio.ensure_future(stream.read())
        await asyncio.wait_for(feed.waiting.wait(), PATIENCE_SECONDS)
        during = scrape()
        feed.close()  # the stream ends, as when the copy stops: UNAVAILABLE, to resume elsewhere
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await asyncio.wait_for(reading, PATIENCE_SECONDS)
        assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
    after = scrape()

    def added(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    assert added(during, "grpc_server_in_flight", **stream_labels) == 1
    assert added(during, "grpc_server_started_total", **stream_labels) == 1
    assert added(after, "grpc_server_in_flight", **stream_labels) == 0
    assert added(after, "grpc_server_handled_total", **stream_labels, grpc_code="UNAVAILABLE") == 1
    assert added(after, "grpc_server_msg_sent_total", **stream_labels) == 0


async def _serving_events(cases: GrpcUseCases, feed: IdleFeed) -> AsyncIterator[grpc.aio.Channel]:
    server, port = await start_server(
        cases,
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
        stream_events=StreamEvents(feed=feed),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await stop_server(server, grace=None)


async def test_unknown_methods_add_no_series(service: Service) -> None:
    unknown = service.channel.unary_unary("/integrations.v1.IntegrationService/Nope")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unknown(b"", metadata=admin_md())

    assert refused.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert not any(dict(labels).get("grpc_method") == "Nope" for _, labels in scrape())

"""StreamEvents over the real server and outbox: a consumer that disconnects and resumes from its
last sequence gets every committed event once, in commit order, including those committed
while it was away and those committed concurrently; and who may see which events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from structlog.testing import capture_logs

from adapters.persistence.outbox import SqlAlchemyOutboxReader
from application.ports import OutboxRecord
from domain.integration import Integration
from entrypoints.commands import resolve
from entrypoints.grpc.server import stop_server
from integrations.v1 import event_pb2, event_service_pb2
from tests.integration.observability.conftest import (
    OTHER_TENANT,
    TENANT,
    Metadata,
    Service,
    admin_md,
    other_user_md,
    user_md,
)
from tests.support.builders import an_integration
from tests.support.waiting import PATIENCE_SECONDS

Stream = Any  # grpc.aio.UnaryStreamCall[StreamEventsRequest, StreamEventsResponse]


def open_stream(service: Service, md: Metadata, after: int = 0, sub_account: str = "") -> Stream:
    return service.events.StreamEvents(
        event_service_pb2.StreamEventsRequest(after_sequence=after, sub_account_id=sub_account),
        metadata=md,
    )


async def receive(stream: Stream, count: int) -> list[event_pb2.Event]:
    events = []
    for _ in range(count):
        response = await asyncio.wait_for(stream.read(), timeout=PATIENCE_SECONDS)
        assert response is not grpc.aio.EOF
        events.append(response.event)
    return events


async def committed(service: Service, after: int = 0) -> list[OutboxRecord]:
    reader = SqlAlchemyOutboxReader(await resolve(service.container.session_factory))
    return await reader.read(after_sequence=after, limit=10_000)


async def add_integrations(service: Service, count: int, sub_account_id: str = TENANT) -> None:
    """Each in its own transaction, all at once: on Postgres they commit in any order."""
    uow_factory = await resolve(service.container.uow)
    async with uow_factory() as uow:
        template = await uow.templates.get_by_name("gohighlevel")
    assert template is not None

    async def add_one(index: int) -> Integration:
        integration = an_integration(template, sub_account_id=sub_account_id, name=f"CRM {index}")
        async with uow_factory() as uow:
            await uow.integrations.add(integration)
            await uow.commit()
        return integration

    await asyncio.gather(*(add_one(i) for i in range(count)))


def key(event: event_pb2.Event) -> tuple[int, str]:
    return event.sequence, event.event_id


def keys(records: list[OutboxRecord]) -> list[tuple[int, str]]:
    return [(r.sequence, r.event_id) for r in records]


async def test_a_consumer_that_reconnects_from_its_last_sequence_misses_nothing(
    service: Service,
) -> None:
    await service.create_ghl_integration()
    history = await committed(service)
    assert history, "seeding and creating committed events"

    first = open_stream(service, admin_md())
    seen = await receive(first, len(history))
    assert [key(e) for e in seen] == keys(history)
    # A live event arrives while connected.
    await add_integrations(service, 1)
    seen += await receive(first, 1)
    first.cancel()
    last = seen[-1].sequence

    await add_integrations(service, 12)  # committed while the consumer is away
    second = open_stream(service, admin_md(), after=last)
    resumed = await receive(second, 12)
    # And committed concurrently while it streams again.
    await add_integrations(service, 8)
    resumed += await receive(second, 8)
    second.cancel()

    everything = await committed(service)
    assert [key(e) for e in seen + resumed] == keys(everything)
    sequences = [e.sequence for e in seen + resumed]
    assert sequences == sorted(set(sequences))
    created = [e for e in resumed if e.event_type == "IntegrationCreated"]
    assert len(created) == 20
    assert all(e.sub_account_id == TENANT and e.aggregate_version == 1 for e in created)
    assert created[0].HasField("occur_time")
    assert created[0].payload["template_name"] == "gohighlevel"


async def test_events_of_one_integration_arrive_in_the_order_they_were_committed(
    service: Service,
) -> None:
    integration = await service.create_ghl_integration()
    expected = [
        r
        for r in await committed(service)
        if r.aggregate_id == integration.name.removeprefix("integrations/")
    ]

    stream = open_stream(service, user_md())
    events = await receive(stream, len(expected))
    stream.cancel()

    assert [e.event_type for e in events] == ["IntegrationCreated", "IntegrationActivated"]
    assert [e.aggregate_version for e in events] == [r.aggregate_version for r in expected]
    assert [e.aggregate_version for e in events] == sorted(e.aggregate_version for e in events)


async def test_a_cancelled_stream_ends_cleanly_on_the_server(service: Service) -> None:
    await service.create_ghl_integration()
    count = len(await committed(service))
    with capture_logs() as logs:
        stream = open_stream(service, admin_md())
        await receive(stream, count)
        stream.cancel()
        give_up = time.monotonic() + PATIENCE_SECONDS
        while not any(e["event"] == "rpc_finished" for e in logs):
            assert time.monotonic() < give_up, "the server never finished the cancelled stream"
            await asyncio.sleep(0.02)
    finished = [e for e in logs if e["event"] == "rpc_finished"]
    assert finished[0]["code"] == "CANCELLED"
    assert finished[0]["messages_sent"] == count


async def test_a_server_shutting_down_ends_its_streams_with_unavailable(service: Service) -> None:
    await service.create_ghl_integration()
    stream = open_stream(service, admin_md())
    await receive(stream, len(await committed(service)))  # open, waiting for more events

    # Ended by the server at once, not after the grace the stop gives calls in flight.
    await asyncio.wait_for(
        stop_server(service.server, grace=2 * PATIENCE_SECONDS), PATIENCE_SECONDS
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await asyncio.wait_for(stream.read(), timeout=PATIENCE_SECONDS)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    status = await rpc_status.aio.from_call(stream)
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("SHUTTING_DOWN", "integrations")


# --- who sees what (the database makes no difference here) -----------------------------------

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@sqlite_only
async def test_a_user_streams_only_its_own_sub_accounts_events(service: Service) -> None:
    await service.create_ghl_integration(TENANT)
    await service.create_ghl_integration(OTHER_TENANT)
    await add_integrations(service, 2, OTHER_TENANT)
    await add_integrations(service, 1, TENANT)
    everything = await committed(service)
    own = [r for r in everything if r.sub_account_id == TENANT]
    assert len(own) < len(everything)

    stream = open_stream(service, user_md())
    events = await receive(stream, len(own))
    # The next event it gets is the next of its own, wherever other tenants' fall.
    await add_integrations(service, 3, OTHER_TENANT)
    await add_integrations(service, 1, TENANT)
    events += await receive(stream, 1)
    stream.cancel()

    assert all(e.sub_account_id == TENANT for e in events)
    assert [key(e) for e in events] == keys(
        [r for r in await committed(service) if r.sub_account_id == TENANT]
    )


@sqlite_only
async def test_an_admin_may_stream_one_sub_account_and_a_user_may_name_only_its_own(
    service: Service,
) -> None:
    await service.create_ghl_integration(TENANT)
    await service.create_ghl_integration(OTHER_TENANT)
    others = [r for r in await committed(service) if r.sub_account_id == OTHER_TENANT]

    admin = open_stream(service, admin_md(), sub_account=OTHER_TENANT)
    events = await receive(admin, len(others))
    admin.cancel()
    assert [key(e) for e in events] == keys(others)

    own = open_stream(service, other_user_md(), sub_account=OTHER_TENANT)
    assert [key(e) for e in await receive(own, len(others))] == keys(others)
    own.cancel()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await open_stream(service, user_md(), sub_account=OTHER_TENANT).read()
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


@sqlite_only
async def test_a_stream_without_a_token_or_with_a_negative_sequence_is_refused(
    service: Service,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
        await open_stream(service, ()).read()
    assert unauthenticated.value.code() is grpc.StatusCode.UNAUTHENTICATED

    negative = open_stream(service, admin_md(), after=-1)
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await negative.read()
    assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = await rpc_status.aio.from_call(negative)
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status.details)
    assert bad_request.field_violations[0].field == "after_sequence"

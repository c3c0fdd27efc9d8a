"""EventService: the outbox streamed to other services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from application.ports import OutboxRecord
from application.use_cases.stream_events import StreamEvents, StreamEventsQuery
from entrypoints.grpc import mappers
from entrypoints.grpc.errors import ERROR_DOMAIN
from entrypoints.grpc.interceptors import current_principal
from integrations.v1 import event_pb2, event_service_pb2
from integrations.v1 import event_service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

SHUTTING_DOWN = "SHUTTING_DOWN"


class EventServiceServicer(pb_grpc.EventServiceServicer):
    """Thin, like the other servicers. Each response is written before the next event is read,
    so a slow consumer slows its own stream only (HTTP/2 flow control), never the outbox."""

    def __init__(self, stream_events: StreamEvents) -> None:
        self._stream_events = stream_events

    def close(self) -> None:
        """End every open stream with UNAVAILABLE: the server is stopping."""
        self._stream_events.close()

    async def StreamEvents(
        self, request: event_service_pb2.StreamEventsRequest, context: Context
    ) -> AsyncIterator[event_service_pb2.StreamEventsResponse]:
        query = StreamEventsQuery(
            actor=current_principal(),
            after_sequence=request.after_sequence,
            sub_account_id=request.sub_account_id or None,
        )
        async for batch in self._stream_events.execute(query):
            for record in batch:
                yield event_service_pb2.StreamEventsResponse(event=event_to_proto(record))
        # The feed closed: this copy is stopping. The caller resumes elsewhere from its cursor.
        status = status_pb2.Status(
            code=grpc.StatusCode.UNAVAILABLE.value[0],
            message="the server is shutting down: call again with the last sequence received",
        )
        status.details.add().Pack(
            error_details_pb2.ErrorInfo(reason=SHUTTING_DOWN, domain=ERROR_DOMAIN)
        )
        aborted = rpc_status.to_status(status)
        await context.abort(aborted.code, aborted.details, aborted.trailing_metadata)


def event_to_proto(record: OutboxRecord) -> event_pb2.Event:
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(record.occurred_at)
    return event_pb2.Event(
        sequence=record.sequence,
        event_id=record.event_id,
        event_type=record.event_type,
        aggregate_id=record.aggregate_id,
        aggregate_version=record.aggregate_version,
        sub_account_id=record.sub_account_id or "",
        occur_time=occurred,
        payload=mappers.dict_to_struct(record.payload),
    )

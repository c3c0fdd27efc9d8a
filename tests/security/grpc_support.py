"""Every RPC of every service in the generated stubs, request messages built by hypothesis from
their descriptors, generic calls, and the row counts of every table (to see what a call wrote)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor as d
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import strategies as st
from sqlalchemy import func, select

import integrations.v1 as generated
from adapters.persistence.models import Base
from bench.common import sql

_WELL_KNOWN_DONE = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.Struct",
}


@dataclass(frozen=True)
class Rpc:
    service: str
    name: str
    request: d.Descriptor
    response: d.Descriptor
    streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"


def all_rpcs() -> list[Rpc]:
    """Every method of every service under integrations.v1."""
    found: list[Rpc] = []
    for module in sorted(pkgutil.iter_modules(generated.__path__), key=lambda m: m.name):
        if not module.name.endswith("_pb2"):
            continue
        imported = importlib.import_module(f"integrations.v1.{module.name}")
        for service in imported.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append(
                    Rpc(
                        service.full_name,
                        method.name,
                        method.input_type,
                        method.output_type,
                        method.server_streaming,
                    )
                )
    return found


def message_class(descriptor: d.Descriptor) -> type[Message]:
    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls


def messages(
    descriptor: d.Descriptor, anchors: Sequence[str], depth: int = 0
) -> st.SearchStrategy[Message]:
    """Messages of `descriptor` with any subset of fields set to anything of their type; strings
    are often one of `anchors` (real resource names and ids), so calls reach past parsing."""
    cls = message_class(descriptor)
    if descriptor.full_name in _WELL_KNOWN_DONE:
        return _well_known(descriptor, cls)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        value = _value(field, anchors, depth)
        if value is None:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            fields[field.name] = value
        elif field.is_repeated:
            fields[field.name] = st.lists(value, max_size=3)
        else:
            fields[field.name] = value
    return st.fixed_dictionaries({}, optional=fields).map(lambda kwargs: cls(**kwargs))


def _value(
    field: d.FieldDescriptor, anchors: Sequence[str], depth: int
) -> st.SearchStrategy[Any] | None:
    t = d.FieldDescriptor
    if field.message_type is not None:
        entry = field.message_type
        if entry.GetOptions().map_entry:
            key, val = entry.fields_by_name["key"], entry.fields_by_name["value"]
            keys, values = _value(key, anchors, depth + 1), _value(val, anchors, depth + 1)
            if keys is None or values is None:
                return None
            return st.dictionaries(keys, values, max_size=3)
        if depth >= 3:
            return None
        return messages(entry, anchors, depth + 1)
    if field.type == t.TYPE_STRING:
        return st.text(max_size=60) | st.sampled_from(list(anchors) or [""])
    if field.type == t.TYPE_BYTES:
        return st.binary(max_size=60)
    if field.type == t.TYPE_BOOL:
        return st.booleans()
    if field.type in (t.TYPE_DOUBLE, t.TYPE_FLOAT):
        return st.floats(width=32 if field.type == t.TYPE_FLOAT else 64)
    if field.type == t.TYPE_ENUM:
        assert field.enum_type is not None
        numbers = [v.number for v in field.enum_type.values]
        return st.sampled_from(numbers) | st.integers(-5, max(numbers) + 5)
    if field.type in (t.TYPE_INT32, t.TYPE_SINT32, t.TYPE_SFIXED32):
        return st.integers(-(2**31), 2**31 - 1)
    if field.type in (t.TYPE_UINT32, t.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if field.type in (t.TYPE_UINT64, t.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    return st.integers(-(2**63), 2**63 - 1)


def _well_known(descriptor: d.Descriptor, cls: type[Message]) -> st.SearchStrategy[Message]:
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return st.builds(
            cls, seconds=st.integers(-(2**40), 2**40), nanos=st.integers(-(10**9), 10**9)
        )
    if name == "google.protobuf.Duration":
        return st.builds(cls, seconds=st.integers(-(2**40), 2**40), nanos=st.integers(0, 10**9))
    if name == "google.protobuf.FieldMask":
        return st.builds(cls, paths=st.lists(st.text(max_size=30), max_size=4))

    def struct(values: dict[str, Any]) -> Message:
        message = cls()
        message.update(values)  # type: ignore[attr-defined]
        return message

    scalars = st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=40)
    nested = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
        ),
        max_leaves=8,
    )
    return st.dictionaries(st.text(max_size=20), nested, max_size=5).map(struct)


async def call(
    channel: grpc.aio.Channel, rpc: Rpc, request: Message, token: str | None
) -> tuple[grpc.StatusCode, bytes]:
    """Call `rpc`; its status code and the serialized answer (or the error's details and
    trailing metadata). A stream is read for at most one second."""
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    response_class = message_class(rpc.response)
    try:
        if rpc.streaming:
            streaming: grpc.aio.UnaryStreamMultiCallable[Message, Message] = channel.unary_stream(
                rpc.path,
                request_serializer=_serialize,
                response_deserializer=response_class.FromString,
            )
            answers = b""
            async for answer in streaming(request, metadata=metadata, timeout=1.0):
                answers += answer.SerializeToString()
            return grpc.StatusCode.OK, answers
        unary: grpc.aio.UnaryUnaryMultiCallable[Message, Message] = channel.unary_unary(
            rpc.path, request_serializer=_serialize, response_deserializer=response_class.FromString
        )
        answer = await unary(request, metadata=metadata, timeout=10)
        return grpc.StatusCode.OK, answer.SerializeToString()
    except grpc.aio.AioRpcError as err:
        trailing = err.trailing_metadata() or ()
        detail = (err.details() or "").encode() + b"".join(
            v if isinstance(v, bytes) else str(v).encode() for _, v in trailing
        )
        return err.code(), detail


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


async def row_counts(database_url: str) -> dict[str, int]:
    """The number of rows of every table of the schema."""
    tables = sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    query = select(
        *(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables)
    )
    [row] = await sql(database_url, str(query.compile(compile_kwargs={"literal_binds": True})))
    return {t.name: int(n) for t, n in zip(tables, row, strict=True)}

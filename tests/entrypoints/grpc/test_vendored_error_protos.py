"""protos/ alone decodes the service's errors: the google.rpc types vendored in protos/google/rpc
(for clients that cannot reach buf's registry) read every rich detail the server sends."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc

from domain.errors import FieldViolation, InvalidArgumentError, RateLimitExceededError
from entrypoints.grpc.errors import rpc_status_of
from entrypoints.logging import start_request

PROTOS = Path(__file__).resolve().parents[3] / "protos"


@pytest.fixture(scope="module")
def vendored(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pool.DescriptorPool:
    """The google.rpc types compiled from protos/ and protobuf's own well-known types only."""
    descriptor_set = tmp_path_factory.mktemp("protos") / "google_rpc.binpb"
    well_known = resources.files("grpc_tools") / "_proto"
    compiled = protoc.main(
        [
            "protoc",
            f"-I{PROTOS}",
            f"-I{well_known}",
            f"--descriptor_set_out={descriptor_set}",
            "--include_imports",
            "google/rpc/status.proto",
            "google/rpc/error_details.proto",
        ]
    )
    assert compiled == 0
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file:
        pool.Add(file)
    return pool


def decoded(pool: descriptor_pool.DescriptorPool, error: Exception) -> dict[str, Any]:
    """The error's status as the server serialises it, read back with the vendored types only:
    each detail by the name in its type URL."""
    status_type = message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))
    status = status_type.FromString(rpc_status_of(error).SerializeToString())
    details: dict[str, Any] = {}
    for any_detail in status.details:
        name = any_detail.type_url.rpartition("/")[2]
        detail = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))()
        detail.ParseFromString(any_detail.value)
        assert detail.SerializeToString(deterministic=True) == any_detail.value
        details[name] = detail
    return details


async def test_the_vendored_types_read_error_info_bad_request_and_request_info(
    vendored: descriptor_pool.DescriptorPool,
) -> None:
    start_request(request_id="req-vendored-1", method="/integrations.v1.LeadService/CreateLead")
    error = InvalidArgumentError(
        "the request is invalid", (FieldViolation("lead.email", "not an email address"),)
    )

    details = decoded(vendored, error)

    assert set(details) == {
        "google.rpc.ErrorInfo",
        "google.rpc.BadRequest",
        "google.rpc.RequestInfo",
    }
    assert details["google.rpc.ErrorInfo"].reason == "INVALID_ARGUMENT"
    assert details["google.rpc.ErrorInfo"].domain == "integrations"
    [violation] = details["google.rpc.BadRequest"].field_violations
    assert (violation.field, violation.description) == ("lead.email", "not an email address")
    assert details["google.rpc.RequestInfo"].request_id == "req-vendored-1"


async def test_the_vendored_types_read_retry_info(
    vendored: descriptor_pool.DescriptorPool,
) -> None:
    start_request(request_id="req-vendored-2", method="/integrations.v1.LeadService/GetFreeSlots")
    error = RateLimitExceededError("GoHighLevel's rate limit", retry_after_seconds=1.5)

    details = decoded(vendored, error)

    assert set(details) == {
        "google.rpc.ErrorInfo",
        "google.rpc.RetryInfo",
        "google.rpc.RequestInfo",
    }
    assert details["google.rpc.ErrorInfo"].reason == "RATE_LIMIT_EXCEEDED"
    delay = details["google.rpc.RetryInfo"].retry_delay
    assert (delay.seconds, delay.nanos) == (1, 500_000_000)

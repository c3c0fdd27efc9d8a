"""The one table from domain errors to gRPC statuses with google.rpc details (DESIGN.md §5)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import grpc
import structlog
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from adapters.persistence.errors import is_database_unavailable
from domain.errors import (
    DomainError,
    ErrorCode,
    FieldViolation,
    InvalidArgumentError,
    RateLimitExceededError,
    StorageUnavailableError,
)
from entrypoints.logging import request_field

ERROR_DOMAIN = "integrations"
INTERNAL_REASON = "INTERNAL"
_INTERNAL_MESSAGE = "internal error"
STORAGE_RETRY_DELAY_SECONDS = 2.0
"""The RetryInfo of an unreachable database: the readiness probe's period, after which the
balancer has taken this copy out of rotation or the database answers again."""

STATUS_CODES: Mapping[ErrorCode, grpc.StatusCode] = {
    ErrorCode.CONFIG_SCHEMA_INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    # The stored credentials must be replaced before the call can succeed: retrying won't help.
    ErrorCode.INVALID_CREDENTIALS: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.CONNECTION_FAILED: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.RATE_LIMIT_EXCEEDED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    # Only the webhook app checks signatures; a signature is how a webhook authenticates.
    ErrorCode.WEBHOOK_SIGNATURE_INVALID: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.INTEGRATION_NOT_ACTIVE: grpc.StatusCode.FAILED_PRECONDITION,
    # The service has no implementation for the template's provider yet: "not implemented or
    # not supported/enabled in this service" (google.rpc.Code), and no state change by the
    # caller will fix it, which FAILED_PRECONDITION would suggest.
    ErrorCode.PROVIDER_NOT_SUPPORTED: grpc.StatusCode.UNIMPLEMENTED,
    # The provider refused the request as it stands (its 400/422): retrying unchanged won't
    # help; what must change is named in the message, and the provider's trace id in metadata.
    ErrorCode.PROVIDER_ERROR: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.VERSION_CONFLICT: grpc.StatusCode.ABORTED,
    ErrorCode.INVALID_TRANSITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.STORAGE_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    # The secret can no longer be decrypted (its data key was shredded): an admin must enter
    # the credentials again.
    ErrorCode.SECRET_UNREADABLE: grpc.StatusCode.FAILED_PRECONDITION,
    # Deleting would drop changes accepted earlier: they must land first (or be discarded on
    # purpose, with `force`).
    ErrorCode.CHANGES_PENDING: grpc.StatusCode.FAILED_PRECONDITION,
}

_log = structlog.get_logger("entrypoints.grpc")


def rpc_status_of(error: BaseException) -> Any:
    """The google.rpc.Status for an error: the table's code and the error's (secret-free)
    message for a DomainError (a database driver's connection error that reached here untranslated
    counts as StorageUnavailableError); INTERNAL with a generic message for anything else. Every
    status carries an ErrorInfo, and the request id as RequestInfo; a retryable one, RetryInfo."""
    if not isinstance(error, DomainError) and is_database_unavailable(error):
        error = StorageUnavailableError("the database is unavailable, try again")
    if isinstance(error, DomainError):
        code, message, reason = STATUS_CODES[error.code], error.message, error.code.value
        metadata = error.metadata
    else:
        code, message, reason = grpc.StatusCode.INTERNAL, _INTERNAL_MESSAGE, INTERNAL_REASON
        metadata = {}
    details: list[Any] = [
        error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)
    ]
    if isinstance(error, InvalidArgumentError) and error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    retry_after = _retry_after(error)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(round(max(retry_after, 0.0) * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    request_id = request_field("request_id")
    if request_id:
        details.append(error_details_pb2.RequestInfo(request_id=str(request_id)))
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


def _retry_after(error: BaseException) -> float | None:
    """Seconds after which the same call may succeed, for errors that say so."""
    if isinstance(error, RateLimitExceededError):
        return error.retry_after_seconds
    if isinstance(error, StorageUnavailableError):
        return STORAGE_RETRY_DELAY_SECONDS
    return None


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], error: Exception) -> NoReturn:
    """End the RPC with the status of `error`. An unexpected error is logged with its
    traceback; the caller learns only that something went wrong, never the error's text."""
    if not isinstance(error, DomainError):
        if is_database_unavailable(error):
            _log.warning("rpc_storage_unavailable", error_type=type(error).__name__)
        else:
            _log.error("rpc_unexpected_error", exc_info=error)
    status = rpc_status.to_status(rpc_status_of(error))
    await context.abort(status.code, status.details, status.trailing_metadata)


@contextmanager
def request_fields(paths: Mapping[str, str]) -> Iterator[None]:
    """Rename the field paths of InvalidArgumentErrors raised inside from the use case's terms
    to the request's (`config.apiKey` -> `integration.config.apiKey`), as BadRequest expects:
    `paths` maps a path's first segment to its request path; others are left as they are."""
    try:
        yield
    except InvalidArgumentError as err:
        err.violations = tuple(
            FieldViolation(_request_path(v.field, paths), v.description) for v in err.violations
        )
        raise


def _request_path(field: str, paths: Mapping[str, str]) -> str:
    head, dot, rest = field.partition(".")
    return paths[head] + dot + rest if head in paths else field

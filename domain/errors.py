"""Domain errors, each carrying the error code of DESIGN.md §5."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """Stable reasons exposed to callers (gRPC ErrorInfo.reason, webhook error bodies)."""

    CONFIG_SCHEMA_INVALID = "CONFIG_SCHEMA_INVALID"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    CONNECTION_FAILED = "CONNECTION_FAILED"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    WEBHOOK_SIGNATURE_INVALID = "WEBHOOK_SIGNATURE_INVALID"
    INTEGRATION_NOT_ACTIVE = "INTEGRATION_NOT_ACTIVE"
    PROVIDER_NOT_SUPPORTED = "PROVIDER_NOT_SUPPORTED"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    SECRET_UNREADABLE = "SECRET_UNREADABLE"  # noqa: S105 - an error code, not a secret
    CHANGES_PENDING = "CHANGES_PENDING"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One problem with one field; `field` is a dotted path (``config.apiKey``)."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error the service reports to a caller. Messages never hold secrets."""

    code: ClassVar[ErrorCode]

    def __init__(self, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgumentError(DomainError):
    """A request field is malformed; `violations` lists every offending field."""

    code = ErrorCode.INVALID_ARGUMENT

    def __init__(self, message: str, violations: tuple[FieldViolation, ...] = ()) -> None:
        super().__init__(message)
        self.violations = violations


class ConfigSchemaInvalidError(InvalidArgumentError):
    """A config does not satisfy its template's schema, or a template's schema is not valid."""

    code = ErrorCode.CONFIG_SCHEMA_INVALID


class NotFoundError(DomainError):
    """The resource does not exist, or belongs to another tenant (indistinguishable on purpose)."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(
            f"{resource} {resource_id!r} not found",
            metadata={"resource": resource, "id": resource_id},
        )
        self.resource = resource
        self.resource_id = resource_id


class AlreadyExistsError(DomainError):
    code = ErrorCode.ALREADY_EXISTS


class ConcurrencyError(DomainError):
    """The aggregate changed since it was read (optimistic concurrency on `version`)."""

    code = ErrorCode.VERSION_CONFLICT


class InvalidTransitionError(DomainError):
    """A status change that the state machine does not allow."""

    code = ErrorCode.INVALID_TRANSITION


class IntegrationNotActiveError(DomainError):
    code = ErrorCode.INTEGRATION_NOT_ACTIVE


class WebhookSignatureInvalidError(DomainError):
    """A webhook's signature is missing or wrong, or its signed timestamp is stale (a replay)."""

    code = ErrorCode.WEBHOOK_SIGNATURE_INVALID


class WebhookUnsignedError(WebhookSignatureInvalidError):
    """A webhook that carries no signature of a scheme its integration uses: anyone's request,
    which says nothing about how the integration's own deliveries are signed."""


class PermissionDeniedError(DomainError):
    code = ErrorCode.PERMISSION_DENIED


class UnauthenticatedError(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class ProviderError(DomainError):
    """The provider refused a request (its 400/422); `trace_id` is the provider's, if any."""

    code = ErrorCode.PROVIDER_ERROR

    def __init__(self, message: str, *, trace_id: str | None = None) -> None:
        super().__init__(message, metadata={"trace_id": trace_id} if trace_id else None)
        self.trace_id = trace_id


class InvalidCredentialsError(ProviderError):
    code = ErrorCode.INVALID_CREDENTIALS


class ConnectionFailedError(ProviderError):
    code = ErrorCode.CONNECTION_FAILED


class RateLimitExceededError(ProviderError):
    code = ErrorCode.RATE_LIMIT_EXCEEDED

    def __init__(
        self, message: str, *, retry_after_seconds: float, trace_id: str | None = None
    ) -> None:
        super().__init__(message, trace_id=trace_id)
        self.retry_after_seconds = retry_after_seconds


class ChangesPendingError(DomainError):
    """Changes accepted for an integration have not reached its provider yet, so it cannot
    be deleted without dropping them."""

    code = ErrorCode.CHANGES_PENDING


class ProviderNotSupportedError(DomainError):
    code = ErrorCode.PROVIDER_NOT_SUPPORTED


class StorageUnavailableError(DomainError):
    """The database cannot be reached or refused the operation for a transient reason."""

    code = ErrorCode.STORAGE_UNAVAILABLE


class SecretUnreadableError(DomainError):
    """A ciphertext cannot be decrypted: wrong binding, tampered, or its data key was shredded."""

    code = ErrorCode.SECRET_UNREADABLE

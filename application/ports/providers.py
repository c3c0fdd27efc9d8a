"""What the core asks of a provider: a connection test, looked up by template; what one call to a
provider acts for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from application.ports.rate_limits import Priority
from domain.errors import ErrorCode
from domain.values import ProviderAccount, SecretStr


@dataclass(frozen=True, slots=True)
class Credentials:
    """An integration's decrypted secrets, handed to a provider only for the call."""

    values: dict[str, SecretStr] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> SecretStr | None:
        return self.values.get(name)


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """Everything a provider needs to act for one integration."""

    integration_id: str
    sub_account_id: str
    template_name: str
    config: dict[str, Any]
    credentials: Credentials
    rate_limit_per_minute: int


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One call to a provider on behalf of an integration: its config and decrypted credentials
    (held only for the call), its template's rate limit, and who waits on the answer."""

    integration_id: str
    sub_account_id: str
    template_name: str
    config: dict[str, Any]
    credentials: Credentials = field(repr=False)
    rate_limit_per_minute: int
    priority: Priority = Priority.LIVE

    @classmethod
    def of(cls, ctx: ProviderContext, *, priority: Priority = Priority.LIVE) -> ProviderCall:
        return cls(
            integration_id=ctx.integration_id,
            sub_account_id=ctx.sub_account_id,
            template_name=ctx.template_name,
            config=ctx.config,
            credentials=ctx.credentials,
            rate_limit_per_minute=ctx.rate_limit_per_minute,
            priority=priority,
        )


@dataclass(frozen=True, slots=True)
class ConnectionTestResult:
    """The seed's test result shape: success, message, details; or the error.
    `retry_after_seconds` is set when the provider would not answer now (it rate limits the
    integration): such a test concludes nothing about the credentials or the connection."""

    success: bool
    message: str
    details: dict[str, str] = field(default_factory=dict)
    error_code: ErrorCode | None = None
    latency_ms: float | None = None
    accounts: frozenset[ProviderAccount] = frozenset()
    """On success, the provider accounts the test proved the credentials reach."""
    retry_after_seconds: float | None = None

    @property
    def conclusive(self) -> bool:
        return self.retry_after_seconds is None


class IntegrationProvider(Protocol):
    """One external system (a CRM, an ad platform, an analytics property, ...)."""

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        """Try the credentials against the provider. Expected failures (bad credentials, the
        provider unreachable) come back as an unsuccessful result, never as an exception."""
        ...


class ProviderRegistry(Protocol):
    def get(self, template_name: str) -> IntegrationProvider | None:
        """The provider implementing the template, or None if it is not implemented yet."""
        ...

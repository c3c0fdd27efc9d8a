"""OAuth 2 tokens of an integration, and where they are kept between calls."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.values import SecretStr


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: datetime


class TokenStore(Protocol):
    """Where an integration's OAuth tokens live (encrypted, in this service's database).

    A provider may make refresh tokens single-use: a refresh answers a new one and consumes the
    old. So the adapter saves a rotated pair here *before* it uses the new access token, and a
    save must be durable (committed) when it returns.
    """

    async def load_tokens(self, integration_id: str) -> OAuthTokens | None:
        """The integration's current tokens, or None if none were stored yet."""
        ...

    async def save_rotated_tokens(
        self,
        integration_id: str,
        *,
        refresh_token: SecretStr,
        access_token: SecretStr,
        expires_at: datetime,
    ) -> None:
        """Durably replace the integration's tokens; raise if they could not be stored."""
        ...

    def refresh_lock(self, integration_id: str) -> AbstractAsyncContextManager[None]:
        """Held around "load the newest tokens, refresh at the provider if still needed, save",
        so that of every process sharing the store one at a time refreshes an integration: a
        refresh token used twice is refused, and the integration would need re-authorising. A
        store that one process alone uses may make this a no-op (the caller also locks
        in-process). Raises if the lock cannot be had (the store is unreachable, or waited on
        too long)."""
        ...

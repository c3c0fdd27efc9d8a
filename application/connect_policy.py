"""Where sign-ins come back to and may end: the callback under the service's public URL, and
the allow-list of return URLs (RFC 9700 §4.1: exact matches, no open redirect)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectPolicy:
    public_base_url: str
    return_urls: tuple[str, ...]
    """Compared exactly; the first also receives callbacks whose session is unknown."""
    session_ttl: timedelta = timedelta(minutes=10)
    provider_seconds: float = 20.0
    """How long one exchange or account connection may take at the provider."""

    def callback_url(self, provider: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/oauth/{provider}/callback"

    def allows(self, return_url: str) -> bool:
        return return_url in self.return_urls

    @property
    def fallback_url(self) -> str | None:
        """Where a callback goes when its session (and so its return URL) is unknown."""
        return self.return_urls[0] if self.return_urls else None


def with_outcome(return_url: str, params: Mapping[str, str]) -> str:
    """The return URL with the outcome appended to its query."""
    separator = "&" if "?" in return_url else "?"
    return f"{return_url}{separator}{urlencode(dict(params))}"

"""The outbound HTTP machinery every provider shares: one ProviderHttpClient per provider, driven
by that provider's ProviderPolicy (its headers, limits, throttles and error table)."""

from adapters.http.client import HttpTimeouts, ProviderHttpClient, RetryPolicy
from adapters.http.policy import (
    Authorizer,
    HttpAnswer,
    HttpRequest,
    ProviderPolicy,
    RateLimitSlot,
)
from adapters.http.transport import TransportError

__all__ = [
    "Authorizer",
    "HttpAnswer",
    "HttpRequest",
    "HttpTimeouts",
    "ProviderHttpClient",
    "ProviderPolicy",
    "RateLimitSlot",
    "RetryPolicy",
    "TransportError",
]

"""Rate limiters implementing application.ghl.RateLimiter."""

from adapters.ratelimit.token_bucket import TokenBucketRateLimiter

__all__ = ["TokenBucketRateLimiter"]

"""Rate limiters implementing application.ports.rate_limits.RateLimiter."""

from adapters.ratelimit.redis_limiter import RedisRateLimiter
from adapters.ratelimit.token_bucket import TokenBucketRateLimiter

__all__ = ["RedisRateLimiter", "TokenBucketRateLimiter"]

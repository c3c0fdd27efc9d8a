"""GHL's rate limits as the fake enforces them: per location, a burst window and a daily quota."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """GHL's documented limits: 100 requests per 10 s burst and 200,000 per day, per location
    (reference/ghl/rate-limit-headers.json). Tests shrink the interval to stay fast."""

    max_requests: int = 100
    interval_ms: int = 10_000
    daily_limit: int = 200_000


@dataclass(slots=True)
class _Window:
    started: float = 0.0
    count: int = 0
    day_started: float = 0.0
    day_count: int = 0


_DAY_SECONDS = 86_400.0


class RateLimits:
    """A fixed window per location: it opens at the first request after the previous one
    closed. Refused requests are not counted. Whether GHL's windows are fixed or sliding is not
    documented; a client that keeps to the headers stays within either."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._windows: dict[str, _Window] = {}

    def admit(self, location_id: str, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request; answers whether it is admitted and the headers to send."""
        w = self._window(location_id, now)
        admitted = w.count < self.config.max_requests and w.day_count < self.config.daily_limit
        if admitted:
            w.count += 1
            w.day_count += 1
        return admitted, self._headers(w)

    def exhausted_headers(self, location_id: str, now: float) -> dict[str, str]:
        """Headers of a window with nothing left (what a scripted 429 sends); counts nothing."""
        headers = self._headers(self._window(location_id, now))
        headers["X-RateLimit-Remaining"] = "0"
        return headers

    def _window(self, location_id: str, now: float) -> _Window:
        w = self._windows.setdefault(location_id, _Window(now, 0, now, 0))
        if now - w.started >= self.config.interval_ms / 1000:
            w.started, w.count = now, 0
        if now - w.day_started >= _DAY_SECONDS:
            w.day_started, w.day_count = now, 0
        return w

    def _headers(self, w: _Window) -> dict[str, str]:
        cfg = self.config
        return {
            "X-RateLimit-Limit-Daily": str(cfg.daily_limit),
            "X-RateLimit-Daily-Remaining": str(cfg.daily_limit - w.day_count),
            "X-RateLimit-Interval-Milliseconds": str(cfg.interval_ms),
            "X-RateLimit-Max": str(cfg.max_requests),
            "X-RateLimit-Remaining": str(cfg.max_requests - w.count),
        }

"""The usage headers of normal answers (API-NOTES §7): percentages that rise with each call in a
rolling window, so a client's slow-down and pause at 95 % can be exercised."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass(slots=True)
class Usage:
    """`step_percent` per call; the count starts afresh `window_seconds` after the first call."""

    step_percent: float = 0.1
    window_seconds: float = 3600.0
    _app_calls: int = 0
    _page_calls: dict[str, int] = field(default_factory=dict)
    _window_started: float | None = None

    def count(self, page_id: str | None, now: float) -> None:
        if self._window_started is None or now - self._window_started >= self.window_seconds:
            self._window_started, self._app_calls = now, 0
            self._page_calls.clear()
        self._app_calls += 1
        if page_id is not None:
            self._page_calls[page_id] = self._page_calls.get(page_id, 0) + 1

    def percent(self, calls: int) -> int:
        return min(100, int(calls * self.step_percent + 1e-9))  # float steps: 10 * 0.1 counts as 1

    def app_header(self) -> str:
        pct = self.percent(self._app_calls)
        return _dumps({"call_count": pct, "total_cputime": pct // 2, "total_time": pct // 2})

    def buc_header(
        self, page_id: str, buc_type: str, *, throttled_minutes: int | None = None
    ) -> str:
        """``X-Business-Use-Case-Usage`` for `page_id`; a throttled one shows 100 % and the
        minutes to wait."""
        calls = (
            100 if throttled_minutes is not None else self.percent(self._page_calls.get(page_id, 0))
        )
        entry = {
            "type": buc_type,
            "call_count": calls,
            "total_cputime": calls // 4,
            "total_time": calls // 3,
            "estimated_time_to_regain_access": throttled_minutes or 0,
        }
        return _dumps({page_id: [entry]})

    def reset(self) -> None:
        self._app_calls, self._window_started = 0, None
        self._page_calls.clear()


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))

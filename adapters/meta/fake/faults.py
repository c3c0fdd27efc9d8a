"""Faults the fake injects on demand: Meta's throttling (HTTP 400 or 403 with a throttle code,
never 429, no Retry-After), scripted error answers (e.g. the transient codes 1 and 2) and slow
answers. (Facebook Login's own faults, a refused consent or declined permissions, are the
login plan's: login.py.)"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from adapters.meta.fake.errors import THROTTLE_CODES

# Route names a fault may be limited to (the Graph routes of graph.py).
ROUTES = frozenset(
    {
        "debug_token", "me", "subscribed_apps", "leadgen_forms", "object", "form_leads", "events",
        "oauth_access_token", "me_accounts", "me_permissions",
    }
)  # fmt: skip


def _check_routes(routes: list[str] | None) -> None:
    unknown = set(routes or ()) - ROUTES
    if unknown:
        raise ValueError(f"unknown routes {sorted(unknown)}; known: {sorted(ROUTES)}")


@dataclass(slots=True)
class Throttle:
    """Once `after` matching calls went through, answer `status` with throttle `code` and
    `minutes` as ``estimated_time_to_regain_access``; `count` answers, or until reset (None)."""

    code: int = 80005
    after: int = 0
    status: int = 400
    minutes: int = 5
    count: int | None = None
    routes: list[str] | None = None  # None: every Graph route

    def __post_init__(self) -> None:
        if self.code not in THROTTLE_CODES:
            raise ValueError(f"code must be a throttle code: {sorted(THROTTLE_CODES)}")
        if self.status not in (400, 403):
            raise ValueError("Meta throttles with 400 (sometimes 403), never 429")
        _check_routes(self.routes)

    def fires(self, route: str) -> bool:
        """Counts one call of `route`; whether it is throttled."""
        if self.routes is not None and route not in self.routes:
            return False
        if self.after > 0:
            self.after -= 1
            return False
        if self.count is None:
            return True
        if self.count > 0:
            self.count -= 1
            return True
        return False


@dataclass(slots=True)
class ScriptedError:
    """The next `count` matching calls (after `after` went through) answer this Graph error."""

    code: int = 1
    status: int = 500
    message: str = "An unknown error occurred"
    subcode: int | None = None
    is_transient: bool | None = True
    count: int = 1
    after: int = 0
    routes: list[str] | None = None

    def __post_init__(self) -> None:
        _check_routes(self.routes)


@dataclass(slots=True)
class Slow:
    """The next `count` matching calls (after `after` went through) wait `seconds` before they
    are answered (a client's timeout gives up first)."""

    seconds: float = 30.0
    count: int = 1
    after: int = 0
    routes: list[str] | None = None

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("seconds must be >= 0")
        _check_routes(self.routes)


@dataclass(slots=True)
class FaultPlan:
    throttle: Throttle | None = None
    errors: list[ScriptedError] = field(default_factory=list)
    slow: list[Slow] = field(default_factory=list)

    def pick_delay(self, route: str) -> float:
        """Seconds to hold this call of `route` back (0: none)."""
        for slow in self.slow:
            if slow.routes is not None and route not in slow.routes:
                continue
            if slow.after > 0:
                slow.after -= 1
                continue
            slow.count -= 1
            if slow.count <= 0:
                self.slow.remove(slow)
            return slow.seconds
        return 0.0

    def pick_error(self, route: str) -> ScriptedError | None:
        for error in self.errors:
            if error.routes is not None and route not in error.routes:
                continue
            if error.after > 0:
                error.after -= 1
                continue
            error.count -= 1
            if error.count <= 0:
                self.errors.remove(error)
            return error
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultPlan:
        """Raises TypeError or ValueError for a plan that does not hold."""
        throttle = data.get("throttle")
        return cls(
            throttle=Throttle(**throttle) if throttle is not None else None,
            errors=[ScriptedError(**e) for e in data.get("errors", [])],
            slow=[Slow(**e) for e in data.get("slow", [])],
        )

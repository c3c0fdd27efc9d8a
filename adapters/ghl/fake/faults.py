"""Faults the fake injects on demand: error answers, latency, hangs and dropped connections."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "timeout", "drop", "lost_answer"]
"""``lost_answer``: the request is carried out, then the connection closes unanswered."""


@dataclass(slots=True)
class ScriptedFault:
    """The next `count` requests matching `method` and `path_prefix` fail this way, once
    `after` matching requests went through (an outage in the middle of a paging)."""

    kind: FaultKind = "status"
    status: int = 503
    count: int = 1
    method: str | None = None
    path_prefix: str = "/"
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and path.startswith(
            self.path_prefix
        )


@dataclass(slots=True)
class FaultPlan:
    """Random faults applied to every GHL request (not to the control endpoints)."""

    error_rate: float = 0.0
    error_status: int = 503
    latency_ms: int = 0
    timeout_rate: float = 0.0
    drop_rate: float = 0.0
    hang_seconds: float = 60.0  # how long a "timeout" holds the answer back
    scripted: list[ScriptedFault] = field(default_factory=list)

    def pick(self, method: str, path: str, rng: random.Random) -> ScriptedFault | None:
        """The fault for this request, if any; scripted faults come first."""
        for fault in self.scripted:
            if fault.matches(method, path) and fault.after > 0:
                fault.after -= 1
            elif fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.scripted.remove(fault)
                return fault
        draw = rng.random()
        broken: tuple[tuple[FaultKind, float], ...] = (
            ("drop", self.drop_rate),
            ("timeout", self.timeout_rate),
        )
        for kind, rate in broken:
            if draw < rate:
                return ScriptedFault(kind=kind)
            draw -= rate
        if draw < self.error_rate:
            return ScriptedFault(kind="status", status=self.error_status)
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultPlan:
        scripted = [ScriptedFault(**f) for f in data.get("scripted", [])]
        fields = {k: v for k, v in data.items() if k != "scripted"}
        return cls(**fields, scripted=scripted)

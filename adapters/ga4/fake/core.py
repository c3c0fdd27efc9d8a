"""The fake GA4's state: properties, streams and secrets; the service accounts it trusts and the
tokens it issued; every Measurement Protocol request it received. Reachable in-process by tests."""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Collected:
    """One request to `/mp/collect` or `/debug/mp/collect`, as received. `accepted`: GA4 would
    record its events (a known measurement id with one of its stream's secrets, not the
    validation server)."""

    measurement_id: str
    api_secret: str
    body: Any
    debug: bool
    accepted: bool


@dataclass(slots=True)
class FakeGa4:
    properties: dict[str, Json]
    service_accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    """Trusted service accounts: e-mail -> public key of its key."""
    tokens: dict[str, str] = field(default_factory=dict)
    """Access tokens issued: token -> service account e-mail."""
    collected: list[Collected] = field(default_factory=list)
    collect_faults: deque[int] = field(default_factory=deque)
    """Statuses the next `/mp/collect` requests get instead of 204 (the request is not recorded)."""

    def issue_token(self, email: str) -> str:
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        self.tokens[token] = email
        return token

    def stream_by_measurement_id(self, measurement_id: str) -> Json | None:
        for prop in self.properties.values():
            for stream in prop["streams"]:
                if stream.get("measurementId") == measurement_id:
                    found: Json = stream
                    return found
        return None

    def accepts(self, measurement_id: str, api_secret: str) -> bool:
        stream = self.stream_by_measurement_id(measurement_id)
        return stream is not None and any(
            s["secretValue"] == api_secret for s in stream.get("secrets", [])
        )

    def recorded_events(self, measurement_id: str | None = None) -> list[Json]:
        """The events GA4 would have recorded, in arrival order, each with its request's
        `client_id`."""
        return [
            {**event, "client_id": c.body.get("client_id")}
            for c in self.collected
            if c.accepted and (measurement_id is None or c.measurement_id == measurement_id)
            for event in c.body.get("events", [])
        ]

    def fail_next_collects(self, status: int, times: int = 1) -> None:
        self.collect_faults.extend([status] * times)


FAKE_GA4 = web.AppKey("fake_ga4", FakeGa4)

"""The fake GHL's core: its state and knobs in one object, reachable in-process by tests."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web

from adapters.ghl.fake.consent import Consent
from adapters.ghl.fake.contract import ContractChecker
from adapters.ghl.fake.faults import FaultPlan, ScriptedFault
from adapters.ghl.fake.limits import RateLimitConfig, RateLimits
from adapters.ghl.fake.state import AccessGrant, FakeState, Json
from adapters.ghl.fake.webhooks import WebhookSender

# Set by the middleware on each authenticated request.
LOCATION = web.RequestKey("fake_ghl_location", str)
TRACE_ID = web.RequestKey("fake_ghl_trace_id", str)
ACCESS = web.RequestKey("fake_ghl_access", AccessGrant)


@dataclass(slots=True)
class LoggedRequest:
    """One request the fake received, in arrival order. `at`: seconds since the fake started."""

    seq: int
    at: float
    method: str
    path: str
    version: str | None
    location_id: str | None = None
    status: int | None = None  # None: no answer (dropped, or held until the client left)
    fault: str | None = None
    trace_id: str | None = None
    contract_errors: list[str] = field(default_factory=list)
    response_contract_errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FakeHttpError(Exception):
    """An error answer in GHL's shapes (common-schemas.json): 400 ``{statusCode, message}``,
    401 ``{statusCode, message, error}``, 422 ``{statusCode, message: [...], error}``. The other
    statuses take the 401 shape; ``extra`` fields are added as GHL adds ``meta``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self, trace_id: str) -> Json:
        body: Json = {"statusCode": self.status}
        if self.status == 422:
            body.update(message=[self.message], error="Unprocessable Entity")
        elif self.status == 400:
            body["message"] = self.message
        else:
            body.update(message=self.message, error=_REASONS.get(self.status, "Error"))
        body.update(self.extra)
        body["traceId"] = trace_id  # "Every response carries a traceId" (API-NOTES §1.1)
        return body


_REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class FakeGhl:
    """A stateful stand-in for GoHighLevel: what the endpoints serve, limit, inject and log."""

    def __init__(
        self,
        state: FakeState,
        *,
        rate_limit: RateLimitConfig,
        faults: FaultPlan,
        webhooks: WebhookSender,
        checker: ContractChecker | None,
        access_token_ttl: timedelta,
        rng: random.Random,
    ) -> None:
        self.state = state
        self.limits = RateLimits(rate_limit)
        self.faults = faults
        self.webhooks = webhooks
        self.checker = checker
        self.access_token_ttl = access_token_ttl
        self.rng = rng
        self.log: list[LoggedRequest] = []
        self.token_refreshes = 0
        self.consent = Consent()
        self.started = time.monotonic()

    def emit(self, event_type: str, location_id: str, fields: Json) -> None:
        """Send the webhook GHL sends for a change (flat fields, ``type`` and ``locationId``)."""
        # A contact's own "type" (lead, customer) is not in GHL's contact events.
        body = {k: v for k, v in fields.items() if k not in ("type", "locationId")}
        self.webhooks.emit({"type": event_type, "locationId": location_id, **body})

    def inject(self, *faults: ScriptedFault) -> None:
        self.faults.scripted.extend(faults)

    def issue_refresh_token(self, client_id: str, location_id: str) -> str:
        return self.state.issue_refresh_token(client_id, location_id)

    def contract_violations(self) -> list[LoggedRequest]:
        """Requests that GHL's spec rejects, and answers of the fake that depart from it."""
        return [r for r in self.log if r.contract_errors or r.response_contract_errors]


FAKE_GHL = web.AppKey("fake_ghl", FakeGhl)

"""The fake GHL aiohttp app: gates (contract check, faults, bearer token, rate limit, Version
header; GHL does not document its own order), then the endpoint; control under ``/_fake/``."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.ghl.fake.contract import ContractChecker
from adapters.ghl.fake.control import add_control_routes
from adapters.ghl.fake.core import (
    ACCESS,
    FAKE_GHL,
    LOCATION,
    TRACE_ID,
    FakeGhl,
    FakeHttpError,
    LoggedRequest,
)
from adapters.ghl.fake.faults import FaultPlan, ScriptedFault
from adapters.ghl.fake.handlers import add_routes
from adapters.ghl.fake.limits import RateLimitConfig
from adapters.ghl.fake.oauth import AUTHORIZE_PATH, TOKEN_PATH, add_oauth_routes
from adapters.ghl.fake.seed import DEFAULT_SEED
from adapters.ghl.fake.state import FakeState
from adapters.ghl.fake.webhooks import WebhookSender

log = logging.getLogger(__name__)

# The Version each family requires: the enum of its spec's Version parameter
# (reference/ghl/version-headers.json). Kept apart from the client's table on purpose.
_VERSIONS = {
    "contacts": "2021-07-28",
    "locations": "2021-07-28",
    "opportunities": "2021-07-28",
    "calendars": "2021-04-15",
    "conversations": "2021-04-15",
    "oauth": "2021-07-28",  # /oauth/locationToken, /oauth/installedLocations; not /oauth/token
}
# How often an answer held back by a "timeout" fault checks whether the client left.
_HANG_POLL_SECONDS = 0.05

_GHL_LIMITS = RateLimitConfig()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    seed: Path | Mapping[str, Any] | None = None,
    *,
    rate_limit: RateLimitConfig = _GHL_LIMITS,
    faults: FaultPlan | None = None,
    webhook_url: str | None = None,
    webhook_retry_delay: float = 600.0,
    validate_requests_against: Path | None = None,
    signing_key: Ed25519PrivateKey | None = None,
    access_token_ttl: timedelta = timedelta(seconds=86399),
    random_seed: int | None = None,
) -> web.Application:
    """The fake GHL. `seed`: a JSON file or object (state.py documents it), else a small demo
    location. `validate_requests_against`: GHL's ``openapi/`` folder (``apps/*.json`` beside
    ``common/``); when given, every request and answer is checked against the specs and the
    violations are logged (``FakeGhl.contract_violations()``) and refused with 422."""
    rng = random.Random(random_seed)  # noqa: S311 - ids and fault draws, reproducible by seed
    if isinstance(seed, Path):
        state = FakeState.from_file(seed, rng=rng)
    else:
        state = FakeState(dict(seed) if seed is not None else DEFAULT_SEED, rng=rng)
    checker = None
    if validate_requests_against is not None:
        specs = validate_requests_against
        checker = ContractChecker(specs.parent if specs.name == "apps" else specs)
    fake = FakeGhl(
        state,
        rate_limit=rate_limit,
        faults=faults or FaultPlan(),
        webhooks=WebhookSender(
            webhook_url, private_key=signing_key, retry_delay=webhook_retry_delay, rng=rng
        ),
        checker=checker,
        access_token_ttl=access_token_ttl,
        rng=rng,
    )
    app = web.Application(middlewares=[_ghl_gates])
    app[FAKE_GHL] = fake
    add_routes(app)
    add_oauth_routes(app)
    add_control_routes(app)
    app.cleanup_ctx.append(_webhook_sender)
    return app


async def _webhook_sender(app: web.Application) -> AsyncIterator[None]:
    sender = app[FAKE_GHL].webhooks
    await sender.start()
    yield
    await sender.stop()


@web.middleware
async def _ghl_gates(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_fake/"):
        return await handler(request)
    fake = request.app[FAKE_GHL]
    entry = LoggedRequest(
        seq=len(fake.log),
        at=time.monotonic() - fake.started,
        method=request.method,
        path=request.path,
        version=request.headers.get("Version"),
        trace_id=uuid.uuid4().hex,
    )
    fake.log.append(entry)
    request[TRACE_ID] = entry.trace_id or ""
    body = await request.read()
    rate_headers: dict[str, str] = {}
    try:
        response = await _serve(request, handler, fake, entry, body, rate_headers)
    except FakeHttpError as err:
        response = web.json_response(err.body(request[TRACE_ID]), status=err.status)
    except web.HTTPException as err:  # the router's 404 and 405, in NestJS's words
        response = web.json_response(
            FakeHttpError(err.status, f"Cannot {request.method} {request.path}").body(
                request[TRACE_ID]
            ),
            status=err.status,
        )
    except Exception:
        log.exception("fake GHL endpoint failed")
        response = web.json_response(
            FakeHttpError(500, "Internal server error").body(request[TRACE_ID]), status=500
        )
    response.headers.update(rate_headers)
    if request.transport is None or request.transport.is_closing():
        return response  # the client never gets it: logged without a status
    entry.status = response.status
    if fake.checker is not None and isinstance(response, web.Response):
        answer = response.body if isinstance(response.body, bytes) else None
        entry.response_contract_errors = fake.checker.check_response(
            request, body, response.status, answer
        )
    return response


async def _serve(
    request: web.Request,
    handler: Handler,
    fake: FakeGhl,
    entry: LoggedRequest,
    body: bytes,
    rate_headers: dict[str, str],
) -> web.StreamResponse:
    if fake.checker is not None and request.path != AUTHORIZE_PATH:  # a page, not the API
        entry.contract_errors = fake.checker.check_request(request, body)
    if fake.faults.latency_ms:
        await asyncio.sleep(fake.faults.latency_ms / 1000)
    fault = fake.faults.pick(request.method, request.path, fake.rng)
    if fault is not None and fault.kind == "lost_answer":
        # Carried out as usual, then the connection closes before the answer is sent.
        entry.fault = fault.kind
        response = await _admit(request, handler, fake, entry, None, rate_headers)
        if request.transport is not None:
            request.transport.close()
        return response
    if fault is not None and fault.kind != "status":
        entry.fault = fault.kind
        return await _break_connection(request, fault, fake.faults.hang_seconds)
    return await _admit(request, handler, fake, entry, fault, rate_headers)


async def _admit(
    request: web.Request,
    handler: Handler,
    fake: FakeGhl,
    entry: LoggedRequest,
    fault: ScriptedFault | None,
    rate_headers: dict[str, str],
) -> web.StreamResponse:
    # The token endpoint and the authorize page take no bearer and no Version.
    token_endpoint = request.path in (TOKEN_PATH, AUTHORIZE_PATH)
    grant = None if token_endpoint else fake.state.grant_for(_bearer(request))
    if fault is not None:  # a scripted or random error answer
        entry.fault = "status"
        if fault.status == 429 and grant is not None:
            limited = grant.location_id or f"company:{grant.company_id}"
            rate_headers.update(fake.limits.exhausted_headers(limited, time.monotonic()))
        raise FakeHttpError(fault.status, _REASON.get(fault.status, "Injected failure"))
    if token_endpoint:
        _refuse_contract_violations(entry)
        return await handler(request)
    if grant is None:
        raise FakeHttpError(401, "Invalid token: access token is invalid")
    request[LOCATION] = entry.location_id = grant.location_id
    request[ACCESS] = grant
    # An agency token is limited as its company (GHL's agency limits are not documented).
    limited = grant.location_id or f"company:{grant.company_id}"
    admitted, headers = fake.limits.admit(limited, time.monotonic())
    rate_headers.update(headers)
    if not admitted:
        raise FakeHttpError(429, "Too Many Requests")
    family = request.path.lstrip("/").split("/", 1)[0]
    expected = _VERSIONS.get(family)
    if expected is not None and request.headers.get("Version") != expected:
        raise FakeHttpError(400, f"Version header must be {expected} for /{family}")
    _refuse_contract_violations(entry)
    return await handler(request)


_REASON = {429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable"}


def _refuse_contract_violations(entry: LoggedRequest) -> None:
    if entry.contract_errors:
        raise FakeHttpError(422, "; ".join(entry.contract_errors))


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token if scheme == "Bearer" else ""


async def _break_connection(
    request: web.Request, fault: ScriptedFault, hang_seconds: float
) -> web.StreamResponse:
    transport = request.transport
    if fault.kind == "timeout":
        # Hold the answer back until the client gives up (or hang_seconds pass: then a 504).
        deadline = time.monotonic() + hang_seconds
        while transport is not None and not transport.is_closing():
            if time.monotonic() >= deadline:
                raise FakeHttpError(504, "Gateway Timeout")
            await asyncio.sleep(_HANG_POLL_SECONDS)
    elif transport is not None:
        transport.close()
    return web.Response(status=500)

"""Control endpoints of the fake (``/_fake/...``): its log, faults, limits, keys and state."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from adapters.ghl.fake.core import FAKE_GHL
from adapters.ghl.fake.faults import FaultPlan, ScriptedFault
from adapters.ghl.fake.limits import RateLimitConfig, RateLimits


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as err:
        raise web.HTTPBadRequest(text="body must be JSON") from err


async def get_log(request: web.Request) -> web.Response:
    """Every GHL request received: ``{"requests": [{seq, at, method, path, status, ...}]}``."""
    log = request.app[FAKE_GHL].log
    return web.json_response({"requests": [r.to_json() for r in log]})


async def clear_log(request: web.Request) -> web.Response:
    request.app[FAKE_GHL].log.clear()
    return web.Response(status=204)


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAKE_GHL].faults.to_json())


async def put_faults(request: web.Request) -> web.Response:
    """Replace the fault plan: ``{error_rate, error_status, latency_ms, timeout_rate,
    drop_rate, hang_seconds, scripted: [...]}`` (omitted fields take their defaults)."""
    fake = request.app[FAKE_GHL]
    try:
        fake.faults = FaultPlan.from_json(await _json(request))
    except TypeError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return web.json_response(fake.faults.to_json())


async def add_scripted_faults(request: web.Request) -> web.Response:
    """Queue faults for the next matching requests: one object or a list of
    ``{kind: status|timeout|drop, status, count, method, path_prefix}``."""
    data = await _json(request)
    try:
        faults = [ScriptedFault(**f) for f in (data if isinstance(data, list) else [data])]
    except TypeError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    request.app[FAKE_GHL].inject(*faults)
    return web.json_response(request.app[FAKE_GHL].faults.to_json())


async def reset_faults(request: web.Request) -> web.Response:
    request.app[FAKE_GHL].faults = FaultPlan()
    return web.Response(status=204)


async def get_rate_limit(request: web.Request) -> web.Response:
    return web.json_response(asdict(request.app[FAKE_GHL].limits.config))


async def put_rate_limit(request: web.Request) -> web.Response:
    """``{max_requests, interval_ms, daily_limit}``; counting starts afresh."""
    fake = request.app[FAKE_GHL]
    try:
        fake.limits = RateLimits(RateLimitConfig(**await _json(request)))
    except TypeError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return web.json_response(asdict(fake.limits.config))


async def public_key(request: web.Request) -> web.Response:
    """The PEM of the Ed25519 key that signs this fake's webhooks (``x-ghl-signature``)."""
    return web.Response(text=request.app[FAKE_GHL].webhooks.public_key_pem())


async def webhook_attempts(request: web.Request) -> web.Response:
    attempts = request.app[FAKE_GHL].webhooks.attempts
    return web.json_response({"attempts": [asdict(a) for a in attempts]})


async def mint_refresh_token(request: web.Request) -> web.Response:
    """``{clientId, locationId}`` → ``{refresh_token}``: as if the location installed the app."""
    data = await _json(request)
    fake = request.app[FAKE_GHL]
    if fake.state.oauth_clients.get(data.get("clientId")) is None:
        raise web.HTTPNotFound(text="unknown clientId")
    if data.get("locationId") not in fake.state.locations:
        raise web.HTTPNotFound(text="unknown locationId")
    token = fake.issue_refresh_token(data["clientId"], data["locationId"])
    return web.json_response({"refresh_token": token})


async def dump_state(request: web.Request) -> web.Response:
    state = request.app[FAKE_GHL].state
    data = {
        "locations": state.locations,
        "contacts": state.contacts,
        "calendars": state.calendars,
        "events": state.events,
        "conversations": state.conversations,
        "messages": state.messages,
        "pipelines": state.pipelines,
        "opportunities": state.opportunities,
    }
    return web.json_response(data, dumps=lambda v: json.dumps(v, default=str))


def add_control_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/_fake/log", get_log),
            web.delete("/_fake/log", clear_log),
            web.get("/_fake/faults", get_faults),
            web.put("/_fake/faults", put_faults),
            web.post("/_fake/faults/scripted", add_scripted_faults),
            web.delete("/_fake/faults", reset_faults),
            web.get("/_fake/rate-limit", get_rate_limit),
            web.put("/_fake/rate-limit", put_rate_limit),
            web.get("/_fake/webhooks/public-key", public_key),
            web.get("/_fake/webhooks", webhook_attempts),
            web.post("/_fake/oauth/refresh-tokens", mint_refresh_token),
            web.get("/_fake/state", dump_state),
        ]
    )

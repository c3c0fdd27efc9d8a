"""Control endpoints of the fake (``/_fake/...``, JSON): lead submissions and webhook sends,
received Conversions API events, faults, tokens, Facebook Login's plan, settings, the request
log, state and reset."""

from __future__ import annotations

import json
from typing import Any, cast

from aiohttp import web

from adapters.meta.fake.core import FAKE_META, FakeMeta
from adapters.meta.fake.errors import TOKEN_DEATH_SUBCODES
from adapters.meta.fake.faults import FaultPlan
from adapters.meta.fake.login import LoginPlan
from adapters.meta.fake.state import TokenGrant
from adapters.meta.fake.submissions import Submission
from adapters.meta.fake.webhooks import IdStyle, SignatureMode

_ID_STYLES = ("string", "number", "mixed")
_SEND_OPTIONS = ("deliver", "force", "id_style", "signature", "repeat")


def _fake(request: web.Request) -> FakeMeta:
    return request.app[FAKE_META]


async def _json(request: web.Request) -> dict[str, Any]:
    if not await request.read():
        return {}
    try:
        data = await request.json()
    except ValueError as err:
        raise web.HTTPBadRequest(text="body must be JSON") from err
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return data


def _bad(err: Exception) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=str(err))


# --- leads and webhooks ------------------------------------------------------------------------


def _send_options(data: dict[str, Any]) -> dict[str, Any]:
    id_style = data.get("id_style", "mixed")
    if id_style not in _ID_STYLES:
        raise web.HTTPBadRequest(text=f"id_style must be one of {_ID_STYLES}")
    signature = data.get("signature", "valid")
    if not isinstance(signature, str):
        raise web.HTTPBadRequest(text="signature must be valid, invalid, missing or a header")
    return {
        "deliver": bool(data.get("deliver", True)),
        "force": bool(data.get("force", False)),
        "id_style": cast("IdStyle", id_style),
        "signature": cast("SignatureMode", signature),
        "repeat": _int(data, "repeat", 1),
    }


def _int(data: dict[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise web.HTTPBadRequest(text=f"{key} must be an integer")
    return value


async def _submit(
    request: web.Request, submissions: list[Submission], data: dict[str, Any]
) -> web.Response:
    try:
        result = await _fake(request).submit_leads(submissions, **_send_options(data))
    except ValueError as err:
        raise _bad(err) from err
    except LookupError as err:
        raise web.HTTPConflict(text=str(err)) from err
    return web.json_response(result.to_json())


async def submit_lead(request: web.Request) -> web.Response:
    """One form submission: ``{page_id, form_id, ad_id, organic, fields: {name: value},
    field_data, platform, created_time}`` (all optional) plus the send options ``{deliver,
    force, id_style: string|number|mixed, signature: valid|invalid|missing|<header>,
    repeat}`` → ``{leads, skipped, deliveries}``."""
    data = await _json(request)
    options: dict[str, Any] = {k: data.pop(k) for k in _SEND_OPTIONS if k in data}
    try:
        submission = Submission.from_json(data)
    except (TypeError, ValueError) as err:
        raise _bad(err) from err
    return await _submit(request, [submission], options)


async def submit_batch(request: web.Request) -> web.Response:
    """Several submissions notified in one POST (1..1000 changes): ``{"leads": [submission,
    ...]}`` or ``{"count": n, "page_ids": [...]}`` (round robin over the pages, default all),
    plus the send options of ``POST /_fake/leads``."""
    data = await _json(request)
    fake = _fake(request)
    try:
        if "leads" in data:
            submissions = [Submission.from_json(s) for s in data["leads"]]
        else:
            pages = [str(p) for p in data.get("page_ids") or fake.state.pages]
            submissions = [
                Submission(page_id=pages[i % len(pages)]) for i in range(_int(data, "count", 1))
            ]
    except (TypeError, ValueError, ZeroDivisionError) as err:
        raise _bad(err) from err
    return await _submit(request, submissions, data)


async def send_raw(request: web.Request) -> web.Response:
    """Any body, as given: ``{"body": <JSON object, or a string sent byte for byte>,
    "signature": valid|invalid|missing|<header value>}`` → the delivery."""
    data = await _json(request)
    body = data.get("body")
    if body is None:
        raise web.HTTPBadRequest(text="body is required")
    raw = (
        body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
    )
    try:
        delivery = await _fake(request).webhooks.post(raw, signature=data.get("signature", "valid"))
    except LookupError as err:
        raise web.HTTPConflict(text=str(err)) from err
    return web.json_response(delivery.to_json())


async def resend(request: web.Request) -> web.Response:
    """Re-send a POST byte for byte (a redelivery): ``{"seq": n}``, default the last one."""
    data = await _json(request)
    try:
        delivery = await _fake(request).webhooks.resend(data.get("seq"))
    except LookupError as err:
        raise web.HTTPConflict(text=str(err)) from err
    return web.json_response(delivery.to_json())


async def verify(request: web.Request) -> web.Response:
    """The GET handshake: ``{verify_token, challenge, mode}`` (default the app's verify token,
    random digits, ``subscribe``) → the delivery with ``status``, ``response_body`` and
    ``echoed`` (200 and the challenge verbatim)."""
    fake = _fake(request)
    data = await _json(request)
    challenge = str(data.get("challenge") or fake.rng.randint(10**9, 10**10 - 1))
    try:
        delivery = await fake.webhooks.verify(
            verify_token=str(data.get("verify_token", fake.state.verify_token)),
            challenge=challenge,
            mode=str(data.get("mode", "subscribe")),
        )
    except LookupError as err:
        raise web.HTTPConflict(text=str(err)) from err
    return web.json_response(delivery.to_json())


async def deliveries(request: web.Request) -> web.Response:
    sent = _fake(request).webhooks.deliveries
    return web.json_response({"deliveries": [d.to_json() for d in sent]})


async def clear_deliveries(request: web.Request) -> web.Response:
    _fake(request).webhooks.deliveries.clear()
    return web.Response(status=204)


# --- Conversions API ---------------------------------------------------------------------------


async def capi_events(request: web.Request) -> web.Response:
    """Accepted events, in order: ``{"events": [{dataset_id, event, version, test_event_code,
    fbtrace_id, received_at, extra}]}``; ``?dataset_id=`` filters."""
    dataset = request.query.get("dataset_id")
    events = [
        e.to_json()
        for e in _fake(request).capi_events
        if dataset is None or e.dataset_id == dataset
    ]
    return web.json_response({"events": events})


async def clear_capi_events(request: web.Request) -> web.Response:
    _fake(request).capi_events.clear()
    return web.Response(status=204)


# --- faults, tokens, settings ------------------------------------------------------------------


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_fake(request).faults.to_json())


async def put_faults(request: web.Request) -> web.Response:
    """Replace the plan: ``{"throttle": {code, after, status, minutes, count, routes} | null,
    "errors": [{code, status, message, subcode, is_transient, count, after, routes}],
    "slow": [{seconds, count, after, routes}]}``."""
    fake = _fake(request)
    try:
        fake.faults = FaultPlan.from_json(await _json(request))
    except (TypeError, ValueError) as err:
        raise _bad(err) from err
    return web.json_response(fake.faults.to_json())


async def clear_faults(request: web.Request) -> web.Response:
    _fake(request).faults = FaultPlan()
    return web.Response(status=204)


async def mint_token(request: web.Request) -> web.Response:
    """A new token: ``{type, page_ids, scopes, expires_at, user_id, app_id}`` → ``{token}``."""
    fake = _fake(request)
    data = await _json(request)
    token = fake.state.new_token()
    now = int(fake.state.now())
    try:
        grant = TokenGrant(
            token=token,
            kind=str(data.get("type", "PAGE")),
            app_id=str(data.get("app_id", fake.state.app_id)),
            page_ids=tuple(str(p) for p in data.get("page_ids", [])),
            scopes=tuple(str(s) for s in data.get("scopes", [])),
            user_id=data.get("user_id"),
            issued_at=now,
            expires_at=int(data.get("expires_at", 0)),
            data_access_expires_at=now + 90 * 24 * 3600,
        )
    except (TypeError, ValueError) as err:
        raise _bad(err) from err
    fake.state.add_token(grant)
    return web.json_response({"token": token})


async def kill_token(request: web.Request) -> web.Response:
    """``{token, subcode, after}``: the token answers 190 with `subcode` (default 463; null:
    none) from now on, or once `after` more calls went through."""
    fake = _fake(request)
    data = await _json(request)
    subcode = data.get("subcode", 463)
    if subcode is not None and subcode not in TOKEN_DEATH_SUBCODES:
        raise web.HTTPBadRequest(text=f"subcode must be null or one of {TOKEN_DEATH_SUBCODES}")
    if not fake.kill_token(str(data.get("token")), subcode, after=_int(data, "after", 0)):
        raise web.HTTPNotFound(text="unknown token")
    return web.Response(status=204)


async def get_login(request: web.Request) -> web.Response:
    """The login plan and the users who may sign in."""
    return web.json_response(_fake(request).login.to_json())


async def put_login(request: web.Request) -> web.Response:
    """Replace the login plan: ``{user_id, page_ids, declined, deny, code_ttl_seconds,
    accounts_page_limit}`` (those left out take their defaults; login.py says what each does).
    An empty body restores the defaults."""
    fake = _fake(request)
    try:
        plan = LoginPlan.from_json(await _json(request))
    except (TypeError, ValueError) as err:
        raise _bad(err) from err
    if plan.user_id is not None and fake.login.user(plan.user_id) is None:
        raise web.HTTPBadRequest(text=f"unknown user {plan.user_id}")
    fake.login.plan = plan
    return web.json_response(fake.login.to_json())


def _settings(fake: FakeMeta) -> dict[str, Any]:
    return {
        "webhook_url": fake.webhooks.url,
        "require_appsecret_proof": fake.require_appsecret_proof,
        "usage_step_percent": fake.usage.step_percent,
    }


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(_settings(_fake(request)))


async def put_config(request: web.Request) -> web.Response:
    """Change ``{webhook_url, require_appsecret_proof, usage_step_percent}`` (those given)."""
    fake = _fake(request)
    data = await _json(request)
    if "webhook_url" in data:
        fake.webhooks.url = data["webhook_url"]
    if "require_appsecret_proof" in data:
        fake.require_appsecret_proof = bool(data["require_appsecret_proof"])
    if "usage_step_percent" in data:
        step = data["usage_step_percent"]
        if isinstance(step, bool) or not isinstance(step, int | float) or step < 0:
            raise web.HTTPBadRequest(text="usage_step_percent must be a number >= 0")
        fake.usage.step_percent = float(step)
    return web.json_response(_settings(fake))


# --- log, state, reset -------------------------------------------------------------------------


async def get_log(request: web.Request) -> web.Response:
    """Every Graph request: ``{"requests": [...], "versions": ["v26.0", ...]}``."""
    fake = _fake(request)
    return web.json_response(
        {"requests": [r.to_json() for r in fake.log], "versions": fake.versions_used()}
    )


async def clear_log(request: web.Request) -> web.Response:
    _fake(request).log.clear()
    return web.Response(status=204)


async def get_state(request: web.Request) -> web.Response:
    return web.json_response(_fake(request).state.to_json())


async def reset(request: web.Request) -> web.Response:
    _fake(request).reset()
    return web.Response(status=204)


def add_control_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.post("/_fake/leads", submit_lead),
            web.post("/_fake/webhooks/leadgen", submit_batch),
            web.post("/_fake/webhooks/send", send_raw),
            web.post("/_fake/webhooks/resend", resend),
            web.post("/_fake/webhooks/verify", verify),
            web.get("/_fake/webhooks", deliveries),
            web.delete("/_fake/webhooks", clear_deliveries),
            web.get("/_fake/capi/events", capi_events),
            web.delete("/_fake/capi/events", clear_capi_events),
            web.get("/_fake/faults", get_faults),
            web.put("/_fake/faults", put_faults),
            web.delete("/_fake/faults", clear_faults),
            web.post("/_fake/tokens", mint_token),
            web.post("/_fake/tokens/kill", kill_token),
            web.get("/_fake/login", get_login),
            web.put("/_fake/login", put_login),
            web.get("/_fake/config", get_config),
            web.put("/_fake/config", put_config),
            web.get("/_fake/log", get_log),
            web.delete("/_fake/log", clear_log),
            web.get("/_fake/state", get_state),
            web.post("/_fake/reset", reset),
        ]
    )

"""The fake Meta aiohttp app: each Graph call passes the gates (token, appsecret_proof, usage,
slowness, throttle, scripted errors) then reaches its route; the OAuth token endpoint, which
takes no access token, only the faults; the Login dialog, a browser page, none. Control under
``/_fake/``."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.meta.fake.control import add_control_routes
from adapters.meta.fake.core import FAKE_META, GRANT, FakeMeta, LoggedRequest, Settings
from adapters.meta.fake.errors import (
    BUC_TYPES,
    GraphError,
    Json,
    invalid_parameter,
    throttle_error,
    token_error,
)
from adapters.meta.fake.faults import FaultPlan
from adapters.meta.fake.graph import add_graph_routes
from adapters.meta.fake.oauth import OAUTH_TOKEN, add_login_routes
from adapters.meta.fake.params import PARAMS, TRACE_ID, read_params, token_of
from adapters.meta.fake.seed import DEFAULT_SEED
from adapters.meta.fake.state import TokenGrant

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    seed: Path | Mapping[str, Any] | None = None,
    *,
    webhook_url: str | None = None,
    require_appsecret_proof: bool = False,
    usage_step_percent: float = 0.1,
    faults: FaultPlan | None = None,
    random_seed: int | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The fake Meta. `seed`: a JSON file or object (state.py documents it), else the demo of
    seed.py. `webhook_url`: where the sender POSTs leadgen notifications and sends the
    handshake. `require_appsecret_proof`: refuse user and page tokens without a valid
    ``appsecret_proof`` (one sent is checked either way). `usage_step_percent`: how much
    ``X-App-Usage`` rises per call (0.1: a client that pauses at 95 % does so after 950 calls
    an hour). `clock`: unix seconds (token expiry, stale CAPI events)."""
    if isinstance(seed, Path):
        seed_data: Json = json.loads(seed.read_text())
    else:
        seed_data = dict(seed) if seed is not None else DEFAULT_SEED
    fake = FakeMeta(
        seed_data,
        settings=Settings(
            webhook_url=webhook_url,
            require_appsecret_proof=require_appsecret_proof,
            usage_step_percent=usage_step_percent,
        ),
        faults=faults or FaultPlan(),
        rng=random.Random(random_seed),  # noqa: S311 - ids and trace ids, reproducible by seed
        clock=clock,
    )
    app = web.Application(middlewares=[_graph_gates])
    app[FAKE_META] = fake
    add_login_routes(app)
    add_graph_routes(app)
    add_control_routes(app)
    app.cleanup_ctx.append(_webhook_session)
    return app


async def _webhook_session(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[FAKE_META].webhooks.stop()


@web.middleware
async def _graph_gates(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_fake/"):
        return await handler(request)
    fake = request.app[FAKE_META]
    resource = request.match_info.route.resource
    entry = LoggedRequest(
        seq=len(fake.log),
        method=request.method,
        path=request.path,
        version=request.match_info.get("version"),
        route=resource.name if resource is not None else None,
    )
    fake.log.append(entry)
    request[TRACE_ID] = trace = fake.fbtrace_id()
    headers: dict[str, str] = {}
    try:
        response = await _serve(request, handler, fake, entry, headers)
    except GraphError as err:
        entry.error_code, entry.error_subcode = err.code, err.subcode
        response = web.json_response(err.body(trace), status=err.status)
        headers.update(err.headers)
    except web.HTTPException as err:  # the router's 404 and 405
        error = GraphError(
            100,
            f"Unsupported {request.method.lower()} request.",
            error_type="GraphMethodException",
        )
        entry.error_code = error.code
        response = web.json_response(error.body(trace), status=400 if err.status == 404 else 405)
    except Exception:
        log.exception("fake Meta endpoint failed")
        error = GraphError(1, "An unknown error occurred", status=500, is_transient=True)
        entry.error_code = error.code
        response = web.json_response(error.body(trace), status=500)
    response.headers.update(headers)
    response.headers["x-fb-trace-id"] = trace
    entry.status = response.status
    return response


async def _serve(
    request: web.Request,
    handler: Handler,
    fake: FakeMeta,
    entry: LoggedRequest,
    headers: dict[str, str],
) -> web.StreamResponse:
    if entry.route is None or entry.route.startswith("dialog"):
        # The router's 404 or 405 (raised by the handler), or the Login dialog.
        return await handler(request)
    request[PARAMS] = params = await read_params(request)
    if entry.route == OAUTH_TOKEN:
        await _faults(fake, entry.route, None, headers)
        return await handler(request)
    token = token_of(request, params)
    grant = fake.state.grant_for(token) if token else None
    if grant is None:
        raise token_error(None)
    entry.token_type = grant.kind
    dead, subcode = grant.death(fake.state.now())
    if dead:
        raise token_error(subcode)
    if grant.dies_after is not None:
        grant.dies_after -= 1
        if grant.dies_after <= 0:
            grant.dead, grant.dies_after = True, None
    _check_proof(fake, grant, token, params.get("appsecret_proof"), entry)
    page_id = _business_page(fake, request, grant)
    fake.usage.count(page_id, fake.state.now())
    headers["X-App-Usage"] = fake.usage.app_header()
    await _faults(fake, entry.route, page_id, headers)
    request[GRANT] = grant
    response = await handler(request)
    if page_id is not None and entry.route in ("object", "form_leads"):
        headers["X-Business-Use-Case-Usage"] = fake.usage.buc_header(page_id, "leadgen")
    return response


async def _faults(fake: FakeMeta, route: str, page_id: str | None, headers: dict[str, str]) -> None:
    """The plan's faults for this call: held back, throttled, or answered with an error."""
    delay = fake.faults.pick_delay(route)
    if delay > 0:
        await asyncio.sleep(delay)
    throttle = fake.faults.throttle
    if throttle is not None and throttle.fires(route):
        err = throttle_error(throttle.code, throttle.status)
        err.headers["X-Business-Use-Case-Usage"] = fake.usage.buc_header(
            page_id or fake.state.app_id,
            BUC_TYPES.get(throttle.code, "pages"),
            throttled_minutes=throttle.minutes,
        )
        if throttle.code == 4:
            err.headers["X-App-Usage"] = '{"call_count":100,"total_cputime":12,"total_time":31}'
        raise err
    scripted = fake.faults.pick_error(route)
    if scripted is not None:
        raise GraphError(
            scripted.code,
            scripted.message,
            status=scripted.status,
            subcode=scripted.subcode,
            is_transient=scripted.is_transient,
        )


def _check_proof(
    fake: FakeMeta, grant: TokenGrant, token: str, proof: Any, entry: LoggedRequest
) -> None:
    """``appsecret_proof`` = hex HMAC-SHA256(app secret, token): checked when sent, required
    for user and page tokens when the fake is told to."""
    if isinstance(proof, str) and proof:
        expected = hmac.new(fake.state.app_secret.encode(), token.encode(), hashlib.sha256)
        valid = hmac.compare_digest(expected.hexdigest(), proof)
        entry.appsecret_proof = "valid" if valid else "invalid"
        if not valid:
            raise invalid_parameter(
                "Invalid appsecret_proof provided in the API argument",
                error_type="GraphMethodException",
            )
    elif fake.require_appsecret_proof and grant.kind != "APP":
        raise invalid_parameter(
            "API calls from the server require an appsecret_proof argument",
            error_type="GraphMethodException",
        )


def _business_page(fake: FakeMeta, request: web.Request, grant: TokenGrant) -> str | None:
    """The page a call is counted against: the one it names, else the token's first."""
    match = request.match_info
    if "page_id" in match:
        return match["page_id"]
    if "form_id" in match:
        return fake.state.page_of_form(match["form_id"])
    if "object_id" in match:
        object_id = match["object_id"]
        lead = fake.state.leads.get(object_id)
        if lead is not None:
            return fake.state.page_of_lead(lead)
        if object_id in fake.state.pages:
            return object_id
        return fake.state.page_of_form(object_id)
    return grant.page_ids[0] if grant.page_ids else None

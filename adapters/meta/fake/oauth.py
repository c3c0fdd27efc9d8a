"""Facebook Login's routes (the manual flow): the dialog, which redirects straight back with a
code (or the person's refusal); the token endpoint (a code for a short-lived user token, that
for a long-lived one); and the signed-in person's ``me/accounts`` and ``me/permissions``."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from yarl import URL

from adapters.meta.fake.core import FAKE_META, GRANT, FakeMeta
from adapters.meta.fake.errors import GraphError, invalid_parameter, token_error
from adapters.meta.fake.graph import VERSION, cursor, decode_cursor
from adapters.meta.fake.login import LONG_LIVED_SECONDS, SHORT_LIVED_SECONDS
from adapters.meta.fake.params import PARAMS
from adapters.meta.fake.state import TokenGrant

DIALOG = "dialog"
OAUTH_TOKEN = "oauth_access_token"  # noqa: S105 - a route's name
_SCOPE_SEPARATORS = re.compile(r"[,\s]+")
_DEFAULT_LIMIT = 25


def _fake(request: web.Request) -> FakeMeta:
    return request.app[FAKE_META]


# --- the dialog --------------------------------------------------------------------------------


async def dialog(request: web.Request) -> web.Response:
    """``GET /{v}/dialog/oauth``: a page the browser sees, so its own mistakes answer 400 in
    text (Facebook shows an error page and redirects nowhere); the person's answer redirects
    to `redirect_uri` with ``code`` and ``state``, or with Facebook's refusal."""
    fake, query = _fake(request), request.query
    if query.get("client_id") != fake.state.app_id:
        return _dialog_error("Invalid App ID: the client_id is not this app's id")
    try:
        redirect = URL(query.get("redirect_uri", ""))
    except ValueError:
        redirect = URL()
    if redirect.scheme not in ("http", "https") or not redirect.host:
        return _dialog_error("URL blocked: redirect_uri must be an absolute http(s) URL")
    if query.get("response_type", "code") != "code":
        return _dialog_error("the fake serves response_type=code only")
    state = query.get("state")
    try:
        consent = fake.login.consent(
            scopes=_SCOPE_SEPARATORS.split(query.get("scope", "")),
            redirect_uri=query["redirect_uri"],
            challenge=query.get("code_challenge"),
            challenge_method=query.get("code_challenge_method"),
        )
    except (LookupError, ValueError) as err:
        return _dialog_error(str(err))
    if consent.denied:
        answer = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
        }
    else:
        answer = {"code": consent.code or ""}
    if state is not None:
        answer["state"] = state
    location = redirect.update_query(answer)
    return web.Response(status=302, headers={"Location": str(location)})


def _dialog_error(message: str) -> web.Response:
    return web.Response(status=400, text=message, content_type="text/plain")


# --- the token endpoint ------------------------------------------------------------------------


async def access_token(request: web.Request) -> web.Response:
    """``GET|POST /{v}/oauth/access_token``: the app authenticates by ``client_id`` and
    ``client_secret`` (code 1 when they are wrong, as Facebook answers a bad secret); then
    ``code`` (+ ``redirect_uri``, ``code_verifier``) or ``grant_type=fb_exchange_token``."""
    fake, params = _fake(request), request[PARAMS]
    if str(params.get("client_id", "")) != fake.state.app_id:
        raise GraphError(101, "Error validating application. Invalid application ID.")
    secret = params.get("client_secret")
    if not fake.state.app_secret or secret != fake.state.app_secret:
        raise GraphError(1, "Error validating client secret.")
    if params.get("grant_type") == "fb_exchange_token":
        short = _live_user_token(fake, params.get("fb_exchange_token"))
        grant = fake.login.long_lived(short)
        return _token_answer(grant, LONG_LIVED_SECONDS)
    code, redirect_uri = params.get("code"), params.get("redirect_uri")
    if not isinstance(code, str) or not code:
        raise invalid_parameter("(#100) The parameter code is required")
    if not isinstance(redirect_uri, str):
        raise invalid_parameter("(#100) The parameter redirect_uri is required")
    verifier = params.get("code_verifier")
    grant = fake.login.exchange_code(
        code, redirect_uri=redirect_uri, verifier=verifier if isinstance(verifier, str) else None
    )
    return _token_answer(grant, SHORT_LIVED_SECONDS)


def _live_user_token(fake: FakeMeta, token: Any) -> TokenGrant:
    grant = fake.state.grant_for(token) if isinstance(token, str) and token else None
    if grant is None or grant.kind != "USER":
        raise token_error(None)
    dead, subcode = grant.death(fake.state.now())
    if dead:
        raise token_error(subcode)
    return grant


def _token_answer(grant: TokenGrant, expires_in: int) -> web.Response:
    return web.json_response(
        {"access_token": grant.token, "token_type": "bearer", "expires_in": expires_in}
    )


# --- me/accounts, me/permissions ---------------------------------------------------------------


def _user(request: web.Request) -> TokenGrant:
    grant = request[GRANT]
    if grant.kind != "USER":
        raise GraphError(
            2500, "An active access token must be used to query information about the current user."
        )
    return grant


async def me_permissions(request: web.Request) -> web.Response:
    """``{"data": [{"permission", "status": "granted"|"declined"}]}``."""
    grant = _user(request)
    data = [{"permission": s, "status": "granted"} for s in grant.scopes]
    data += [{"permission": s, "status": "declined"} for s in grant.declined]
    return web.json_response({"data": data})


async def me_accounts(request: web.Request) -> web.Response:
    """The Pages the person granted the app, each with its Page token and the person's tasks;
    none without ``pages_show_list``. Paged by ``limit`` (capped by the login plan) and
    ``after``."""
    fake, grant, params = _fake(request), _user(request), request[PARAMS]
    if "pages_show_list" not in grant.scopes:
        return web.json_response({"data": []})
    page_ids = [p for p in grant.page_ids if p in fake.state.pages]
    after = params.get("after")
    if after:
        position = decode_cursor(after)
        if position not in page_ids:
            raise invalid_parameter("(#100) The after cursor is not valid")
        page_ids = page_ids[page_ids.index(position) + 1 :]
    limit = min(_limit(params.get("limit")), fake.login.plan.accounts_page_limit)
    shown, more = page_ids[:limit], len(page_ids) > limit
    data = [
        {
            "access_token": fake.login.page_token(grant, page_id),
            "category": "Local business",
            "name": fake.state.pages[page_id]["name"],
            "id": page_id,
            "tasks": fake.login.tasks(grant.user_id, page_id),
        }
        for page_id in shown
    ]
    body: dict[str, Any] = {"data": data}
    if shown:
        body["paging"] = {"cursors": {"before": cursor(shown[0]), "after": cursor(shown[-1])}}
        if more:
            body["paging"]["next"] = str(request.url.update_query(after=cursor(shown[-1])))
    return web.json_response(body)


def _limit(raw: Any) -> int:
    try:
        limit = _DEFAULT_LIMIT if raw is None else int(raw)
    except (TypeError, ValueError) as err:
        raise invalid_parameter("(#100) limit must be a positive integer") from err
    if limit <= 0:
        raise invalid_parameter("(#100) limit must be a positive integer")
    return limit


def add_login_routes(app: web.Application) -> None:
    """The dialog (with or without a version prefix, as Facebook serves it) and the Graph
    routes of the sign-in; before ``/{v}/{id}``."""
    r = app.router
    r.add_resource(f"/{VERSION}/dialog/oauth", name=DIALOG).add_route("GET", dialog)
    r.add_resource("/dialog/oauth", name=f"{DIALOG}_unversioned").add_route("GET", dialog)
    token = r.add_resource(f"/{VERSION}/oauth/access_token", name=OAUTH_TOKEN)
    token.add_route("GET", access_token)
    token.add_route("POST", access_token)
    r.add_resource(f"/{VERSION}/me/accounts", name="me_accounts").add_route("GET", me_accounts)
    r.add_resource(f"/{VERSION}/me/permissions", name="me_permissions").add_route(
        "GET", me_permissions
    )

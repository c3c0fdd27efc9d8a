"""The fake GHL's OAuth 2.0: the Marketplace's authorize page (``GET /v2/oauth/chooselocation``,
which redirects straight back with a code), the token endpoint (authorization codes and rotating
refresh tokens) and the agency endpoints (``/oauth/installedLocations``,
``/oauth/locationToken``). What the next consent does is set by `Consent` (consent.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from yarl import URL

from adapters.ghl.fake.consent import Consent
from adapters.ghl.fake.core import ACCESS, FAKE_GHL, FakeGhl, FakeHttpError
from adapters.ghl.fake.state import AccessGrant, AuthorizationCode, Json

AUTHORIZE_PATH = "/v2/oauth/chooselocation"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path
FAKE_USER_ID = "fake-ghl-user"


def app_id_of(client_id: str) -> str:
    """GHL's client ids are ``<appId>-<suffix>``: the app a client belongs to."""
    return client_id.split("-", 1)[0]


# --- the authorize page --------------------------------------------------------------------------


async def authorize(request: web.Request) -> web.StreamResponse:
    """Redirects back at once, as if the person picked and approved. An unknown client or a
    redirect URI that is not absolute is answered with an error page, never a redirect
    (RFC 6749 §4.1.2.1)."""
    fake = request.app[FAKE_GHL]
    query = request.query
    client_id = query.get("client_id", "")
    redirect_uri = query.get("redirect_uri", "")
    if client_id not in fake.state.oauth_clients:
        raise FakeHttpError(400, "Invalid client_id")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FakeHttpError(400, "Invalid redirect_uri")
    back: dict[str, str] = {}
    if "state" in query:
        back["state"] = query["state"]
    consent = fake.consent
    if consent.deny or query.get("response_type") != "code":
        error = "access_denied" if consent.deny else "unsupported_response_type"
        return _redirect(URL(redirect_uri).update_query(error=error, **back))
    code = fake.state.new_token("code-")
    fake.state.codes[code] = _code_for(fake, consent, client_id, redirect_uri, query)
    return _redirect(URL(redirect_uri).update_query(code=code, **back))


def _redirect(to: URL) -> web.Response:
    # Returned, not raised: the gates turn raised HTTP exceptions into GHL's error bodies.
    return web.Response(status=302, headers={"Location": str(to)})


def _code_for(
    fake: FakeGhl, consent: Consent, client_id: str, redirect_uri: str, query: Any
) -> AuthorizationCode:
    state = fake.state
    first = next(iter(state.locations), "")
    if consent.install == "location":
        location_id = consent.location_id or first
        company_id = state.company_of(location_id)
        installed = [location_id]
    else:
        location_id = ""
        company_id = consent.company_id or state.company_of(first)
        installed = consent.location_ids or [
            loc_id for loc_id in state.locations if state.company_of(loc_id) == company_id
        ]
    state.install(client_id, company_id, installed)
    return AuthorizationCode(
        client_id=client_id,
        redirect_uri=redirect_uri,
        location_id=location_id,
        company_id=company_id,
        scope=consent.scope if consent.scope is not None else str(query.get("scope", "")),
        expires_at=state.now() + timedelta(seconds=consent.code_ttl_seconds),
    )


# --- the token endpoint --------------------------------------------------------------------------


async def token(request: web.Request) -> web.Response:
    """``authorization_code`` and ``refresh_token`` grants. A code works once, for the client and
    redirect URI it was issued to; each refresh token works once and the answer carries a new
    one. GHL's answer to a bad code or a used refresh token is not documented; the fake answers
    400."""
    fake = request.app[FAKE_GHL]
    form = await request.post()
    grant_type = form.get("grant_type")
    client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
    if fake.state.oauth_clients.get(client_id) != secret:
        raise FakeHttpError(401, "Invalid client credentials")
    ttl = fake.access_token_ttl
    if grant_type == "authorization_code":
        code = fake.state.redeem(
            str(form.get("code", "")), client_id, str(form.get("redirect_uri", ""))
        )
        if code is None:
            raise FakeHttpError(400, "Invalid grant: authorization code is invalid or expired")
        access = fake.state.issue_access_token(client_id, code.location_id, code.company_id, ttl)
        refresh = fake.state.issue_refresh_token(client_id, code.location_id, code.company_id)
        return _token_answer(
            fake, access, refresh, code.location_id, code.company_id, client_id, code.scope
        )
    if grant_type != "refresh_token":
        raise FakeHttpError(400, "grant_type must be authorization_code or refresh_token")
    rotated = fake.state.rotate(client_id, secret, str(form.get("refresh_token", "")), ttl)
    if rotated is None:
        raise FakeHttpError(400, "Invalid grant: refresh token is invalid or already used")
    access, refresh, grant = rotated
    fake.token_refreshes += 1
    company_id = grant.company_id or fake.state.company_of(grant.location_id)
    return _token_answer(fake, access, refresh, grant.location_id, company_id, client_id, None)


_DEFAULT_SCOPE = (
    "contacts.readonly contacts.write locations.readonly calendars.readonly "
    "calendars/events.readonly calendars/events.write conversations/message.write "
    "opportunities.readonly opportunities.write"
)


def _token_answer(
    fake: FakeGhl,
    access: str,
    refresh: str,
    location_id: str,
    company_id: str,
    client_id: str,
    scope: str | None,
) -> web.Response:
    body: Json = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(fake.access_token_ttl.total_seconds()),
        "refresh_token": refresh,
        "scope": scope or _DEFAULT_SCOPE,
        "userType": "Location" if location_id else "Company",
        "companyId": company_id,
        "userId": FAKE_USER_ID,
    }
    if location_id:
        body["locationId"] = location_id
    else:
        body["approvedLocations"] = sorted(fake.state.installs.get((client_id, company_id), ()))
    return web.json_response(body)


# --- the agency endpoints (Agency-Access-Only) -----------------------------------------------


def _agency(request: web.Request, company_id: object) -> AccessGrant:
    grant = request[ACCESS]
    if grant.kind != "agency":
        raise FakeHttpError(401, "This route requires an agency (Company) access token")
    if company_id != grant.company_id:
        raise FakeHttpError(403, "The token does not have access to this company.")
    return grant


async def installed_locations(request: web.Request) -> web.Response:
    fake = request.app[FAKE_GHL]
    query = request.query
    grant = _agency(request, query.get("companyId"))
    if query.get("appId") != app_id_of(grant.client_id):
        raise FakeHttpError(400, "appId does not match the token's app")
    installed = fake.state.installs.get((grant.client_id, grant.company_id), set())
    only_installed = query.get("isInstalled") == "true"
    rows = [
        {
            "_id": loc_id,
            "name": loc.get("name", ""),
            "address": loc.get("address", ""),
            "isInstalled": loc_id in installed,
        }
        for loc_id, loc in fake.state.locations.items()
        if loc.get("companyId") == grant.company_id and (loc_id in installed or not only_installed)
    ]
    try:
        skip, limit = int(query.get("skip", "0")), int(query.get("limit", "20"))
    except ValueError as err:
        raise FakeHttpError(422, "skip and limit must be numbers") from err
    return web.json_response(
        {
            "locations": rows[skip : skip + limit],
            "count": len(rows),
            "installToFutureLocations": False,
        }
    )


async def location_token(request: web.Request) -> web.Response:
    fake = request.app[FAKE_GHL]
    form = await request.post()
    grant = _agency(request, form.get("companyId"))
    location_id = str(form.get("locationId", ""))
    if location_id not in fake.state.installs.get((grant.client_id, grant.company_id), set()):
        raise FakeHttpError(400, "The app is not installed on this location")
    ttl = fake.access_token_ttl
    access = fake.state.issue_access_token(grant.client_id, location_id, grant.company_id, ttl)
    body: Json = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(ttl.total_seconds()),
        "scope": _DEFAULT_SCOPE,
        "locationId": location_id,
        "userId": FAKE_USER_ID,
        "appId": app_id_of(grant.client_id),
    }
    if fake.consent.location_token_refresh:
        body["refresh_token"] = fake.state.issue_refresh_token(
            grant.client_id, location_id, grant.company_id
        )
    return web.json_response(body)


# --- control ------------------------------------------------------------------------------------


async def get_consent(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAKE_GHL].consent.to_json())


async def put_consent(request: web.Request) -> web.Response:
    """Replace the consent: ``{install, location_id, company_id, location_ids, deny,
    code_ttl_seconds, location_token_refresh, scope}`` (omitted fields take their defaults)."""
    fake = request.app[FAKE_GHL]
    try:
        data = await request.json()
        fake.consent = Consent.from_json(data)
    except (ValueError, TypeError) as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return web.json_response(fake.consent.to_json())


async def uninstall(request: web.Request) -> web.Response:
    """``{clientId, locationId}`` or ``{clientId, companyId}``: the app is uninstalled there; its
    tokens stop working and GHL's UNINSTALL webhook is sent."""
    fake = request.app[FAKE_GHL]
    try:
        data = await request.json()
    except ValueError as err:
        raise web.HTTPBadRequest(text="body must be JSON") from err
    client_id = str(data.get("clientId", ""))
    location_id, company_id = str(data.get("locationId", "")), str(data.get("companyId", ""))
    if client_id not in fake.state.oauth_clients or not (location_id or company_id):
        raise web.HTTPBadRequest(text="clientId and locationId or companyId are required")
    fake.state.revoke(client_id, location_id=location_id, company_id=company_id)
    where = {"locationId": location_id} if location_id else {"companyId": company_id}
    fake.webhooks.emit({"type": "UNINSTALL", "appId": app_id_of(client_id), **where})
    return web.Response(status=204)


def add_oauth_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get(AUTHORIZE_PATH, authorize),
            web.post(TOKEN_PATH, token),
            web.get("/oauth/installedLocations", installed_locations),
            web.post("/oauth/locationToken", location_token),
            web.get("/_fake/oauth/consent", get_consent),
            web.put("/_fake/oauth/consent", put_consent),
            web.post("/_fake/oauth/uninstall", uninstall),
        ]
    )

"""The fake GA4 aiohttp app: the Measurement Protocol's collection and validation endpoints, the
Admin API's account summaries, properties, data streams and Measurement Protocol secrets, and
Google's OAuth: the sign-in's authorize page, and a token endpoint for service-account keys (the
signed JWT grant) and for users (a code, a refresh token)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from secrets import token_urlsafe
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.ga4.fake import oauth
from adapters.ga4.fake.core import FAKE_GA4, Collected, FakeGa4, Json
from adapters.ga4.fake.rules import validation_messages
from adapters.ga4.fake.seed import (
    DEFAULT_SEED,
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    DEMO_USER_EMAIL,
    SERVICE_ACCOUNT_EMAIL,
    demo_private_key,
)

# google-auth signs its grant for Google's endpoint whatever the key's token_uri says.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_EDIT_SCOPE = "https://www.googleapis.com/auth/analytics.edit"
_ANALYTICS_SCOPES = frozenset({"https://www.googleapis.com/auth/analytics.readonly", _EDIT_SCOPE})
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}


def create_app(
    seed: Mapping[str, Any] | None = None,
    *,
    service_accounts: Mapping[str, rsa.RSAPublicKey] | None = None,
    oauth_clients: Mapping[str, str] | None = None,
    user: str = DEMO_USER_EMAIL,
) -> web.Application:
    """The fake GA4 with `seed`'s properties (seed.py's shape; default: the demo properties),
    `service_accounts` (e-mail -> public key; default: the demo service account),
    `oauth_clients` (client id -> secret; default: the demo client), and the Google `user` who
    signs in at the authorize page (change `FakeGa4.user` to sign in as another)."""
    data = seed if seed is not None else DEFAULT_SEED
    fake = FakeGa4(
        properties={str(p["id"]): json.loads(json.dumps(p)) for p in data["properties"]},
        service_accounts=dict(
            service_accounts
            if service_accounts is not None
            else {SERVICE_ACCOUNT_EMAIL: demo_private_key().public_key()}
        ),
        oauth_clients=dict(
            oauth_clients
            if oauth_clients is not None
            else {DEMO_OAUTH_CLIENT_ID: DEMO_OAUTH_CLIENT_SECRET}
        ),
        user=user,
    )
    app = web.Application()
    app[FAKE_GA4] = fake
    app.router.add_post("/mp/collect", _collect)
    app.router.add_post("/debug/mp/collect", _debug_collect)
    app.router.add_get("/o/oauth2/v2/auth", oauth.authorize)
    app.router.add_post("/token", _token)
    app.router.add_post("/revoke", oauth.revoke)
    app.router.add_get("/v1beta/accountSummaries", _account_summaries)
    app.router.add_get("/v1beta/properties/{property}", _get_property)
    app.router.add_get("/v1beta/properties/{property}/dataStreams", _list_streams)
    app.router.add_get("/v1beta/properties/{property}/dataStreams/{stream}", _get_stream)
    secrets_path = "/v1beta/properties/{property}/dataStreams/{stream}/measurementProtocolSecrets"
    app.router.add_get(secrets_path, _list_secrets)
    app.router.add_post(secrets_path, _create_secret)
    return app


# --- Measurement Protocol ----------------------------------------------------------------------


async def _received(request: web.Request, *, debug: bool) -> tuple[Any, int]:
    fake = request.app[FAKE_GA4]
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    measurement_id = request.query.get("measurement_id", "")
    api_secret = request.query.get("api_secret", "")
    fake.collected.append(
        Collected(
            measurement_id=measurement_id,
            api_secret=api_secret,
            body=body,
            debug=debug,
            accepted=not debug
            and isinstance(body, dict)
            and len(raw) < 130_000
            and fake.accepts(measurement_id, api_secret),
        )
    )
    return body, len(raw)


async def _collect(request: web.Request) -> web.StreamResponse:
    """204 for everything, as GA4 answers: valid, invalid, a wrong secret, oversize."""
    faults = request.app[FAKE_GA4].collect_faults
    if faults:
        return web.Response(status=faults.popleft())
    await _received(request, debug=False)
    return web.Response(status=204)


async def _debug_collect(request: web.Request) -> web.StreamResponse:
    """The validation server: never checks the API secret."""
    body, size = await _received(request, debug=True)
    return web.json_response({"validationMessages": validation_messages(body, size)})


# --- OAuth ---------------------------------------------------------------------------------


def _oauth_error(error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=400)


async def _token(request: web.Request) -> web.StreamResponse:
    fake = request.app[FAKE_GA4]
    fault = await oauth.token_fault(fake)
    if fault is not None:
        return fault
    form = await request.post()
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return oauth.exchange_code(fake, request, form)
    if grant_type == "refresh_token":
        return oauth.refresh(fake, request, form)
    if grant_type != _JWT_BEARER:
        return _oauth_error("unsupported_grant_type", "Invalid grant_type.")
    assertion = form.get("assertion")
    if not isinstance(assertion, str):
        return _oauth_error("invalid_request", "Missing required parameter: assertion")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "Invalid JWT.")
    public_key = fake.service_accounts.get(str(unverified.get("iss")))
    if public_key is None:
        return _oauth_error("invalid_grant", "Invalid grant: account not found")
    try:
        claims = jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            audience=GOOGLE_TOKEN_AUDIENCE,
            options={"require": ["iss", "aud", "iat", "exp"]},
        )
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    scopes = set(str(claims.get("scope", "")).split())
    if not scopes & _ANALYTICS_SCOPES:
        return _oauth_error("invalid_scope", "No analytics scope was requested.")
    return web.json_response(
        {
            "access_token": fake.issue_token(str(claims["iss"]), frozenset(scopes)),
            "expires_in": 3599,
            "token_type": "Bearer",
        }
    )


# --- Admin API -------------------------------------------------------------------------------


def _google_error(status: int, message: str) -> web.Response:
    name = _STATUS_NAMES.get(status, "NOT_FOUND")
    return web.json_response(
        {"error": {"code": status, "message": message, "status": name}}, status=status
    )


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""


def _unauthenticated() -> web.Response:
    return _google_error(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
    )


def _property(request: web.Request) -> Json | web.Response:
    fake = request.app[FAKE_GA4]
    email = fake.tokens.get(_bearer(request))
    if email is None:
        return _unauthenticated()
    prop = fake.properties.get(request.match_info["property"])
    if prop is None:
        return _google_error(404, "Requested entity was not found.")
    if email not in prop["users"]:
        return _google_error(
            403,
            "User does not have sufficient permissions for this property. To learn more about "
            "Property ID, see https://developers.google.com/analytics/devguides/reporting/data/"
            "v1/property-id.",
        )
    return prop


def _page(
    request: web.Request, items: list[Json], key: str, default_size: int, max_size: int
) -> web.Response:
    try:
        size = int(request.query.get("pageSize", default_size))
        start = int(request.query.get("pageToken") or 0)
    except ValueError:
        return _google_error(400, "Invalid page size or page token.")
    if size <= 0:
        size = default_size
    size = min(size, max_size)
    end = start + size
    return web.json_response(
        {key: items[start:end], "nextPageToken": str(end) if end < len(items) else ""}
    )


def _stream_resource(property_id: str, stream: Json) -> Json:
    resource: Json = {
        "name": f"properties/{property_id}/dataStreams/{stream['id']}",
        "type": stream["type"],
        "displayName": stream["displayName"],
        "createTime": "2025-03-04T10:11:12.345Z",
        "updateTime": "2026-06-01T08:00:00.000Z",
    }
    if stream["type"] == "WEB_DATA_STREAM":
        resource["webStreamData"] = {
            "measurementId": stream["measurementId"],
            "firebaseAppId": "",
            "defaultUri": stream.get("defaultUri", ""),
        }
    else:
        resource["androidAppStreamData"] = {
            "firebaseAppId": stream.get("firebaseAppId", ""),
            "packageName": stream.get("packageName", ""),
        }
    return resource


def _property_resource(prop: Json) -> Json:
    return {
        "name": f"properties/{prop['id']}",
        "propertyType": "PROPERTY_TYPE_ORDINARY",
        "parent": prop.get("account", "accounts/100200300"),
        "displayName": prop.get("displayName", f"Property {prop['id']}"),
        "timeZone": "Europe/Berlin",
        "currencyCode": "EUR",
    }


async def _account_summaries(request: web.Request) -> web.StreamResponse:
    """The accounts of the bearer's properties, each with those properties' summaries."""
    fake = request.app[FAKE_GA4]
    email = fake.tokens.get(_bearer(request))
    if email is None:
        return _unauthenticated()
    accounts: dict[str, Json] = {}
    for prop in fake.properties.values():
        if email not in prop["users"]:
            continue
        resource = _property_resource(prop)
        account = accounts.setdefault(
            resource["parent"],
            {
                "name": f"accountSummaries/{resource['parent'].removeprefix('accounts/')}",
                "account": resource["parent"],
                "displayName": prop.get("accountName", "Demo account"),
                "propertySummaries": [],
            },
        )
        account["propertySummaries"].append(
            {
                "property": resource["name"],
                "displayName": resource["displayName"],
                "propertyType": resource["propertyType"],
                "parent": resource["parent"],
            }
        )
    return _page(request, list(accounts.values()), "accountSummaries", 50, 200)


async def _get_property(request: web.Request) -> web.StreamResponse:
    prop = _property(request)
    if isinstance(prop, web.Response):
        return prop
    return web.json_response(_property_resource(prop))


def _stream(request: web.Request) -> tuple[Json, Json] | web.Response:
    prop = _property(request)
    if isinstance(prop, web.Response):
        return prop
    stream = next((s for s in prop["streams"] if s["id"] == request.match_info["stream"]), None)
    if stream is None:
        return _google_error(404, "Requested entity was not found.")
    return prop, stream


async def _get_stream(request: web.Request) -> web.StreamResponse:
    found = _stream(request)
    if isinstance(found, web.Response):
        return found
    prop, stream = found
    return web.json_response(_stream_resource(str(prop["id"]), stream))


async def _create_secret(request: web.Request) -> web.StreamResponse:
    """Needs the analytics.edit scope; the secret's value is made here, as Google does."""
    found = _stream(request)
    if isinstance(found, web.Response):
        return found
    prop, stream = found
    if _EDIT_SCOPE not in request.app[FAKE_GA4].token_scopes.get(_bearer(request), frozenset()):
        return _google_error(403, "Request had insufficient authentication scopes.")
    try:
        body = await request.json()
    except ValueError:
        body = None
    name = body.get("displayName") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        return _google_error(400, "displayName is required.")
    secret = {
        "id": str(4000000000 + len(stream.setdefault("secrets", []))),
        "displayName": name,
        "secretValue": token_urlsafe(16),
    }
    stream["secrets"].append(secret)
    return web.json_response(_secret_resource(prop, stream, secret))


async def _list_streams(request: web.Request) -> web.StreamResponse:
    prop = _property(request)
    if isinstance(prop, web.Response):
        return prop
    streams = [_stream_resource(str(prop["id"]), s) for s in prop["streams"]]
    return _page(request, streams, "dataStreams", 50, 200)


def _secret_resource(prop: Json, stream: Json, secret: Json) -> Json:
    base = f"properties/{prop['id']}/dataStreams/{stream['id']}/measurementProtocolSecrets"
    return {
        "name": f"{base}/{secret['id']}",
        "displayName": secret["displayName"],
        "secretValue": secret["secretValue"],
    }


async def _list_secrets(request: web.Request) -> web.StreamResponse:
    found = _stream(request)
    if isinstance(found, web.Response):
        return found
    prop, stream = found
    listed = [_secret_resource(prop, stream, s) for s in stream.get("secrets", [])]
    return _page(request, listed, "measurementProtocolSecrets", 10, 10)

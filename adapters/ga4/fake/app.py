"""The fake GA4 aiohttp app: the Measurement Protocol's collection and validation endpoints, the
Admin API's data streams and Measurement Protocol secrets, and an OAuth token endpoint for
service-account keys (the signed JWT grant)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.ga4.fake.core import FAKE_GA4, Collected, FakeGa4, Json
from adapters.ga4.fake.rules import validation_messages
from adapters.ga4.fake.seed import DEFAULT_SEED, SERVICE_ACCOUNT_EMAIL, demo_private_key

# google-auth signs its grant for Google's endpoint whatever the key's token_uri says.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ANALYTICS_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/analytics.readonly",
        "https://www.googleapis.com/auth/analytics.edit",
    }
)
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}


def create_app(
    seed: Mapping[str, Any] | None = None,
    *,
    service_accounts: Mapping[str, rsa.RSAPublicKey] | None = None,
) -> web.Application:
    """The fake GA4 with `seed`'s properties (seed.py's shape; default: the demo property) and
    `service_accounts` (e-mail -> public key; default: the demo service account)."""
    data = seed if seed is not None else DEFAULT_SEED
    fake = FakeGa4(
        properties={str(p["id"]): json.loads(json.dumps(p)) for p in data["properties"]},
        service_accounts=dict(
            service_accounts
            if service_accounts is not None
            else {SERVICE_ACCOUNT_EMAIL: demo_private_key().public_key()}
        ),
    )
    app = web.Application()
    app[FAKE_GA4] = fake
    app.router.add_post("/mp/collect", _collect)
    app.router.add_post("/debug/mp/collect", _debug_collect)
    app.router.add_post("/token", _token)
    app.router.add_get("/v1beta/properties/{property}/dataStreams", _list_streams)
    app.router.add_get(
        "/v1beta/properties/{property}/dataStreams/{stream}/measurementProtocolSecrets",
        _list_secrets,
    )
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
    form = await request.post()
    if form.get("grant_type") != _JWT_BEARER:
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
            "access_token": fake.issue_token(str(claims["iss"])),
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


def _property(request: web.Request) -> Json | web.Response:
    fake = request.app[FAKE_GA4]
    header = request.headers.get("Authorization", "")
    email = (
        fake.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
    )
    if email is None:
        return _google_error(
            401,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
        )
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


async def _list_streams(request: web.Request) -> web.StreamResponse:
    prop = _property(request)
    if isinstance(prop, web.Response):
        return prop
    streams = [_stream_resource(str(prop["id"]), s) for s in prop["streams"]]
    return _page(request, streams, "dataStreams", 50, 200)


async def _list_secrets(request: web.Request) -> web.StreamResponse:
    prop = _property(request)
    if isinstance(prop, web.Response):
        return prop
    stream = next((s for s in prop["streams"] if s["id"] == request.match_info["stream"]), None)
    if stream is None:
        return _google_error(404, "Requested entity was not found.")
    base = f"properties/{prop['id']}/dataStreams/{stream['id']}/measurementProtocolSecrets"
    secrets = [
        {
            "name": f"{base}/{s['id']}",
            "displayName": s["displayName"],
            "secretValue": s["secretValue"],
        }
        for s in stream.get("secrets", [])
    ]
    return _page(request, secrets, "measurementProtocolSecrets", 10, 10)

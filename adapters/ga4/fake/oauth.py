"""The fake Google sign-in: the authorize page (it signs in the fake's `user` at once and
redirects back) and the token endpoint's user grants (a code, with PKCE; a refresh token), and
token revocation, with the faults of `OAuthFaults`. Google's rules as its OAuth 2.0 for web
server apps describes them; error texts are Google's style, not its exact words."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from adapters.ga4.fake.core import FAKE_GA4, FakeGa4, IssuedCode, RefreshGrant

_FAULT_ERRORS = {
    400: "invalid_request",
    401: "invalid_client",
    429: "rate_limit_exceeded",
    500: "internal_failure",
    503: "temporarily_unavailable",
}


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _back(redirect_uri: str, params: Mapping[str, str]) -> web.Response:
    joiner = "&" if urlsplit(redirect_uri).query else "?"
    raise web.HTTPFound(f"{redirect_uri}{joiner}{urlencode(params)}")


async def authorize(request: web.Request) -> web.StreamResponse:
    """``GET /o/oauth2/v2/auth``: an unknown client or a bad redirect URI is an error page (never
    a redirect, as at Google); the rest answers at the redirect URI."""
    fake = request.app[FAKE_GA4]
    query = request.query
    client_id = query.get("client_id", "")
    redirect_uri = query.get("redirect_uri", "")
    if client_id not in fake.oauth_clients:
        return web.Response(
            status=401, text="Error 401: invalid_client. The OAuth client was not found."
        )
    if urlsplit(redirect_uri).scheme not in ("http", "https"):
        return web.Response(status=400, text="Error 400: redirect_uri_mismatch.")
    state = {"state": query["state"]} if "state" in query else {}
    if query.get("response_type") != "code":
        return _back(redirect_uri, {"error": "unsupported_response_type", **state})
    scopes = frozenset(query.get("scope", "").split())
    challenge = query.get("code_challenge")
    if not scopes or (challenge is not None and query.get("code_challenge_method") != "S256"):
        return _back(redirect_uri, {"error": "invalid_request", **state})
    faults = fake.oauth_faults
    if faults.deny_consent:
        return _back(redirect_uri, {"error": "access_denied", **state})
    granted = scopes if faults.granted_scopes is None else scopes & faults.granted_scopes
    code = fake.issue_code(
        IssuedCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=granted,
            code_challenge=challenge,
            user=fake.user,
            offline=query.get("access_type") == "offline",
            expires_at=fake.new_code_expiry(),
        )
    )
    return _back(redirect_uri, {**state, "code": code, "scope": " ".join(sorted(granted))})


async def token_fault(fake: FakeGa4) -> web.Response | None:
    """A slow or failing token endpoint, as the test asked."""
    faults = fake.oauth_faults
    if faults.token_delay > 0:
        await asyncio.sleep(faults.token_delay)
    if faults.token_statuses:
        status = faults.token_statuses.popleft()
        return _oauth_error(_FAULT_ERRORS.get(status, "internal_failure"), "Fault.", status)
    return None


def _client(fake: FakeGa4, request: web.Request, form: Mapping[str, object]) -> str | None:
    """The client id, if the request authenticates as a known client (form fields or Basic)."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
    if not isinstance(client_id, str) or not isinstance(secret, str):
        return None
    known = fake.oauth_clients.get(client_id)
    if known is None or not hmac.compare_digest(known.encode(), secret.encode()):
        return None
    return client_id


def _answer(
    fake: FakeGa4, grant: RefreshGrant, refresh_token: str | None, *, new: bool
) -> web.Response:
    body: dict[str, object] = {
        "access_token": fake.issue_token(grant.user, grant.scopes, refresh_token=refresh_token),
        "expires_in": 3599,
        "scope": " ".join(sorted(grant.scopes)),
        "token_type": "Bearer",
    }
    if new and refresh_token is not None:
        body["refresh_token"] = refresh_token
    return web.json_response(body)


def exchange_code(fake: FakeGa4, request: web.Request, form: Mapping[str, object]) -> web.Response:
    client_id = _client(fake, request, form)
    if client_id is None:
        return _oauth_error("invalid_client", "Unauthorized", 401)
    value = form.get("code")
    issued = fake.codes.get(value) if isinstance(value, str) else None
    if issued is None or issued.client_id != client_id:
        return _oauth_error("invalid_grant", "Malformed auth code.")
    if issued.used:
        # RFC 6749 §4.1.2: a code used twice revokes what its first use issued.
        if issued.refresh_token is not None:
            fake.revoke(issued.refresh_token)
        return _oauth_error("invalid_grant", "Bad Request")
    if time.monotonic() >= issued.expires_at:
        return _oauth_error("invalid_grant", "Bad Request")
    if form.get("redirect_uri") != issued.redirect_uri:
        return _oauth_error("redirect_uri_mismatch", "Bad Request")
    if issued.code_challenge is not None:
        verifier = form.get("code_verifier")
        if not isinstance(verifier, str) or not verifier:
            return _oauth_error("invalid_grant", "Missing code verifier.")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if not hmac.compare_digest(challenge, issued.code_challenge):
            return _oauth_error("invalid_grant", "Invalid code verifier.")
    issued.used = True
    grant = RefreshGrant(client_id=client_id, user=issued.user, scopes=issued.scopes)
    # Only offline access gets a refresh token.
    refresh_token = fake.issue_refresh_token(grant) if issued.offline else None
    issued.refresh_token = refresh_token
    return _answer(fake, grant, refresh_token, new=True)


def refresh(fake: FakeGa4, request: web.Request, form: Mapping[str, object]) -> web.Response:
    client_id = _client(fake, request, form)
    if client_id is None:
        return _oauth_error("invalid_client", "Unauthorized", 401)
    token = form.get("refresh_token")
    grant = fake.refresh_tokens.get(token) if isinstance(token, str) else None
    if grant is None or grant.client_id != client_id or not isinstance(token, str):
        return _oauth_error("invalid_grant", "Token has been expired or revoked.")
    return _answer(fake, grant, token, new=False)


async def revoke(request: web.Request) -> web.StreamResponse:
    """``POST /revoke`` (token in the form or the query), as Google's revocation endpoint."""
    fake = request.app[FAKE_GA4]
    form = await request.post()
    token = form.get("token") or request.query.get("token")
    if not isinstance(token, str) or not fake.revoke(token):
        return _oauth_error("invalid_token", "Token expired or revoked")
    return web.json_response({})

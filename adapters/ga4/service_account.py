"""An Admin API access token for a tenant's service-account JSON key, minted by google-auth (the
signed JWT grant). google-auth's refresh is synchronous: it runs in a worker thread."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import requests
from google.auth import exceptions as google_errors
from google.auth.transport import Response
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from domain.errors import ConnectionFailedError, InvalidCredentialsError
from domain.values import SecretStr

ADMIN_READ_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"


class _TimedRequest(Request):
    """google-auth's requests transport with the service's timeout: its own default is 120 s,
    and google-auth passes none when it asks for a token."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        super().__init__(session)
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Response:
        answer: Response = super().__call__(  # type: ignore[no-untyped-call]
            url, method, body, headers, timeout or self._timeout, **kwargs
        )
        return answer


def _key_info(key: SecretStr, token_url: str) -> dict[str, Any]:
    try:
        info = json.loads(key.reveal())
    except ValueError:
        info = None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise InvalidCredentialsError("the service-account key is not a JSON service-account key")
    token_uri = info.setdefault("token_uri", token_url)
    if token_uri != token_url:
        # The key is the tenant's: its token_uri must not send the service's requests elsewhere.
        raise InvalidCredentialsError("the service-account key names another token endpoint")
    return info


def _mint(info: dict[str, Any], timeout: float) -> str:
    try:
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[ADMIN_READ_SCOPE]
        )
    except (ValueError, KeyError) as err:
        raise InvalidCredentialsError("the service-account key cannot be read") from err
    with requests.Session() as session:
        try:
            credentials.refresh(_TimedRequest(session, timeout))
        except google_errors.RefreshError as err:
            if err.retryable:
                raise ConnectionFailedError("Google's token endpoint failed") from err
            raise InvalidCredentialsError("Google refused the service-account key") from err
        except google_errors.TransportError as err:
            raise ConnectionFailedError("Google's token endpoint could not be reached") from err
    token = credentials.token
    if not isinstance(token, str) or not token:
        raise ConnectionFailedError("Google's token endpoint returned no access token")
    return token


async def admin_access_token(
    key: SecretStr, *, token_url: str, request_seconds: float
) -> SecretStr:
    """A read-only Analytics access token for the service account of `key`. Raises
    InvalidCredentialsError when the key is not one, names another token endpoint than
    `token_url`, or is refused; ConnectionFailedError when the endpoint cannot answer (within
    `request_seconds` per request)."""
    info = _key_info(key, token_url)
    return SecretStr(await asyncio.to_thread(_mint, info, request_seconds))

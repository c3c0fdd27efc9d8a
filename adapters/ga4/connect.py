"""Connecting a GA4 web data stream by signing in with Google: the `google_analytics` template's
ConnectFlow. The person signs in, the web streams they reach become the choices, and connecting
one fetches its measurement id and a Measurement Protocol secret (created when it has none), so
that nobody copies either by hand."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from adapters.ga4.client import Ga4Http
from adapters.ga4.google_oauth import (
    ANALYTICS_EDIT,
    ANALYTICS_READONLY,
    GoogleOAuth,
    GoogleTokens,
    TokenRefusedError,
    scope_name,
)
from adapters.ga4.http_policy import Ga4Call
from adapters.ga4.template import TEMPLATE_NAME
from application.ports import Clock
from application.ports.connect import AccountConnection, ConnectFlowError, ConnectGrant
from domain.connection_session import AccountChoice, ConnectFailure
from domain.errors import (
    ConnectionFailedError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)
from domain.values import SecretStr

T = TypeVar("T")

SCOPES = (ANALYTICS_READONLY, ANALYTICS_EDIT)
"""Read-only lists the accounts, streams and secrets; edit only creates a Measurement Protocol
secret for a stream that has none. A person may untick edit at Google's consent screen: the flow
then connects streams that have a secret, and names the scope for one that has none."""

_STREAM_ID = re.compile(r"properties/([0-9]+)/dataStreams/([0-9]+)")
_WEB = "WEB_DATA_STREAM"
_ACCESS_MARGIN = timedelta(seconds=60)
"""An access token closer than this to its expiry is refreshed before a call."""

# The grant's secrets, sealed in the session while the person chooses.
_REFRESH_TOKEN = "refreshToken"  # noqa: S105 - a key's name
_ACCESS_TOKEN = "accessToken"  # noqa: S105 - a key's name
_ACCESS_EXPIRES = "accessTokenExpiresAt"
_SCOPES = "grantedScopes"


async def _admin(step: str, work: Awaitable[T]) -> T:
    """An Admin API call of the flow, its failures told as the core expects: Google slow, down
    or out of quota → ConnectionFailedError; refused → ConnectFlowError. Messages name the
    step, never Google's own text."""
    try:
        return await work
    except (ConnectionFailedError, RateLimitExceededError) as err:
        raise ConnectionFailedError(f"{step}: Google Analytics did not answer") from err
    except InvalidCredentialsError as err:
        raise ConnectFlowError(
            ConnectFailure.ACCESS_DENIED, f"{step}: Google Analytics refused the sign-in's access"
        ) from err
    except NotFoundError as err:
        raise ConnectFlowError(
            ConnectFailure.NO_ACCOUNTS, f"{step}: Google Analytics does not know it"
        ) from err
    except ProviderError as err:
        raise ConnectFlowError(
            ConnectFailure.ACCESS_DENIED, f"{step}: Google Analytics refused the request"
        ) from err


class Ga4ConnectFlow:
    """Implements application.ports.ConnectFlow for `google_analytics`: Google OAuth with PKCE
    and offline access. Choices are web data streams, ids ``properties/{p}/dataStreams/{s}``;
    a connected stream gets config `measurementId`, `propertyId` and secrets `apiSecret` (its
    secret named `secret_name`, else its first, else a new one named so) and `refreshToken`."""

    template = TEMPLATE_NAME
    pkce = True

    def __init__(
        self,
        http: Ga4Http,
        oauth: GoogleOAuth,
        *,
        clock: Clock,
        secret_name: str = "integrations",  # noqa: S107 - the secret's display name
        rate_limit_per_minute: int = 600,
        parallel_properties: int = 4,
    ) -> None:
        self._http = http
        self._oauth = oauth
        self._clock = clock
        self._secret_name = secret_name
        self._rate = rate_limit_per_minute
        self._parallel = parallel_properties

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None
    ) -> str:
        return self._oauth.authorization_url(
            scopes=SCOPES, state=state, redirect_uri=redirect_uri, code_challenge=code_challenge
        )

    async def exchange(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        callback: Mapping[str, str],
    ) -> ConnectGrant:
        tokens = await self._exchange(code, redirect_uri, code_verifier)
        granted = frozenset(SCOPES) if tokens.scopes is None else tokens.scopes
        if not granted & set(SCOPES):
            raise ConnectFlowError(
                ConnectFailure.MISSING_SCOPES,
                "Google Analytics access was not granted",
                detail=scope_name(ANALYTICS_READONLY),
            )
        if tokens.refresh_token is None:
            raise ConnectFlowError(
                ConnectFailure.CODE_REJECTED, "Google gave no refresh token for the sign-in"
            )
        streams = await self._web_streams(tokens.access_token)
        if not streams:
            raise ConnectFlowError(
                ConnectFailure.NO_ACCOUNTS,
                "the Google account reaches no Google Analytics web data stream",
            )
        return ConnectGrant(
            accounts=tuple(streams),
            secrets={
                _REFRESH_TOKEN: tokens.refresh_token,
                _ACCESS_TOKEN: tokens.access_token,
                _ACCESS_EXPIRES: SecretStr(tokens.expires_at.isoformat()),
                _SCOPES: SecretStr(" ".join(sorted(granted))),
            },
        )

    async def connect(
        self,
        grant: Mapping[str, SecretStr],
        account_id: str,
        config: Mapping[str, Any],
        *,
        sub_account_id: str,
    ) -> AccountConnection:
        match = _STREAM_ID.fullmatch(account_id)
        refresh_token = grant.get(_REFRESH_TOKEN)
        if match is None:
            raise ConnectFlowError(
                ConnectFailure.NO_ACCOUNTS,
                "the account is not a Google Analytics data stream (properties/…/dataStreams/…)",
            )
        if refresh_token is None:
            raise ConnectFlowError(ConnectFailure.CODE_REJECTED, "the grant has no refresh token")
        property_id = match.group(1)
        access, scopes = await self._access(grant, refresh_token)
        call = self._call(f"ga4:property:{property_id}", access)
        stream = await _admin(
            "reading the data stream", self._http.get_data_stream(call, account_id)
        )
        web = stream.get("webStreamData")
        measurement_id = web.get("measurementId") if isinstance(web, dict) else None
        if stream.get("type") != _WEB or not isinstance(measurement_id, str):
            raise ConnectFlowError(
                ConnectFailure.NO_ACCOUNTS, f"{account_id} is not a web data stream"
            )
        wanted = config.get("measurementId")
        if isinstance(wanted, str) and wanted and wanted != measurement_id:
            raise ConnectFlowError(
                ConnectFailure.ACCOUNT_MISMATCH,
                f"the stream's measurement id is {measurement_id}, not {wanted}",
            )
        prop = await _admin(
            "reading the property", self._http.get_property(call, f"properties/{property_id}")
        )
        api_secret = await self._mp_secret(call, account_id, scopes)
        return AccountConnection(
            account=AccountChoice(account_id, _choice_name(prop, stream)),
            config={"measurementId": measurement_id, "propertyId": property_id},
            secrets={"apiSecret": api_secret, "refreshToken": refresh_token},
        )

    async def _exchange(
        self, code: str, redirect_uri: str, code_verifier: str | None
    ) -> GoogleTokens:
        try:
            return await self._oauth.exchange_code(
                code=code,
                redirect_uri=redirect_uri,
                code_verifier=code_verifier,
                now=self._clock.now(),
            )
        except TokenRefusedError as err:
            raise ConnectFlowError(
                ConnectFailure.CODE_REJECTED, "Google refused the sign-in's code", detail=err.error
            ) from err

    async def _access(
        self, grant: Mapping[str, SecretStr], refresh_token: SecretStr
    ) -> tuple[SecretStr, frozenset[str]]:
        """The grant's access token while it is fresh, else one from its refresh token; and the
        scopes granted."""
        scopes = frozenset(grant[_SCOPES].reveal().split()) if _SCOPES in grant else frozenset()
        access = grant.get(_ACCESS_TOKEN)
        expires = grant.get(_ACCESS_EXPIRES)
        now = self._clock.now()
        if access is not None and expires is not None:
            try:
                fresh = datetime.fromisoformat(expires.reveal()) - _ACCESS_MARGIN > now
            except ValueError:
                fresh = False
            if fresh:
                return access, scopes
        try:
            tokens = await self._oauth.refresh(refresh_token, now=now)
        except TokenRefusedError as err:
            raise ConnectFlowError(
                ConnectFailure.ACCESS_DENIED,
                "Google refused the sign-in's refresh token (revoked?)",
                detail=err.error,
            ) from err
        return tokens.access_token, scopes if tokens.scopes is None else tokens.scopes

    async def _web_streams(self, access: SecretStr) -> list[AccountChoice]:
        summaries = await _admin(
            "listing the Google Analytics accounts",
            self._http.list_account_summaries(self._call("ga4:user", access)),
        )
        properties = [
            (str(p["property"]), str(p.get("displayName") or p["property"]))
            for account in summaries
            for p in account.get("propertySummaries") or ()
            if isinstance(p, dict) and isinstance(p.get("property"), str)
        ]
        gate = asyncio.Semaphore(self._parallel)

        async def streams_of(resource: str, name: str) -> list[AccountChoice]:
            property_id = resource.removeprefix("properties/")
            async with gate:
                streams = await _admin(
                    "listing a property's data streams",
                    self._http.list_data_streams(
                        self._call(f"ga4:property:{property_id}", access), property_id
                    ),
                )
            return [
                AccountChoice(str(s["name"]), f"{name} — {s.get('displayName') or s['name']}")
                for s in streams
                if s.get("type") == _WEB and isinstance(s.get("name"), str)
            ]

        found = await asyncio.gather(*(streams_of(r, n) for r, n in properties))
        return [choice for choices in found for choice in choices]

    async def _mp_secret(
        self, call: Ga4Call, stream_name: str, scopes: frozenset[str]
    ) -> SecretStr:
        secrets = await _admin(
            "listing the stream's Measurement Protocol secrets",
            self._http.list_mp_secrets(call, stream_name),
        )
        usable = [s for s in secrets if isinstance(s.get("secretValue"), str) and s["secretValue"]]
        ours = [s for s in usable if s.get("displayName") == self._secret_name]
        if ours or usable:
            return SecretStr((ours or usable)[0]["secretValue"])
        if ANALYTICS_EDIT not in scopes:
            raise ConnectFlowError(
                ConnectFailure.MISSING_SCOPES,
                "the stream has no Measurement Protocol secret, and creating one needs the "
                "permission to edit Google Analytics",
                detail=scope_name(ANALYTICS_EDIT),
            )
        created = await _admin(
            "creating a Measurement Protocol secret",
            self._http.create_mp_secret(call, stream_name, self._secret_name),
        )
        value = created.get("secretValue")
        if not isinstance(value, str) or not value:
            raise ConnectionFailedError("Google Analytics created a secret without its value")
        return SecretStr(value)

    def _call(self, limit_key: str, access: SecretStr) -> Ga4Call:
        return Ga4Call(
            integration_id="sign-in",
            limit_key=limit_key,
            rate_limit_per_minute=self._rate,
            bearer=access,
        )


def _choice_name(prop: Mapping[str, Any], stream: Mapping[str, Any]) -> str:
    return f"{prop.get('displayName') or prop.get('name')} — {stream.get('displayName')}"

"""GhlConnectFlow: a person connects GoHighLevel locations by installing the service's
Marketplace app (OAuth 2.0 authorization-code grant; API-NOTES §1.4)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import structlog

from adapters.ghl import dto
from adapters.ghl.agency_tokens import AgencyGrantStore, store_install
from adapters.ghl.auth import AGENCY_CONNECTED, OAuthClient
from application.ports import Clock
from application.ports.connect import AccountConnection, ConnectFlowError, ConnectGrant
from application.ports.oauth import OAuthTokens
from domain.connection_session import AccountChoice, ConnectFailure
from domain.errors import ConnectionFailedError
from domain.values import SecretStr

log = structlog.get_logger(__name__)

TEMPLATE = "gohighlevel_oauth"

LOCATION_SCOPES = (
    "contacts.readonly",
    "contacts.write",
    "locations.readonly",
    "calendars.readonly",
    "calendars/events.readonly",
    "calendars/events.write",
    "conversations/message.readonly",
    "conversations/message.write",
    "opportunities.readonly",
    "opportunities.write",
)
"""What the service's calls and the webhooks it handles need (API-NOTES §1.5)."""
AGENCY_SCOPES = ("oauth.readonly", "oauth.write")
"""An agency install's: listing its installed locations, minting their tokens."""

_AGENCY_VERSION = "2021-07-28"  # /oauth/installedLocations and /oauth/locationToken
_PAGE = 100
_MAX_LOCATIONS = 2000  # an agency's choices, listed in pages; beyond this the list is cut
DEFAULT_TIMEOUT_SECONDS = 15.0

# The grant's sealed secrets (kept in the session while the person chooses).
_USER_TYPE = "userType"
_LOCATION = "locationId"
_COMPANY = "companyId"
_ACCESS = "accessToken"
_REFRESH = "refreshToken"
_EXPIRES = "expiresAt"


def app_id_of(client_id: str) -> str:
    """The Marketplace app a client id belongs to: GHL's client ids are ``<appId>-<suffix>``
    (an id without a dash is taken whole)."""
    return client_id.split("-", 1)[0]


class GhlConnectFlow:
    """ConnectFlow of `gohighlevel_oauth`. No PKCE: GHL documents none for its authorize page.

    A location-level install reaches one location: its code exchange gives that location's
    tokens, stored as the integration's (the first call needs no refresh). An agency-level
    install reaches the agency's locations where the app is installed; each chosen one is
    connected with a location token minted from the agency token (``/oauth/locationToken``).
    When that answer carries a refresh token (the v3 DTO's shape), the integration owns a
    rotation chain of its own (refreshed with user_type Location). When it carries none (the
    v2 spec's shape, a token good for about a day), the agency's chain is stored once for the
    sub-account and the agency (`agency_grants`) and the integration is marked connected
    through it (`AGENCY_CONNECTED`): its location tokens are minted from the agency's, whose
    single-use refresh token only that store's holder spends. Without a store such a location
    is refused (no_accounts) rather than connected for a day.
    """

    pkce = False

    def __init__(
        self,
        *,
        client: OAuthClient,
        authorize_url: str,
        api_base_url: str,
        clock: Clock,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        scopes: tuple[str, ...] = LOCATION_SCOPES + AGENCY_SCOPES,
        agency_grants: AgencyGrantStore | None = None,
    ) -> None:
        self._agency_grants = agency_grants
        self._client = client
        self._authorize_url = authorize_url
        self._api = api_base_url.rstrip("/")
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._scopes = scopes
        self._session: aiohttp.ClientSession | None = None

    @property
    def template(self) -> str:
        return TEMPLATE

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None
    ) -> str:
        if code_challenge is not None:
            raise ValueError("GoHighLevel takes no PKCE challenge")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client.client_id.reveal(),
                "redirect_uri": redirect_uri,
                "scope": " ".join(self._scopes),
                "state": state,
            },
            quote_via=quote,
        )
        separator = "&" if "?" in self._authorize_url else "?"
        return f"{self._authorize_url}{separator}{query}"

    async def exchange(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        callback: Mapping[str, str],
    ) -> ConnectGrant:
        status, body = await self._send(
            "POST",
            "/oauth/token",
            "the token endpoint",
            data={
                "client_id": self._client.client_id.reveal(),
                "client_secret": self._client.client_secret.reveal(),
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
            },
        )
        if status == 401:
            log.warning("ghl_connect_client_refused", status=status, trace_id=dto.trace_id(body))
            raise ConnectFlowError(
                ConnectFailure.CODE_REJECTED, "GoHighLevel refused the app's client credentials"
            )
        if 400 <= status < 500:
            log.info("ghl_connect_code_refused", status=status, trace_id=dto.trace_id(body))
            raise ConnectFlowError(
                ConnectFailure.CODE_REJECTED,
                "GoHighLevel refused the authorization code (expired, used, or not this app's)",
            )
        self._require_ok(status, body, "the token endpoint")
        answer = _mapping(body)
        tokens = _tokens(body, self._clock.now())
        user_type = answer.get("userType")
        self._check_scopes(answer.get("scope"), agency=user_type == "Company")
        location_id, company_id = _str(answer, "locationId"), _str(answer, "companyId")
        if user_type == "Company" and company_id:
            accounts = await self._installed_locations(company_id, tokens.access_token)
            if not accounts:
                raise ConnectFlowError(
                    ConnectFailure.NO_ACCOUNTS,
                    "The app is installed on none of the agency's locations",
                )
            log.info("ghl_connect_agency_signed_in", locations=len(accounts))
            # The agency's chain, sealed in the session while the person chooses: stored only
            # if a location's token comes without a chain of its own (v2's shape).
            secrets = {
                _USER_TYPE: "Company",
                _COMPANY: company_id,
                _REFRESH: tokens.refresh_token.reveal(),
            }
        elif location_id:
            accounts = (AccountChoice(location_id, location_id),)
            log.info("ghl_connect_location_signed_in")
            secrets = {
                _USER_TYPE: "Location",
                _LOCATION: location_id,
                _REFRESH: tokens.refresh_token.reveal(),
            }
        else:
            raise ConnectionFailedError("GoHighLevel's token answer names no location or agency")
        return ConnectGrant(
            accounts=accounts,
            secrets={
                **{k: SecretStr(v) for k, v in secrets.items()},
                _ACCESS: tokens.access_token,
                _EXPIRES: SecretStr(tokens.expires_at.isoformat()),
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
        user_type = _secret(grant, _USER_TYPE)
        if user_type == "Location":
            if account_id != _secret(grant, _LOCATION):
                raise ConnectFlowError(
                    ConnectFailure.ACCOUNT_MISMATCH,
                    f"The app was installed on another location than {account_id!r}",
                )
            tokens = OAuthTokens(
                access_token=grant[_ACCESS],
                refresh_token=grant[_REFRESH],
                expires_at=datetime.fromisoformat(_secret(grant, _EXPIRES)),
            )
            return _connection(AccountChoice(account_id, account_id), tokens, {})
        if user_type == "Company":
            return await self._connect_agency_location(grant, account_id, sub_account_id)
        raise ValueError("not a GoHighLevel grant")

    # --- agency installs ---------------------------------------------------------------------

    async def _installed_locations(
        self, company_id: str, agency_token: SecretStr
    ) -> tuple[AccountChoice, ...]:
        choices: list[AccountChoice] = []
        while len(choices) < _MAX_LOCATIONS:
            status, body = await self._send(
                "GET",
                "/oauth/installedLocations",
                "the installed locations",
                params={
                    "companyId": company_id,
                    "appId": app_id_of(self._client.client_id.reveal()),
                    "isInstalled": "true",
                    "skip": str(len(choices)),
                    "limit": str(_PAGE),
                },
                bearer=agency_token,
            )
            self._refuse_agency_call(status, body, "list the agency's installed locations")
            self._require_ok(status, body, "the installed locations")
            rows = _mapping(body).get("locations")
            if not isinstance(rows, list):
                raise ConnectionFailedError("GoHighLevel's installed locations are not a list")
            for row in rows:
                location_id = _str(row, "_id") if isinstance(row, Mapping) else ""
                if location_id and row.get("isInstalled", True) is not False:
                    choices.append(AccountChoice(location_id, _str(row, "name") or location_id))
            count = _mapping(body).get("count")
            if len(rows) < _PAGE or (isinstance(count, int) and len(choices) >= count):
                break
        return tuple(choices)

    async def _connect_agency_location(
        self, grant: Mapping[str, SecretStr], location_id: str, sub_account_id: str
    ) -> AccountConnection:
        status, body = await self._send(
            "POST",
            "/oauth/locationToken",
            "the location token endpoint",
            data={"companyId": _secret(grant, _COMPANY), "locationId": location_id},
            bearer=grant[_ACCESS],
        )
        self._refuse_agency_call(status, body, "mint a token for the location")
        if 400 <= status < 500:
            log.info("ghl_connect_location_token_refused", status=status)
            raise ConnectFlowError(
                ConnectFailure.NO_ACCOUNTS,
                f"GoHighLevel gave no token for location {location_id!r}: the app is not "
                "installed there",
            )
        self._require_ok(status, body, "the location token endpoint")
        company_id = _secret(grant, _COMPANY)
        # The agency is kept so that its agency-level UNINSTALL reaches the integration.
        company = {"companyId": company_id}
        account = AccountChoice(location_id, location_id)
        if _str(_mapping(body), "refresh_token") != "":
            return _connection(account, _tokens(body, self._clock.now()), company)
        agency_refresh = grant.get(_REFRESH)
        if self._agency_grants is None or agency_refresh is None or not sub_account_id:
            log.warning("ghl_connect_location_token_without_refresh_token")
            raise ConnectFlowError(
                ConnectFailure.NO_ACCOUNTS,
                "GoHighLevel's location token for an agency install cannot be refreshed; "
                "install the app on the sub-account itself",
            )
        agency = OAuthTokens(
            access_token=grant[_ACCESS],
            refresh_token=agency_refresh,
            expires_at=datetime.fromisoformat(_secret(grant, _EXPIRES)),
        )
        await store_install(self._agency_grants, sub_account_id, company_id, agency)
        log.info("ghl_connect_location_through_agency")
        # No tokens of its own: its calls mint location tokens from the stored agency chain.
        return AccountConnection(
            account=account,
            config={"locationId": location_id, **company},
            secrets={"refreshToken": SecretStr(AGENCY_CONNECTED)},
        )

    @staticmethod
    def _refuse_agency_call(status: int, body: object, what: str) -> None:
        if status in (401, 403):
            log.warning(
                "ghl_connect_agency_call_refused", status=status, trace_id=dto.trace_id(body)
            )
            raise ConnectFlowError(
                ConnectFailure.MISSING_SCOPES,
                f"GoHighLevel did not let the app {what}",
                detail=" ".join(AGENCY_SCOPES),
            )

    # --- shared ------------------------------------------------------------------------------

    def _check_scopes(self, granted: object, *, agency: bool) -> None:
        if not isinstance(granted, str):
            return  # GHL marks the field optional: nothing to check against
        needed = LOCATION_SCOPES + (AGENCY_SCOPES if agency else ())
        have = set(granted.split())
        missing = [scope for scope in needed if scope in self._scopes and scope not in have]
        if missing:
            raise ConnectFlowError(
                ConnectFailure.MISSING_SCOPES,
                "The app was installed without every permission the integration needs",
                detail=" ".join(missing),
            )

    @staticmethod
    def _require_ok(status: int, body: object, what: str) -> None:
        if status != 200:
            raise ConnectionFailedError(
                f"GoHighLevel's {what} answered HTTP {status}", trace_id=dto.trace_id(body)
            )

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        bearer: SecretStr | None = None,
    ) -> tuple[int, object]:
        """One request, never retried (a code is spent by the first attempt); its status and
        JSON body (None when not JSON). Raises ConnectionFailedError when GHL is unreachable
        or slower than the timeout."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = {"Accept": "application/json"}
        if bearer is not None:
            headers.update(Authorization=f"Bearer {bearer.reveal()}", Version=_AGENCY_VERSION)
        try:
            async with self._session.request(
                method, f"{self._api}{path}", data=data, params=params, headers=headers
            ) as response:
                try:
                    body: object = await response.json(content_type=None)
                except ValueError:
                    body = None
                return response.status, body
        except (TimeoutError, aiohttp.ClientError) as err:
            # The exception's text is left out: it may quote the request.
            raise ConnectionFailedError(
                f"GoHighLevel's {what} could not be reached ({type(err).__name__})"
            ) from None


def _connection(
    account: AccountChoice, tokens: OAuthTokens, config: Mapping[str, str]
) -> AccountConnection:
    return AccountConnection(
        account=account,
        config={"locationId": account.id, **config},
        secrets={"refreshToken": tokens.refresh_token},
        tokens=tokens,
    )


def _tokens(body: object, now: datetime) -> OAuthTokens:
    try:
        return dto.oauth_tokens(body, now)
    except dto.UnexpectedShapeError as err:
        raise ConnectionFailedError(f"GoHighLevel's token answer was unexpected: {err}") from None


def _mapping(body: object) -> Mapping[str, Any]:
    return body if isinstance(body, Mapping) else {}


def _str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def _secret(grant: Mapping[str, SecretStr], key: str) -> str:
    value = grant.get(key)
    return value.reveal() if value is not None else ""

"""Who a GoHighLevel call acts for: the integration's location and credentials, read from the
neutral ProviderCall; and what GHL limits its calls by."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from domain.errors import ConfigSchemaInvalidError, FieldViolation, InvalidCredentialsError
from domain.integration import Integration
from domain.template import DEFAULT_RATE_LIMIT_PER_MINUTE
from domain.values import SecretStr


@dataclass(frozen=True, slots=True)
class PrivateIntegrationToken:
    """A sub-account Private Integration token (the template's ``apiKey``): static, no refresh."""

    token: SecretStr


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """A Marketplace app's OAuth client: the service's own app (GHL_OAUTH_CLIENT_ID/_SECRET)."""

    client_id: SecretStr
    client_secret: SecretStr = field(repr=False)


@dataclass(frozen=True, slots=True)
class OAuthClientCredentials:
    """An integration's Marketplace app OAuth. `client_id` and `client_secret` are the app's
    an admin configured on the integration; None for an integration connected by signing in,
    which uses the service's app (OAuthClient). The current tokens live in the TokenStore; the
    `refresh_token` here only seeds an integration whose store holds none yet."""

    client_id: SecretStr | None
    client_secret: SecretStr | None
    refresh_token: SecretStr | None = None
    user_type: str = "Location"

    def client(self, app: OAuthClient | None) -> OAuthClient | None:
        """The client its refreshes go through: its own, else the service's app."""
        if self.client_id is not None and self.client_secret is not None:
            return OAuthClient(self.client_id, self.client_secret)
        return app


AGENCY_CONNECTED = "agency"
"""The ``refreshToken`` of an integration connected through an agency's install whose location
tokens come without a refresh token (GHL's v2 shape): it has no chain of its own, its tokens
are minted from the agency's (the template requires the field, so it names where they come
from)."""


@dataclass(frozen=True, slots=True)
class AgencyLocationCredentials:
    """An integration connected through an agency's install: its location's tokens are minted
    from the agency chain that its own sub-account stored for `company_id` (the sub-account is
    the call's, never a config field, so no tenant reaches another's agency tokens)."""

    sub_account_id: str
    company_id: str


GhlCredentials = PrivateIntegrationToken | OAuthClientCredentials | AgencyLocationCredentials


@dataclass(frozen=True, slots=True)
class GhlAuth:
    """One call's context: the integration (rate-limit and token-refresh key), its GHL location,
    its decrypted credentials (held only for the call) and its template's rate limit."""

    integration_id: str
    location_id: str
    credentials: GhlCredentials = field(repr=False)
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    priority: Priority = Priority.LIVE

    @classmethod
    def from_call(cls, call: ProviderCall) -> GhlAuth:
        """The auth of a GHL integration: its ``apiKey`` (a Private Integration token), else its
        agency's tokens when connected through an agency (`AGENCY_CONNECTED`), else OAuth:
        its ``refreshToken``, with its own ``clientId`` + ``clientSecret`` when it has them (else
        the service's app's); ``locationId`` from config.
        Raises ConfigSchemaInvalidError without a location, InvalidCredentialsError without
        credentials."""
        location_id = call.config.get("locationId")
        if not isinstance(location_id, str) or not location_id:
            raise ConfigSchemaInvalidError(
                "the integration has no GoHighLevel location id",
                (FieldViolation("config.locationId", "is required"),),
            )
        credentials: GhlCredentials
        api_key = call.credentials.get("apiKey")
        client_id = call.credentials.get("clientId")
        client_secret = call.credentials.get("clientSecret")
        refresh_token = call.credentials.get("refreshToken")
        own_client = client_id is not None and client_secret is not None
        company_id = call.config.get("companyId")
        if api_key is not None and api_key.reveal():
            credentials = PrivateIntegrationToken(api_key)
        elif refresh_token is not None and refresh_token.reveal() == AGENCY_CONNECTED:
            if not isinstance(company_id, str) or not company_id:
                raise InvalidCredentialsError(
                    "the integration was connected through an agency but names no agency"
                )
            credentials = AgencyLocationCredentials(call.sub_account_id, company_id)
        elif own_client or refresh_token is not None:
            credentials = OAuthClientCredentials(
                client_id if own_client else None,
                client_secret if own_client else None,
                refresh_token,
            )
        else:
            raise InvalidCredentialsError("the integration has no GoHighLevel credentials")
        return cls(
            integration_id=call.integration_id,
            location_id=location_id,
            credentials=credentials,
            rate_limit_per_minute=call.rate_limit_per_minute,
            priority=call.priority,
        )


def rate_limit_key(integration: Integration) -> str:
    """What GHL limits: its location (100 requests per 10 s burst and a daily quota, per
    location, whatever the number of integrations or apps calling it). Integrations without a
    location are limited on their own."""
    location = integration.config.get("locationId")
    return (
        location_rate_limit_key(location)
        if isinstance(location, str) and location
        else (f"integration:{integration.id}")
    )


def location_rate_limit_key(location_id: str) -> str:
    return f"ghl:location:{location_id}"

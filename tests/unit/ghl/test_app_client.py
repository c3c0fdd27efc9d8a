"""Which OAuth client a GHL integration refreshes through: its own, else the service's app."""

from __future__ import annotations

import pytest

from adapters.ghl.auth import GhlAuth, OAuthClient, OAuthClientCredentials
from adapters.ghl.connect import app_id_of
from application.ports import Credentials, ProviderCall
from domain.errors import InvalidCredentialsError
from domain.values import SecretStr

SERVICE_APP = OAuthClient(SecretStr("serviceApp-suffix"), SecretStr("service-secret"))


def call(**credentials: str) -> ProviderCall:
    return ProviderCall(
        integration_id="int-1",
        sub_account_id="sa-1",
        template_name="gohighlevel_oauth",
        config={"locationId": "loc-1"},
        credentials=Credentials({k: SecretStr(v) for k, v in credentials.items()}),
        rate_limit_per_minute=100,
    )


def test_an_integration_connected_by_signing_in_refreshes_through_the_services_app() -> None:
    credentials = GhlAuth.from_call(call(refreshToken="rt-1")).credentials

    assert isinstance(credentials, OAuthClientCredentials)
    assert credentials.client(SERVICE_APP) is SERVICE_APP
    assert credentials.client(None) is None
    assert credentials.refresh_token is not None
    assert credentials.refresh_token.reveal() == "rt-1"


def test_an_integration_with_a_client_of_its_own_keeps_it() -> None:
    credentials = GhlAuth.from_call(
        call(clientId="own-client", clientSecret="own-secret", refreshToken="rt-1")
    ).credentials

    assert isinstance(credentials, OAuthClientCredentials)
    own = credentials.client(SERVICE_APP)
    assert own is not None
    assert (own.client_id.reveal(), own.client_secret.reveal()) == ("own-client", "own-secret")


def test_half_a_client_is_no_client_of_its_own() -> None:
    credentials = GhlAuth.from_call(call(clientId="own-client", refreshToken="rt-1")).credentials

    assert isinstance(credentials, OAuthClientCredentials)
    assert credentials.client(SERVICE_APP) is SERVICE_APP


def test_an_integration_without_credentials_is_refused() -> None:
    with pytest.raises(InvalidCredentialsError):
        GhlAuth.from_call(call())


@pytest.mark.parametrize(
    ("client_id", "app_id"),
    [("6578278e879ad2646715ba9c-lx0c2y3q", "6578278e879ad2646715ba9c"), ("plain", "plain")],
)
def test_the_app_of_a_client_id_is_what_precedes_its_first_dash(
    client_id: str, app_id: str
) -> None:
    assert app_id_of(client_id) == app_id

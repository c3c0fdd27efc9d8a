"""GhlConnectFlow against the fake GHL on loopback: the browser's part (authorize page to the
callback's redirect), the code exchange, location and agency installs, and each fault."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs
from yarl import URL

from adapters.clock import SystemClock
from adapters.ghl.app_events import GhlAgencyUninstall, GhlAppEvents
from adapters.ghl.auth import AGENCY_CONNECTED, OAuthClient
from adapters.ghl.client import HttpGhlClient
from adapters.ghl.connect import LOCATION_SCOPES, GhlConnectFlow
from adapters.ghl.fake.consent import Consent
from adapters.ghl.fake.faults import ScriptedFault
from adapters.ghl.fake.oauth import AUTHORIZE_PATH
from adapters.ghl.fake.seed import (
    DEFAULT_SEED,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_LOCATION_ID,
)
from adapters.ghl.fake.state import AccessGrant
from adapters.ghl.provider import GhlProvider
from adapters.ghl.webhooks import company_account, location_account
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import (
    Clock,
    Credentials,
    HandlerOutcome,
    InboundEvent,
    ProviderCall,
    ProviderContext,
)
from application.ports.connect import AccountConnection, ConnectFlowError, ConnectGrant
from application.ports.oauth import OAuthTokens
from application.secrets import seal
from application.use_cases.handle_app_lifecycle import HandleAppLifecycleEvent
from domain.connection_session import AccountChoice, ConnectFailure
from domain.errors import ConnectionFailedError, InvalidCredentialsError
from domain.integration import Integration, IntegrationStatus
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from tests.fakes import FakeCipher, FakeUnitOfWorkFactory
from tests.integration.ghl.support import (
    FAST_RETRY,
    FAST_TIMEOUTS,
    InMemoryAgencyGrants,
    InMemoryTokenStore,
    RunningFake,
    ShiftedClock,
    StartFake,
)

SUB_ACCOUNT = "sub-account-1"
REDIRECT_URI = "https://integrations.example/oauth/ghl/callback"
COMPANY = "fakeCompany000000001"
SECOND_LOCATION = "fakeLocation00000002"
OTHER_COMPANYS_LOCATION = "fakeLocation00000003"


def _seed() -> dict[str, Any]:
    """The demo seed with a second location of the demo agency and one of another agency."""
    seed = copy.deepcopy(DEFAULT_SEED)
    seed["locations"] += [
        {"id": SECOND_LOCATION, "companyId": COMPANY, "name": "Fake Dental Annex"},
        {"id": OTHER_COMPANYS_LOCATION, "companyId": "fakeCompany000000002", "name": "Other"},
    ]
    return seed


@pytest.fixture
async def running(start_fake: StartFake) -> RunningFake:
    return await start_fake(seed=_seed())


MakeFlow = Callable[..., GhlConnectFlow]


@pytest.fixture
async def make_flow(running: RunningFake) -> AsyncIterator[MakeFlow]:
    flows: list[GhlConnectFlow] = []

    def make(
        *,
        secret: str = DEMO_CLIENT_SECRET,
        timeout_seconds: float = 5.0,
        agency_grants: InMemoryAgencyGrants | None = None,
    ) -> GhlConnectFlow:
        flow = GhlConnectFlow(
            client=OAuthClient(SecretStr(DEMO_CLIENT_ID), SecretStr(secret)),
            authorize_url=f"{running.url}{AUTHORIZE_PATH}",
            api_base_url=running.url,
            clock=SystemClock(),
            timeout_seconds=timeout_seconds,
            agency_grants=agency_grants,
        )
        flows.append(flow)
        return flow

    yield make
    for flow in flows:
        await flow.close()


@pytest.fixture
def flow(make_flow: MakeFlow) -> GhlConnectFlow:
    return make_flow()


async def sign_in(flow: GhlConnectFlow, state: str = "state-1") -> dict[str, str]:
    """The browser's part: open the authorization URL and read where GHL sends it back."""
    url = flow.authorization_url(state=state, redirect_uri=REDIRECT_URI, code_challenge=None)
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(url, allow_redirects=False) as answer,
    ):
        assert answer.status == 302
        back = URL(answer.headers["Location"])
    assert str(back.with_query(None)) == REDIRECT_URI
    return dict(back.query)


async def exchange(flow: GhlConnectFlow, callback: dict[str, str]) -> ConnectGrant:
    others = {k: v for k, v in callback.items() if k not in ("code", "state")}
    return await flow.exchange(
        code=callback["code"], redirect_uri=REDIRECT_URI, code_verifier=None, callback=others
    )


def oauth_call(
    integration_id: str, connection: AccountConnection, sub_account_id: str = SUB_ACCOUNT
) -> ProviderCall:
    """A call of the integration the core makes from `connection` (no client of its own)."""
    return ProviderCall(
        integration_id=integration_id,
        sub_account_id=sub_account_id,
        template_name="gohighlevel_oauth",
        config=dict(connection.config),
        credentials=Credentials(dict(connection.secrets)),
        rate_limit_per_minute=60_000,
    )


@pytest.fixture
async def service_client(running: RunningFake) -> AsyncIterator[Callable[..., HttpGhlClient]]:
    """HttpGhlClients as the service runs them: its app's client configured."""
    clients: list[HttpGhlClient] = []

    def make(
        store: InMemoryTokenStore,
        *,
        app: bool = True,
        agency_grants: InMemoryAgencyGrants | None = None,
        clock: Clock | None = None,
    ) -> HttpGhlClient:
        client = HttpGhlClient(
            rate_limiter=TokenBucketRateLimiter(),
            token_store=store,
            agency_grants=agency_grants,
            clock=clock,
            base_url=running.url,
            retry=FAST_RETRY,
            timeouts=FAST_TIMEOUTS,
            app_client=(
                OAuthClient(SecretStr(DEMO_CLIENT_ID), SecretStr(DEMO_CLIENT_SECRET))
                if app
                else None
            ),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_a_location_install_connects_that_location_and_its_first_call_needs_no_refresh(
    flow: GhlConnectFlow, running: RunningFake, service_client: Callable[..., HttpGhlClient]
) -> None:
    callback = await sign_in(flow)
    assert callback["state"] == "state-1"

    grant = await exchange(flow, callback)
    connection = await flow.connect(grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT)

    assert grant.accounts == (AccountChoice(DEMO_LOCATION_ID, DEMO_LOCATION_ID),)
    assert connection.config == {"locationId": DEMO_LOCATION_ID}
    assert connection.tokens is not None
    assert connection.secrets["refreshToken"] == connection.tokens.refresh_token
    store = InMemoryTokenStore({"integration-1": connection.tokens})
    account = await service_client(store).get_account(oauth_call("integration-1", connection))
    assert account.id == DEMO_LOCATION_ID
    assert running.fake.token_refreshes == 0


async def test_a_connected_integration_refreshes_through_the_services_app(
    flow: GhlConnectFlow, running: RunningFake, service_client: Callable[..., HttpGhlClient]
) -> None:
    grant = await exchange(flow, await sign_in(flow))
    connection = await flow.connect(grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT)
    store = InMemoryTokenStore()  # as if the access token had expired: the chain is refreshed

    account = await service_client(store).get_account(oauth_call("integration-1", connection))

    assert account.id == DEMO_LOCATION_ID
    assert running.fake.token_refreshes == 1
    assert store.tokens["integration-1"].refresh_token != connection.secrets["refreshToken"]


async def test_without_the_services_app_an_integration_without_a_client_cannot_refresh(
    flow: GhlConnectFlow, service_client: Callable[..., HttpGhlClient]
) -> None:
    grant = await exchange(flow, await sign_in(flow))
    connection = await flow.connect(grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT)

    with pytest.raises(InvalidCredentialsError, match="GHL_OAUTH_CLIENT_ID"):
        await service_client(InMemoryTokenStore(), app=False).get_account(
            oauth_call("integration-1", connection)
        )


async def test_an_agency_install_lists_the_installed_locations_and_connects_the_chosen_ones(
    flow: GhlConnectFlow, running: RunningFake, service_client: Callable[..., HttpGhlClient]
) -> None:
    running.fake.consent = Consent(install="agency", company_id=COMPANY)

    grant = await exchange(flow, await sign_in(flow))
    first = await flow.connect(grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT)
    second = await flow.connect(grant.secrets, SECOND_LOCATION, {}, sub_account_id=SUB_ACCOUNT)

    assert grant.accounts == (
        AccountChoice(DEMO_LOCATION_ID, "Fake Dental Clinic"),
        AccountChoice(SECOND_LOCATION, "Fake Dental Annex"),
    )
    assert (first.config, second.config) == (
        {"locationId": DEMO_LOCATION_ID, "companyId": COMPANY},
        {"locationId": SECOND_LOCATION, "companyId": COMPANY},
    )
    # Each location has a rotation chain of its own: refreshing one leaves the other working.
    store = InMemoryTokenStore()
    client = service_client(store)
    assert (await client.get_account(oauth_call("one", first))).id == DEMO_LOCATION_ID
    assert (await client.get_account(oauth_call("two", second))).id == SECOND_LOCATION
    assert running.fake.token_refreshes == 2
    assert first.secrets["refreshToken"] != second.secrets["refreshToken"]
    # The agency's chain was only held in the session: no location's refresh token is it.
    assert grant.secrets["refreshToken"] not in (
        first.secrets["refreshToken"],
        second.secrets["refreshToken"],
    )


async def test_an_agency_location_the_app_is_not_installed_on_is_not_connected(
    flow: GhlConnectFlow, running: RunningFake
) -> None:
    running.fake.consent = Consent(install="agency", location_ids=[SECOND_LOCATION])
    grant = await exchange(flow, await sign_in(flow))

    with pytest.raises(ConnectFlowError) as refused:
        await flow.connect(grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT)

    assert grant.accounts == (AccountChoice(SECOND_LOCATION, "Fake Dental Annex"),)
    assert refused.value.failure is ConnectFailure.NO_ACCOUNTS


async def test_an_agency_with_no_installed_location_has_no_accounts(
    flow: GhlConnectFlow, running: RunningFake
) -> None:
    running.fake.consent = Consent(install="agency", company_id="fakeCompanyWithNothing")

    with pytest.raises(ConnectFlowError) as refused:
        await exchange(flow, await sign_in(flow))

    assert refused.value.failure is ConnectFailure.NO_ACCOUNTS


async def test_without_an_agency_store_a_location_token_without_a_refresh_token_is_refused(
    flow: GhlConnectFlow, running: RunningFake
) -> None:
    running.fake.consent = Consent(install="agency", location_token_refresh=False)
    grant = await exchange(flow, await sign_in(flow))

    with pytest.raises(ConnectFlowError) as refused:
        await flow.connect(grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT)

    assert refused.value.failure is ConnectFailure.NO_ACCOUNTS


# --- an agency install in the v2 shape: location tokens minted from the agency's ------------


@dataclass
class AgencyInstall:
    grants: InMemoryAgencyGrants
    grant: ConnectGrant
    first: AccountConnection
    second: AccountConnection


@pytest.fixture
async def agency_install(make_flow: MakeFlow, running: RunningFake) -> AgencyInstall:
    """The demo agency installs the app on two locations; GHL's location tokens come without a
    refresh token (v2's documented answer); the person connects both."""
    running.fake.consent = Consent(
        install="agency", company_id=COMPANY, location_token_refresh=False
    )
    grants = InMemoryAgencyGrants()
    flow = make_flow(agency_grants=grants)
    grant = await exchange(flow, await sign_in(flow))
    first = await flow.connect(grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT)
    second = await flow.connect(grant.secrets, SECOND_LOCATION, {}, sub_account_id=SUB_ACCOUNT)
    return AgencyInstall(grants, grant, first, second)


def expire_every_token(running: RunningFake, clock: ShiftedClock) -> None:
    """A day on: GHL refuses every access token it issued (agency's and locations'), and the
    service's clock says they expired."""
    for access in running.fake.state.access.values():
        if access.expires_at is not None:
            access.expires_at = running.fake.state.now()
    clock.shift = timedelta(days=1, minutes=1)


async def test_an_agency_install_in_v2s_shape_connects_locations_through_the_agencys_chain(
    agency_install: AgencyInstall,
) -> None:
    first, second = agency_install.first, agency_install.second

    assert (first.config, second.config) == (
        {"locationId": DEMO_LOCATION_ID, "companyId": COMPANY},
        {"locationId": SECOND_LOCATION, "companyId": COMPANY},
    )
    for connection in (first, second):
        assert connection.secrets == {"refreshToken": SecretStr(AGENCY_CONNECTED)}
        assert connection.tokens is None  # nothing of its own to store
    # One chain, stored once for the sub-account and the agency: the install's.
    [(key, stored)] = agency_install.grants.grants.items()
    assert key == (SUB_ACCOUNT, COMPANY)
    assert stored.tokens.refresh_token == agency_install.grant.secrets["refreshToken"]
    assert agency_install.grants.installs == 1


async def test_agency_connected_locations_keep_working_past_their_tokens_day(
    agency_install: AgencyInstall,
    running: RunningFake,
    service_client: Callable[..., HttpGhlClient],
) -> None:
    clock = ShiftedClock()
    # Two copies of the service sharing the store (and its refresh lock).
    copies = [
        service_client(InMemoryTokenStore(), agency_grants=agency_install.grants, clock=clock)
        for _ in range(2)
    ]
    calls = {
        DEMO_LOCATION_ID: oauth_call("one", agency_install.first),
        SECOND_LOCATION: oauth_call("two", agency_install.second),
    }
    assert [(await copies[0].get_account(c)).id for c in calls.values()] == list(calls)
    assert running.fake.token_refreshes == 0  # minted from the install's agency token
    installed = agency_install.grants.grants[(SUB_ACCOUNT, COMPANY)].tokens

    expire_every_token(running, clock)
    # Both integrations call at once on both copies, many times: each location is minted again
    # from an agency token refreshed once, stored before it was used.
    answers = await asyncio.gather(
        *(client.get_account(call) for client in copies for call in list(calls.values()) * 10)
    )

    assert {account.id for account in answers} == set(calls)
    assert running.fake.token_refreshes == 1
    assert len(agency_install.grants.rotations) == 1
    rotated = agency_install.grants.grants[(SUB_ACCOUNT, COMPANY)].tokens
    assert rotated.refresh_token != installed.refresh_token
    assert running.fake.state.refresh[installed.refresh_token.reveal()].used  # single-use


async def test_an_expired_location_token_ghl_refuses_is_minted_again_once(
    agency_install: AgencyInstall,
    running: RunningFake,
    service_client: Callable[..., HttpGhlClient],
) -> None:
    client = service_client(InMemoryTokenStore(), agency_grants=agency_install.grants)
    call = oauth_call("one", agency_install.first)
    await client.get_account(call)
    minted = [a for a in running.fake.state.access.values() if a.location_id]
    for access in minted:  # expired at GHL before the service's clock says so
        access.expires_at = running.fake.state.now()

    account = await client.get_account(call)

    assert minted
    assert account.id == DEMO_LOCATION_ID
    assert running.fake.token_refreshes == 0  # the agency's token was still good
    assert len([a for a in running.fake.state.access.values() if a.location_id]) > len(minted)


async def test_an_agency_token_ghl_revoked_early_is_refreshed_once_to_mint(
    agency_install: AgencyInstall,
    running: RunningFake,
    service_client: Callable[..., HttpGhlClient],
) -> None:
    client = service_client(InMemoryTokenStore(), agency_grants=agency_install.grants)
    agency_tokens = [t for t, a in running.fake.state.access.items() if a.kind == "agency"]
    for token in agency_tokens:  # revoked at GHL, though the store says it is good for a day
        del running.fake.state.access[token]

    account = await client.get_account(oauth_call("one", agency_install.first))

    assert agency_tokens
    assert account.id == DEMO_LOCATION_ID
    assert running.fake.token_refreshes == 1
    assert len(agency_install.grants.rotations) == 1


async def test_an_agency_grant_is_out_of_reach_of_another_sub_accounts_integration(
    agency_install: AgencyInstall,
    running: RunningFake,
    service_client: Callable[..., HttpGhlClient],
) -> None:
    client = service_client(InMemoryTokenStore(), agency_grants=agency_install.grants)
    # Another tenant's integration naming the same agency and location.
    intruder = oauth_call("intruder", agency_install.first, sub_account_id="sub-account-2")
    minted_before = len(running.fake.state.access)

    with pytest.raises(InvalidCredentialsError):
        await client.get_account(intruder)

    assert len(running.fake.state.access) == minted_before  # nothing minted for it
    assert list(agency_install.grants.grants) == [(SUB_ACCOUNT, COMPANY)]


async def test_connecting_another_location_of_the_same_install_keeps_the_rotated_chain(
    agency_install: AgencyInstall,
    make_flow: MakeFlow,
    running: RunningFake,
    service_client: Callable[..., HttpGhlClient],
) -> None:
    clock = ShiftedClock()
    client = service_client(InMemoryTokenStore(), agency_grants=agency_install.grants, clock=clock)
    expire_every_token(running, clock)
    await client.get_account(oauth_call("one", agency_install.first))  # the chain rotates
    rotated = agency_install.grants.grants[(SUB_ACCOUNT, COMPANY)].tokens

    # The person's session still holds the install's first chain: connecting again with it
    # must not put its spent refresh token back.
    flow = make_flow(agency_grants=agency_install.grants)
    running.fake.state.access.update(
        {
            agency_install.grant.secrets["accessToken"].reveal(): _agency_access(running),
        }
    )
    await flow.connect(
        agency_install.grant.secrets, SECOND_LOCATION, {}, sub_account_id=SUB_ACCOUNT
    )

    assert agency_install.grants.grants[(SUB_ACCOUNT, COMPANY)].tokens == rotated
    assert agency_install.grants.installs == 1


def _agency_access(running: RunningFake) -> AccessGrant:
    return AccessGrant(
        "",
        "agency",
        running.fake.state.now() + timedelta(hours=1),
        company_id=COMPANY,
        client_id=DEMO_CLIENT_ID,
    )


async def test_a_location_install_connects_no_other_location(flow: GhlConnectFlow) -> None:
    grant = await exchange(flow, await sign_in(flow))

    with pytest.raises(ConnectFlowError) as refused:
        await flow.connect(grant.secrets, SECOND_LOCATION, {}, sub_account_id=SUB_ACCOUNT)

    assert refused.value.failure is ConnectFailure.ACCOUNT_MISMATCH


async def test_a_declined_consent_comes_back_with_access_denied_and_no_code(
    flow: GhlConnectFlow, running: RunningFake
) -> None:
    running.fake.consent = Consent(deny=True)

    callback = await sign_in(flow, state="state-2")

    assert callback == {"error": "access_denied", "state": "state-2"}


async def test_missing_permissions_are_named(flow: GhlConnectFlow, running: RunningFake) -> None:
    running.fake.consent = Consent(scope="contacts.readonly locations.readonly")

    with pytest.raises(ConnectFlowError) as refused:
        await exchange(flow, await sign_in(flow))

    assert refused.value.failure is ConnectFailure.MISSING_SCOPES
    assert "contacts.write" in refused.value.detail.split()
    assert "locations.readonly" not in refused.value.detail.split()


async def test_an_expired_code_is_rejected(flow: GhlConnectFlow, running: RunningFake) -> None:
    running.fake.consent = Consent(code_ttl_seconds=0)

    with pytest.raises(ConnectFlowError) as refused:
        await exchange(flow, await sign_in(flow))

    assert refused.value.failure is ConnectFailure.CODE_REJECTED


async def test_a_code_works_once(flow: GhlConnectFlow) -> None:
    callback = await sign_in(flow)
    await exchange(flow, callback)

    with pytest.raises(ConnectFlowError) as refused:
        await exchange(flow, callback)

    assert refused.value.failure is ConnectFailure.CODE_REJECTED


async def test_a_code_is_rejected_for_another_redirect_uri(flow: GhlConnectFlow) -> None:
    callback = await sign_in(flow)

    with pytest.raises(ConnectFlowError) as refused:
        await flow.exchange(
            code=callback["code"],
            redirect_uri="https://elsewhere.example/callback",
            code_verifier=None,
            callback={},
        )

    assert refused.value.failure is ConnectFailure.CODE_REJECTED


async def test_a_wrong_app_secret_is_rejected(make_flow: MakeFlow) -> None:
    flow = make_flow(secret="not-the-secret")

    with pytest.raises(ConnectFlowError) as refused:
        await exchange(flow, await sign_in(flow))

    assert refused.value.failure is ConnectFailure.CODE_REJECTED


async def test_a_failing_token_endpoint_is_the_provider_being_unavailable(
    flow: GhlConnectFlow, running: RunningFake
) -> None:
    callback = await sign_in(flow)
    running.fake.inject(ScriptedFault(status=503, path_prefix="/oauth/token"))

    with pytest.raises(ConnectionFailedError, match="HTTP 503"):
        await exchange(flow, callback)


async def test_a_slow_token_endpoint_fails_after_the_timeout(
    make_flow: MakeFlow, running: RunningFake
) -> None:
    flow = make_flow(timeout_seconds=0.5)
    callback = await sign_in(flow)
    running.fake.inject(ScriptedFault(kind="timeout", path_prefix="/oauth/token"))

    with pytest.raises(ConnectionFailedError, match="could not be reached"):
        await exchange(flow, callback)


async def test_codes_and_tokens_reach_no_log_and_no_error(
    flow: GhlConnectFlow, running: RunningFake
) -> None:
    secrets: list[str] = []
    errors: list[str] = []
    with capture_logs() as logs:
        for consent in (Consent(), Consent(install="agency")):
            running.fake.consent = consent
            callback = await sign_in(flow)
            grant = await exchange(flow, callback)
            connection = await flow.connect(
                grant.secrets, DEMO_LOCATION_ID, {}, sub_account_id=SUB_ACCOUNT
            )
            assert connection.tokens is not None
            secrets += [callback["code"], connection.tokens.access_token.reveal()]
            secrets += [connection.tokens.refresh_token.reveal()]
            secrets += [v.reveal() for k, v in grant.secrets.items() if "Token" in k]
            try:  # a reused code: refused, its message and detail are logged and shown
                await exchange(flow, callback)
            except ConnectFlowError as err:
                errors += [str(err), err.detail]
        running.fake.consent = Consent(code_ttl_seconds=0)
        expired = await sign_in(flow)
        secrets.append(expired["code"])
        with pytest.raises(ConnectFlowError) as refused:
            await exchange(flow, expired)
        errors += [str(refused.value), refused.value.detail, repr(refused.value)]

    assert logs, "the flow logs its steps"
    assert len(secrets) >= 8
    text = repr(logs) + "".join(errors)
    assert [s for s in secrets if s in text] == []


def test_the_authorization_url_asks_for_the_scopes_the_service_needs(flow: GhlConnectFlow) -> None:
    url = URL(flow.authorization_url(state="s", redirect_uri=REDIRECT_URI, code_challenge=None))

    assert url.path == AUTHORIZE_PATH
    assert url.query["response_type"] == "code"
    assert url.query["client_id"] == DEMO_CLIENT_ID
    assert url.query["redirect_uri"] == REDIRECT_URI
    assert url.query["state"] == "s"
    assert set(LOCATION_SCOPES) | {"oauth.readonly", "oauth.write"} == set(
        url.query["scope"].split()
    )
    assert DEMO_CLIENT_SECRET not in str(url)
    with pytest.raises(ValueError, match="PKCE"):
        flow.authorization_url(state="s", redirect_uri=REDIRECT_URI, code_challenge="c")


async def test_an_agency_connected_integration_owns_its_agency_so_the_agencys_uninstall_reaches_it(
    flow: GhlConnectFlow, running: RunningFake, service_client: Callable[..., HttpGhlClient]
) -> None:
    running.fake.consent = Consent(install="agency")
    agency = await flow.connect(
        (await exchange(flow, await sign_in(flow))).secrets,
        DEMO_LOCATION_ID,
        {},
        sub_account_id=SUB_ACCOUNT,
    )
    running.fake.consent = Consent()
    location = await flow.connect(
        (await exchange(flow, await sign_in(flow))).secrets,
        DEMO_LOCATION_ID,
        {},
        sub_account_id=SUB_ACCOUNT,
    )
    provider = GhlProvider(service_client(InMemoryTokenStore()))

    tested = [
        await provider.test_connection(context(name, connection))
        for name, connection in (("agency", agency), ("location", location))
    ]

    assert agency.config == {"locationId": DEMO_LOCATION_ID, "companyId": COMPANY}
    assert [t.success for t in tested] == [True, True]
    assert tested[0].accounts == {location_account(DEMO_LOCATION_ID), company_account(COMPANY)}
    assert tested[1].accounts == {location_account(DEMO_LOCATION_ID)}


def context(integration_id: str, connection: AccountConnection) -> ProviderContext:
    call = oauth_call(integration_id, connection)
    return ProviderContext(
        integration_id=call.integration_id,
        sub_account_id=call.sub_account_id,
        template_name=call.template_name,
        config=call.config,
        credentials=call.credentials,
        rate_limit_per_minute=call.rate_limit_per_minute,
    )


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Where the fake sends its webhooks, and what it received."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("/hook")), received
    await server.close()


async def test_an_uninstall_at_the_fake_revokes_the_apps_tokens_and_sends_ghls_uninstall(
    start_fake: StartFake, hooks: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hooks
    running = await start_fake(seed=_seed(), webhook_url=url)
    flow = GhlConnectFlow(
        client=OAuthClient(SecretStr(DEMO_CLIENT_ID), SecretStr(DEMO_CLIENT_SECRET)),
        authorize_url=f"{running.url}{AUTHORIZE_PATH}",
        api_base_url=running.url,
        clock=SystemClock(),
    )
    try:
        connection = await flow.connect(
            (await exchange(flow, await sign_in(flow))).secrets,
            DEMO_LOCATION_ID,
            {},
            sub_account_id=SUB_ACCOUNT,
        )
    finally:
        await flow.close()
    assert connection.tokens is not None
    client = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        token_store=InMemoryTokenStore({"integration-1": connection.tokens}),
        base_url=running.url,
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
        app_client=OAuthClient(SecretStr(DEMO_CLIENT_ID), SecretStr(DEMO_CLIENT_SECRET)),
    )
    call = oauth_call("integration-1", connection)
    try:
        assert (await client.get_account(call)).id == DEMO_LOCATION_ID
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{running.url}/_fake/oauth/uninstall",
                json={"clientId": DEMO_CLIENT_ID, "locationId": DEMO_LOCATION_ID},
            ) as answer,
        ):
            assert answer.status == 204
        await running.fake.webhooks.drain()

        with pytest.raises(InvalidCredentialsError):  # the access token, then the refresh
            await client.get_account(call)
    finally:
        await client.close()

    assert [(e["type"], e["appId"], e["locationId"]) for e in received] == [
        ("UNINSTALL", "fake", DEMO_LOCATION_ID)
    ]


async def test_the_agencys_uninstall_disconnects_its_locations_and_drops_its_chain(
    start_fake: StartFake,
    hooks: tuple[str, list[dict[str, Any]]],
    service_client: Callable[..., HttpGhlClient],
) -> None:
    url, received = hooks
    running = await start_fake(seed=_seed(), webhook_url=url)
    running.fake.consent = Consent(
        install="agency", company_id=COMPANY, location_token_refresh=False
    )
    grants = InMemoryAgencyGrants()
    flow = GhlConnectFlow(
        client=OAuthClient(SecretStr(DEMO_CLIENT_ID), SecretStr(DEMO_CLIENT_SECRET)),
        authorize_url=f"{running.url}{AUTHORIZE_PATH}",
        api_base_url=running.url,
        clock=SystemClock(),
        agency_grants=grants,
    )
    try:
        grant = await exchange(flow, await sign_in(flow))
        connections = [
            await flow.connect(grant.secrets, location, {}, sub_account_id=SUB_ACCOUNT)
            for location in (DEMO_LOCATION_ID, SECOND_LOCATION)
        ]
    finally:
        await flow.close()
    uow = FakeUnitOfWorkFactory()
    integrations = [await _stored(uow, n, c) for n, c in enumerate(connections)]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{running.url}/_fake/oauth/uninstall",
            json={"clientId": DEMO_CLIENT_ID, "companyId": COMPANY},
        ) as answer,
    ):
        assert answer.status == 204
    await running.fake.webhooks.drain()
    [uninstall] = received
    handler = HandleAppLifecycleEvent(
        clock=SystemClock(),
        concerns=GhlAppEvents(OAuthClient(SecretStr(DEMO_CLIENT_ID), SecretStr("s"))),
        uninstalled=GhlAgencyUninstall(grants),
    )

    # The webhook routes the agency's UNINSTALL to each integration owning the agency.
    outcomes = [await _deliver(uow, handler, i, uninstall) for i in integrations]

    assert uninstall["companyId"] == COMPANY
    assert "locationId" not in uninstall
    assert outcomes == [HandlerOutcome.APPLIED, HandlerOutcome.APPLIED]
    assert [uow.store.integrations[i.id].status for i in integrations] == [
        IntegrationStatus.DISCONNECTED,
        IntegrationStatus.DISCONNECTED,
    ]
    assert grants.grants == {}
    client = service_client(InMemoryTokenStore(), agency_grants=grants)
    with pytest.raises(InvalidCredentialsError):
        await client.get_account(oauth_call("one", connections[0]))


async def _stored(uow: FakeUnitOfWorkFactory, n: int, connection: AccountConnection) -> Integration:
    cipher = FakeCipher()
    integration_id = f"integration-{n}"
    integration = Integration.create(
        id=integration_id,
        sub_account_id=SUB_ACCOUNT,
        template_id="template-1",
        template_name="gohighlevel_oauth",
        name=f"Location {n}",
        config=dict(connection.config),
        secrets=await seal(cipher, integration_id, SUB_ACCOUNT, dict(connection.secrets)),
        now=SystemClock().now(),
    )
    integration.activate(now=SystemClock().now())
    async with uow() as setup:
        await setup.integrations.add(integration)
        await setup.commit()
    return integration


async def _deliver(
    uow: FakeUnitOfWorkFactory,
    handler: HandleAppLifecycleEvent,
    integration: Integration,
    payload: dict[str, Any],
) -> HandlerOutcome:
    async with uow() as work:
        outcome = await handler.handle(work, _event(integration, payload))
        await work.commit()
    return outcome


def _event(integration: Integration, payload: dict[str, Any]) -> InboundEvent:
    return InboundEvent(
        delivery_id=f"delivery-{integration.id}",
        integration_id=integration.id,
        sub_account_id=integration.sub_account_id,
        kind=EventKind.APP_UNINSTALLED,
        event_type=str(payload["type"]),
        payload=payload,
        received_at=SystemClock().now(),
    )


async def test_a_location_uninstall_or_another_agencys_leaves_the_agencys_chain() -> None:
    grants = InMemoryAgencyGrants()
    agency_chain = OAuthTokens(SecretStr("at"), SecretStr("rt"), SystemClock().now())
    await grants.install(SUB_ACCOUNT, COMPANY, agency_chain, origin="install")
    connection = AccountConnection(
        account=AccountChoice(DEMO_LOCATION_ID, DEMO_LOCATION_ID),
        config={"locationId": DEMO_LOCATION_ID, "companyId": COMPANY},
        secrets={"refreshToken": SecretStr(AGENCY_CONNECTED)},
    )
    integration = await _stored(FakeUnitOfWorkFactory(), 1, connection)
    forget = GhlAgencyUninstall(grants)

    for payload in (
        {"type": "UNINSTALL", "companyId": COMPANY, "locationId": DEMO_LOCATION_ID},
        {"type": "UNINSTALL", "companyId": "fakeCompany000000002"},
    ):
        await forget(integration, _event(integration, payload))

    assert list(grants.grants) == [(SUB_ACCOUNT, COMPANY)]

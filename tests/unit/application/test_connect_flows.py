"""Connecting an account by signing in: StartConnection, the callback, the choice and the
poll, on the in-memory fakes and a scripted provider sign-in."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.schema import JsonSchemaConfigValidator
from application.account_linking import AccountLinker
from application.connect_policy import ConnectPolicy
from application.connect_security import code_challenge
from application.connection import ConnectionTester
from application.ports import (
    AccountConnection,
    ConnectFlowError,
    ConnectGrant,
    ConnectionTestResult,
    OAuthTokens,
)
from application.provider_registry import ProviderBundle, ProviderRegistry
from application.use_cases.choose_connection_accounts import (
    ChooseConnectionAccounts,
    ChooseConnectionAccountsCommand,
)
from application.use_cases.complete_connection import CallbackOutcome, CompleteConnection
from application.use_cases.get_connection_session import GetConnectionSession
from application.use_cases.seed_templates import SeedTemplates
from application.use_cases.start_connection import StartConnection, StartConnectionCommand
from domain.connection_session import AccountChoice, ConnectFailure, SessionStatus
from domain.errors import (
    ConnectionFailedError,
    InvalidArgumentError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ProviderNotSupportedError,
)
from domain.integration import IntegrationStatus
from domain.values import Principal, Role, SecretStr
from tests.fakes import (
    FakeCipher,
    FakeProvider,
    FakeUnitOfWorkFactory,
    FixedClock,
    InMemoryConnectionSessions,
    SequentialIds,
)

RETURN_URL = "https://app.example/connected"
USER = Principal("user-1", Role.USER, "sa-1")
OTHER = Principal("user-2", Role.USER, "sa-2")
ACME_TEMPLATE: dict[str, Any] = {
    "name": "acme_crm",
    "display_name": "Acme CRM",
    "description": "A CRM whose people sign in.",
    "category": "CRM",
    "icon": "acme",
    "api_version": "1",
    "setup_instructions": "Sign in.",
    "config_schema": {
        "type": "object",
        "properties": {
            "accountId": {"type": "string", "minLength": 1, "required": True},
            "token": {"type": "string", "minLength": 1, "required": True, "encrypted": True},
            "datasetId": {"type": "string", "pattern": "^[0-9]+$"},
        },
    },
}
PLAIN_TEMPLATE: dict[str, Any] = {**ACME_TEMPLATE, "name": "plain_crm", "display_name": "Plain"}


@dataclass
class ScriptedFlow:
    """A provider's sign-in as the tests script it; records what the core asked."""

    accounts: tuple[AccountChoice, ...] = (AccountChoice("acct-1", "Main"),)
    exchange_error: BaseException | None = None
    connect_error: BaseException | None = None
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    connects: list[tuple[dict[str, str], str, dict[str, Any]]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    """When set, an exchange waits for it (after setting `entered`)."""
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    template: str = "acme_crm"
    pkce: bool = True

    def authorization_url(
        self, *, state: str, redirect_uri: str, code_challenge: str | None
    ) -> str:
        query = f"state={state}&redirect_uri={redirect_uri}&code_challenge={code_challenge}"
        return f"https://idp.example/authorize?{query}"

    async def exchange(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        callback: Mapping[str, str],
    ) -> ConnectGrant:
        self.exchanges.append(
            {"code": code, "redirect_uri": redirect_uri, "verifier": code_verifier, **callback}
        )
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.exchange_error is not None:
            raise self.exchange_error
        if code != "good-code":
            raise ConnectFlowError(ConnectFailure.CODE_REJECTED, "the code was refused")
        return ConnectGrant(self.accounts, {"userToken": SecretStr("user-token-secret")})

    async def connect(
        self, grant: Mapping[str, SecretStr], account_id: str, config: Mapping[str, Any]
    ) -> AccountConnection:
        self.connects.append(({k: v.reveal() for k, v in grant.items()}, account_id, dict(config)))
        if self.connect_error is not None:
            raise self.connect_error
        name = next(a.name for a in self.accounts if a.id == account_id)
        return AccountConnection(
            account=AccountChoice(account_id, name),
            config={"accountId": account_id},
            secrets={"token": SecretStr(f"token-of-{account_id}")},
            tokens=OAuthTokens(
                access_token=SecretStr(f"access-{account_id}"),
                refresh_token=SecretStr(f"token-of-{account_id}"),
                expires_at=datetime(2027, 1, 1, tzinfo=UTC),
            ),
        )


@dataclass
class RecordingTokenStore:
    saved: dict[str, OAuthTokens] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    async def load_tokens(self, integration_id: str) -> OAuthTokens | None:
        return self.saved.get(integration_id)

    async def save_rotated_tokens(
        self,
        integration_id: str,
        *,
        refresh_token: SecretStr,
        access_token: SecretStr,
        expires_at: datetime,
    ) -> None:
        self.events.append(f"tokens:{integration_id}")
        self.saved[integration_id] = OAuthTokens(access_token, refresh_token, expires_at)

    def refresh_lock(self, integration_id: str) -> Any:
        raise NotImplementedError


class RecordingProvider(FakeProvider):
    def __init__(self, events: list[str]) -> None:
        super().__init__(
            ConnectionTestResult(success=True, message="connected", details={"account": "x"})
        )
        self.events = events

    async def test_connection(self, ctx: Any) -> ConnectionTestResult:
        self.events.append(f"test:{ctx.integration_id}")
        return await super().test_connection(ctx)


@dataclass
class World:
    uow: FakeUnitOfWorkFactory
    sessions: InMemoryConnectionSessions
    flow: ScriptedFlow
    provider: RecordingProvider
    tokens: RecordingTokenStore
    clock: FixedClock
    start: StartConnection
    complete: CompleteConnection
    choose: ChooseConnectionAccounts
    get: GetConnectionSession

    async def begin(self, **fields: Any) -> tuple[str, str, str]:
        """Start a session; returns (session id, state, challenge) as the browser sees them."""
        command = {
            "actor": USER,
            "sub_account_id": "sa-1",
            "template": "acme_crm",
            "display_name": "Main CRM",
            "return_url": RETURN_URL,
            **fields,
        }
        started = await self.start.execute(StartConnectionCommand(**command))
        query = parse_qs(urlsplit(started.authorization_url).query)
        return started.session.id, query["state"][0], query["code_challenge"][0]

    async def callback(self, state: str, **params: str) -> CallbackOutcome:
        return await self.complete.execute("acme", {"state": state, **params})

    async def integrations(self) -> list[Any]:
        async with self.uow() as uow:
            return list((await uow.integrations.list_page(_all(), _first())).items)


def _all() -> Any:
    from application.ports import IntegrationFilter

    return IntegrationFilter(sub_account_id="sa-1")


def _first() -> Any:
    from application.ports import PageRequest

    return PageRequest(100)


def outcome_of(url: str | None) -> dict[str, str]:
    assert url is not None
    assert url.startswith(RETURN_URL + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
async def world() -> World:
    uow = FakeUnitOfWorkFactory()
    clock = FixedClock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    ids = SequentialIds("int")
    validator = JsonSchemaConfigValidator()
    cipher = FakeCipher()
    sessions = InMemoryConnectionSessions()
    tokens = RecordingTokenStore()
    provider = RecordingProvider(tokens.events)
    flow = ScriptedFlow()
    registry = ProviderRegistry(
        [
            ProviderBundle(
                name="acme", templates=(ACME_TEMPLATE,), connection=provider, connect=flow
            ),
            ProviderBundle(name="plain", templates=(PLAIN_TEMPLATE,), connection=provider),
        ]
    )
    await SeedTemplates(
        uow=uow,
        validator=validator,
        ids=SequentialIds("tpl"),
        clock=clock,
        templates=(ACME_TEMPLATE, PLAIN_TEMPLATE),
    ).execute()
    policy = ConnectPolicy(
        public_base_url="https://integrations.example",
        return_urls=(RETURN_URL,),
        session_ttl=timedelta(minutes=10),
    )
    tester = ConnectionTester(uow_factory=uow, providers=registry, cipher=cipher, clock=clock)
    linker = AccountLinker(
        uow=uow,
        sessions=sessions,
        validator=validator,
        cipher=cipher,
        tester=tester,
        tokens=tokens,
        ids=ids,
        clock=clock,
        policy=policy,
    )
    return World(
        uow=uow,
        sessions=sessions,
        flow=flow,
        provider=provider,
        tokens=tokens,
        clock=clock,
        start=StartConnection(
            uow=uow,
            sessions=sessions,
            providers=registry,
            validator=validator,
            cipher=cipher,
            clock=clock,
            policy=policy,
        ),
        complete=CompleteConnection(
            sessions=sessions,
            providers=registry,
            linker=linker,
            cipher=cipher,
            clock=clock,
            policy=policy,
        ),
        choose=ChooseConnectionAccounts(
            sessions=sessions, providers=registry, linker=linker, cipher=cipher, clock=clock
        ),
        get=GetConnectionSession(sessions=sessions),
    )


# --- starting -----------------------------------------------------------------------------------


async def test_a_start_hands_out_a_state_and_challenge_it_keeps_only_sealed_or_digested(
    world: World,
) -> None:
    session_id, state, challenge = await world.begin()

    stored = world.sessions.sessions[session_id]
    assert stored.status is SessionStatus.PENDING
    assert stored.provider == "acme"
    assert all(state not in str(getattr(stored, f.name)) for f in dataclasses.fields(stored))
    assert stored.state_digest != state
    assert stored.code_verifier is not None
    assert challenge not in stored.code_verifier.token
    assert session_id != state


async def test_a_return_url_off_the_allow_list_is_refused(world: World) -> None:
    for url in (
        RETURN_URL + "/",
        RETURN_URL + "?next=https://evil.example",
        "https://evil.example",
    ):
        with pytest.raises(InvalidArgumentError) as err:
            await world.begin(return_url=url)
        assert err.value.violations[0].field == "return_url"
    assert world.sessions.sessions == {}


async def test_only_admins_and_people_of_the_sub_account_may_start(world: World) -> None:
    with pytest.raises(PermissionDeniedError):
        await world.begin(actor=OTHER)
    admin = Principal("admin-1", Role.ADMIN)
    session_id, _, _ = await world.begin(actor=admin)
    assert world.sessions.sessions[session_id].created_by == "admin-1"


async def test_a_template_without_a_sign_in_is_not_supported(world: World) -> None:
    with pytest.raises(ProviderNotSupportedError):
        await world.begin(template="plain_crm")
    with pytest.raises(NotFoundError):
        await world.begin(template="no_such_template")


async def test_the_up_front_config_holds_known_plain_valid_fields_only(world: World) -> None:
    for config, path in (
        ({"token": "pasted"}, "config.token"),
        ({"unknown": "x"}, "config.unknown"),
        ({"datasetId": "not digits"}, "config.datasetId"),
    ):
        with pytest.raises(InvalidArgumentError) as err:
            await world.begin(config=config)
        assert [v.field for v in err.value.violations] == [path]


# --- the callback -------------------------------------------------------------------------------


async def test_one_account_connects_at_once_with_its_tokens_stored_before_the_test(
    world: World,
) -> None:
    session_id, state, challenge = await world.begin(config={"datasetId": "42"})

    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url) == {
        "connection_session": session_id,
        "state": "connected",
    }
    [integration] = await world.integrations()
    assert integration.status is IntegrationStatus.ACTIVE
    assert integration.name == "Main CRM"
    assert integration.config == {"accountId": "acct-1", "datasetId": "42"}
    assert set(integration.secrets) == {"token"}
    assert world.tokens.events == [f"tokens:{integration.id}", f"test:{integration.id}"]
    [exchange] = world.flow.exchanges
    assert exchange["redirect_uri"] == "https://integrations.example/oauth/acme/callback"
    assert code_challenge(exchange["verifier"]) == challenge
    session = await world.get.execute(USER, session_id)
    assert session.status is SessionStatus.CONNECTED
    assert session.integration_ids == (integration.id,)


async def test_nothing_secret_reaches_the_browsers_url(world: World) -> None:
    _, state, _ = await world.begin()

    outcome = await world.callback(state, code="good-code")

    assert outcome.redirect_url is not None
    for secret in ("good-code", state, "user-token-secret", "token-of-acct-1", "access-acct-1"):
        assert secret not in outcome.redirect_url


async def test_several_accounts_wait_for_the_persons_choice(world: World) -> None:
    world.flow.accounts = (AccountChoice("acct-1", "Main"), AccountChoice("acct-2", "Second"))
    session_id, state, _ = await world.begin()

    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["state"] == "choosing"
    choosing = await world.get.execute(USER, session_id)
    assert [c.id for c in choosing.choices] == ["acct-1", "acct-2"]
    assert "user-token-secret" not in str(choosing.grant)
    assert await world.integrations() == []

    with pytest.raises(InvalidArgumentError):
        await world.choose.execute(
            ChooseConnectionAccountsCommand(
                actor=USER, session_id=session_id, account_ids=("acct-9",)
            )
        )
    with pytest.raises(NotFoundError):
        await world.choose.execute(
            ChooseConnectionAccountsCommand(
                actor=OTHER, session_id=session_id, account_ids=("acct-2",)
            )
        )
    done = await world.choose.execute(
        ChooseConnectionAccountsCommand(
            actor=USER, session_id=session_id, account_ids=("acct-1", "acct-2")
        )
    )

    assert done.status is SessionStatus.CONNECTED
    assert done.grant == {}
    names = sorted(i.name for i in await world.integrations())
    assert names == ["Main CRM (Main)", "Main CRM (Second)"]
    assert [c[0] for c in world.flow.connects] == [{"userToken": "user-token-secret"}] * 2
    with pytest.raises(InvalidTransitionError):
        await world.choose.execute(
            ChooseConnectionAccountsCommand(
                actor=USER, session_id=session_id, account_ids=("acct-1",)
            )
        )


async def test_accounts_given_up_front_must_be_reachable(world: World) -> None:
    _, state, _ = await world.begin(account_ids=("acct-7",))

    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["error"] == "account_mismatch"
    assert world.flow.connects == []


async def test_an_unknown_or_forged_state_goes_to_the_first_allowed_url(world: World) -> None:
    await world.begin()

    for state in ("forged", "", "x" * 5000):
        outcome = await world.callback(state, code="good-code")
        assert outcome.redirect_url == f"{RETURN_URL}?state=failed&error=invalid_state"
    assert world.flow.exchanges == []


async def test_a_state_is_good_only_on_its_providers_callback(world: World) -> None:
    _, state, _ = await world.begin()

    outcome = await world.complete.execute("plain", {"state": state, "code": "good-code"})

    assert outcome.error == "invalid_state"
    assert world.flow.exchanges == []


async def test_a_declined_consent_fails_the_session_without_an_exchange(world: World) -> None:
    session_id, state, _ = await world.begin()

    outcome = await world.callback(
        state, error="access_denied", error_description="The user denied <script>"
    )

    assert outcome_of(outcome.redirect_url) == {
        "connection_session": session_id,
        "state": "failed",
        "error": "access_denied",
    }
    session = await world.get.execute(USER, session_id)
    assert session.failure_detail == "access_denied"
    assert world.flow.exchanges == []


async def test_a_reused_state_exchanges_nothing_and_says_so(world: World) -> None:
    session_id, state, _ = await world.begin()
    await world.callback(state, code="good-code")

    again = await world.callback(state, code="attackers-code")

    assert outcome_of(again.redirect_url) == {
        "connection_session": session_id,
        "state": "connected",
        "error": "session_used",
    }
    assert len(world.flow.exchanges) == 1
    assert len(await world.integrations()) == 1


async def test_a_double_click_connects_once_and_both_show_the_outcome(world: World) -> None:
    world.flow.gate = asyncio.Event()
    _, state, _ = await world.begin()

    first = asyncio.create_task(world.callback(state, code="good-code"))
    second = asyncio.create_task(world.callback(state, code="good-code"))
    await world.flow.entered.wait()
    # The second callback finds the session claimed and waits for the first's outcome.
    for _ in range(20):
        await asyncio.sleep(0)
    world.flow.gate.set()
    outcomes = await asyncio.gather(first, second)

    assert [outcome_of(o.redirect_url)["state"] for o in outcomes] == ["connected"] * 2
    assert all("error" not in outcome_of(o.redirect_url) for o in outcomes)
    assert len(world.flow.exchanges) == 1
    assert len(await world.integrations()) == 1


async def test_an_expired_session_fails_without_an_exchange(world: World) -> None:
    _session_id, state, _ = await world.begin()
    world.clock.advance(minutes=11)

    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["error"] == "session_expired"
    assert world.flow.exchanges == []


async def test_a_refused_code_fails_the_session(world: World) -> None:
    _, state, _ = await world.begin()

    outcome = await world.callback(state, code="stale-code")

    assert outcome_of(outcome.redirect_url)["error"] == "code_rejected"
    assert await world.integrations() == []


async def test_missing_permissions_are_named(world: World) -> None:
    world.flow.exchange_error = ConnectFlowError(
        ConnectFailure.MISSING_SCOPES, "permissions declined", detail="leads_retrieval"
    )
    session_id, state, _ = await world.begin()

    await world.callback(state, code="good-code")

    session = await world.get.execute(USER, session_id)
    assert (session.failure, session.failure_detail) == (
        ConnectFailure.MISSING_SCOPES,
        "leads_retrieval",
    )


async def test_a_provider_down_fails_the_session_cleanly_and_a_new_one_connects(
    world: World,
) -> None:
    world.flow.exchange_error = ConnectionFailedError("the token endpoint is down")
    session_id, state, _ = await world.begin()

    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["error"] == "provider_unavailable"
    assert (await world.get.execute(USER, session_id)).status is SessionStatus.FAILED
    assert await world.integrations() == []

    world.flow.exchange_error = None
    _, state, _ = await world.begin()
    assert outcome_of((await world.callback(state, code="good-code")).redirect_url)["state"] == (
        "connected"
    )


async def test_an_unexpected_failure_ends_the_session_as_internal(world: World) -> None:
    world.flow.connect_error = RuntimeError("bug")
    session_id, state, _ = await world.begin()

    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["error"] == "internal"
    assert (await world.get.execute(USER, session_id)).status is SessionStatus.FAILED


async def test_a_failed_connection_test_is_reported_with_the_integration(world: World) -> None:
    world.provider.result = ConnectionTestResult(success=False, message="refused")
    session_id, state, _ = await world.begin()

    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["error"] == "connection_test_failed"
    [integration] = await world.integrations()
    assert integration.status is IntegrationStatus.ERROR
    assert (await world.get.execute(USER, session_id)).integration_ids == (integration.id,)


# --- re-connecting ------------------------------------------------------------------------------


async def test_a_reconnect_keeps_the_integration_and_replaces_its_credentials(
    world: World,
) -> None:
    _, state, _ = await world.begin()
    await world.callback(state, code="good-code")
    [before] = await world.integrations()
    world.provider.result = ConnectionTestResult(success=True, message="ok")

    session_id, state, _ = await world.begin(integration_id=before.id, display_name="")
    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["state"] == "connected"
    [after] = await world.integrations()
    assert (after.id, after.name) == (before.id, "Main CRM")
    assert (await world.get.execute(USER, session_id)).integration_ids == (before.id,)


async def test_a_reconnect_to_another_account_is_refused(world: World) -> None:
    _, state, _ = await world.begin()
    await world.callback(state, code="good-code")
    [before] = await world.integrations()
    world.flow.accounts = (AccountChoice("acct-2", "Other"),)

    _, state, _ = await world.begin(integration_id=before.id)
    outcome = await world.callback(state, code="good-code")

    assert outcome_of(outcome.redirect_url)["error"] == "account_mismatch"
    [after] = await world.integrations()
    assert after.config["accountId"] == "acct-1"


async def test_signing_in_again_to_a_connected_account_makes_no_duplicate(world: World) -> None:
    for _ in range(2):
        _, state, _ = await world.begin()
        await world.callback(state, code="good-code")

    assert len(await world.integrations()) == 1


async def test_another_sub_accounts_session_is_not_found(world: World) -> None:
    session_id, _, _ = await world.begin()

    with pytest.raises(NotFoundError):
        await world.get.execute(OTHER, session_id)

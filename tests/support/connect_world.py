"""A provider whose people sign in, scripted, and the connect use cases wired around it on the
in-memory fakes: shared by the unit tests of the use cases and the tests of their entrypoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adapters.schema import JsonSchemaConfigValidator
from application.account_linking import AccountLinker
from application.connect_policy import ConnectPolicy
from application.connection import ConnectionTester
from application.ports import (
    AccountConnection,
    ConnectFlowError,
    ConnectGrant,
    ConnectionTestResult,
    IntegrationFilter,
    OAuthTokens,
    PageRequest,
)
from application.provider_registry import ProviderBundle, ProviderRegistry
from application.use_cases.choose_connection_accounts import ChooseConnectionAccounts
from application.use_cases.complete_connection import CallbackOutcome, CompleteConnection
from application.use_cases.get_connection_session import GetConnectionSession
from application.use_cases.seed_templates import SeedTemplates
from application.use_cases.start_connection import StartConnection, StartConnectionCommand
from domain.connection_session import AccountChoice, ConnectFailure
from domain.integration import Integration
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
        self,
        grant: Mapping[str, SecretStr],
        account_id: str,
        config: Mapping[str, Any],
        *,
        sub_account_id: str,
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

    @asynccontextmanager
    async def refresh_lock(self, integration_id: str) -> AsyncIterator[None]:
        yield  # one process: nothing to share


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

    async def integrations(self) -> list[Integration]:
        async with self.uow() as uow:
            page = await uow.integrations.list_page(
                IntegrationFilter(sub_account_id="sa-1"), PageRequest(100)
            )
        return list(page.items)


def outcome_of(url: str | None) -> dict[str, str]:
    assert url is not None
    assert url.startswith(RETURN_URL + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def connect_world(return_urls: tuple[str, ...] = (RETURN_URL,)) -> World:
    """The use cases on fresh fakes, with the scripted provider `acme` (template `acme_crm`),
    and `plain` (template `plain_crm`), which offers no sign-in."""
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
        return_urls=return_urls,
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
        get=GetConnectionSession(sessions=sessions, clock=clock),
    )

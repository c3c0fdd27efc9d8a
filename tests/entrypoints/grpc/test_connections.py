"""ConnectionService over gRPC: sessions started, polled and chosen, with precise errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest

from domain.connection_session import AccountChoice
from domain.values import Role
from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.connection_servicer import ConnectionUseCases
from entrypoints.grpc.server import start_server, stop_server
from entrypoints.grpc.servicers import GrpcUseCases
from integrations.v1 import connection_pb2, connection_service_pb2, connection_service_pb2_grpc
from tests.entrypoints.grpc.conftest import JWT_SECRET, PAGE_TOKEN_KEY, bearer, rejected
from tests.fakes import FakeProvider, FakeUnitOfWorkFactory
from tests.support.connect_world import RETURN_URL, World, connect_world

State = connection_pb2.ConnectionSession.State


@pytest.fixture
async def world() -> World:
    return await connect_world()


@pytest.fixture
async def stub(
    world: World, use_cases: tuple[GrpcUseCases, FakeUnitOfWorkFactory, FakeProvider]
) -> AsyncIterator[connection_service_pb2_grpc.ConnectionServiceStub]:
    server, port = await start_server(
        use_cases[0],
        JwtAuthenticator(hs256_secret=JWT_SECRET),
        page_token_key=PAGE_TOKEN_KEY,
        host="127.0.0.1",
        port=0,
        connection_use_cases=ConnectionUseCases(
            start=world.start, get=world.get, choose=world.choose
        ),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield connection_service_pb2_grpc.ConnectionServiceStub(channel)  # type: ignore[arg-type]
    finally:
        await stop_server(server, grace=None)


def start_request(**fields: object) -> connection_service_pb2.StartConnectionRequest:
    request = connection_service_pb2.StartConnectionRequest(
        sub_account_id="sa-1",
        template="integrationTemplates/acme_crm",
        display_name="Main CRM",
        return_url=RETURN_URL,
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return request


async def test_a_user_starts_a_sign_in_then_polls_and_chooses(
    world: World, stub: connection_service_pb2_grpc.ConnectionServiceStub
) -> None:
    world.flow.accounts = (AccountChoice("acct-1", "Main"), AccountChoice("acct-2", "Second"))
    user = bearer(Role.USER, "sa-1")

    started = await stub.StartConnection(start_request(), metadata=user)

    assert started.authorization_url.startswith("https://idp.example/authorize?")
    session = started.connection_session
    assert session.name.startswith("connectionSessions/")
    assert (session.state, session.template) == (
        State.STATE_PENDING,
        "integrationTemplates/acme_crm",
    )
    assert session.expire_time.ToSeconds() - session.create_time.ToSeconds() == 600
    state = parse_qs(urlsplit(started.authorization_url).query)["state"][0]
    await world.callback(state, code="good-code")

    polled = await stub.GetConnectionSession(
        connection_service_pb2.GetConnectionSessionRequest(name=session.name), metadata=user
    )
    assert polled.connection_session.state == State.STATE_CHOOSING
    assert [(c.id, c.display_name) for c in polled.connection_session.choices] == [
        ("acct-1", "Main"),
        ("acct-2", "Second"),
    ]

    chosen = await stub.ChooseConnectionAccounts(
        connection_service_pb2.ChooseConnectionAccountsRequest(
            name=session.name, account_ids=["acct-2"]
        ),
        metadata=user,
    )
    assert chosen.connection_session.state == State.STATE_CONNECTED
    assert [i.startswith("integrations/") for i in chosen.connection_session.integrations] == [True]


async def test_a_return_url_off_the_list_is_invalid_with_the_field_named(
    stub: connection_service_pb2_grpc.ConnectionServiceStub,
) -> None:
    call = stub.StartConnection(
        start_request(return_url="https://evil.example/"), metadata=bearer(Role.ADMIN)
    )

    rejection = await rejected(call)

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.bad_request is not None
    assert [v.field for v in rejection.bad_request.field_violations] == ["return_url"]


async def test_a_template_without_a_sign_in_is_unimplemented(
    stub: connection_service_pb2_grpc.ConnectionServiceStub,
) -> None:
    call = stub.StartConnection(
        start_request(template="integrationTemplates/plain_crm"), metadata=bearer(Role.ADMIN)
    )

    assert (await rejected(call)).code is grpc.StatusCode.UNIMPLEMENTED


async def test_another_sub_account_may_neither_start_nor_see(
    stub: connection_service_pb2_grpc.ConnectionServiceStub,
) -> None:
    started = await stub.StartConnection(start_request(), metadata=bearer(Role.USER, "sa-1"))
    other = bearer(Role.USER, "sa-2")

    start = stub.StartConnection(start_request(), metadata=other)
    get = stub.GetConnectionSession(
        connection_service_pb2.GetConnectionSessionRequest(name=started.connection_session.name),
        metadata=other,
    )

    assert (await rejected(start)).code is grpc.StatusCode.PERMISSION_DENIED
    assert (await rejected(get)).code is grpc.StatusCode.NOT_FOUND


async def test_a_malformed_session_name_is_invalid(
    stub: connection_service_pb2_grpc.ConnectionServiceStub,
) -> None:
    for name in ("", "connectionSessions/", "integrations/x", "connectionSessions/a/b"):
        call = stub.GetConnectionSession(
            connection_service_pb2.GetConnectionSessionRequest(name=name),
            metadata=bearer(Role.ADMIN),
        )
        assert (await rejected(call)).code is grpc.StatusCode.INVALID_ARGUMENT, name

"""The contract of application.ports.ConnectionSessions, for every implementation: the
in-memory fake, and the SQL store on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.persistence.connection_sessions import SqlAlchemyConnectionSessions
from adapters.persistence.engine import create_engine, create_session_factory
from application.ports import ConnectionSessions
from domain.connection_session import (
    AccountChoice,
    ConnectFailure,
    ConnectionSession,
    SessionStatus,
)
from domain.errors import AlreadyExistsError
from domain.values import EncryptedSecret
from tests.fakes import InMemoryConnectionSessions
from tests.support.databases import migrated_database

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ConnectionSessions]:
    if request.param == "memory":
        yield InMemoryConnectionSessions()
        return
    async with migrated_database(request.param, tmp_path) as url:
        engine = create_engine(url)
        try:
            yield SqlAlchemyConnectionSessions(create_session_factory(engine))
        finally:
            await engine.dispose()


def new_session(session_id: str = "s" * 32, digest: str = "d" * 64) -> ConnectionSession:
    return ConnectionSession(
        id=session_id,
        sub_account_id="sa-1",
        template_name="acme_crm",
        provider="acme",
        display_name="Main CRM",
        return_url="https://app.example/connected",
        state_digest=digest,
        created_by="user-1",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
        account_ids=("acct-1",),
        config={"datasetId": "42"},
        code_verifier=EncryptedSecret("v1.key.sealed-verifier"),
    )


async def test_a_session_reads_back_as_it_was_stored(sessions: ConnectionSessions) -> None:
    session = new_session()
    await sessions.add(session)

    assert await sessions.get(session.id) == session
    assert await sessions.by_state("acme", session.state_digest) == session


async def test_a_state_is_found_only_for_its_provider(sessions: ConnectionSessions) -> None:
    await sessions.add(new_session())

    assert await sessions.by_state("other", "d" * 64) is None
    assert await sessions.by_state("acme", "e" * 64) is None
    assert await sessions.get("unknown-session-id-000000000000") is None


async def test_two_sessions_cannot_share_a_state(sessions: ConnectionSessions) -> None:
    await sessions.add(new_session("a" * 32))

    with pytest.raises(AlreadyExistsError):
        await sessions.add(new_session("b" * 32))


async def test_a_save_lands_only_over_the_status_it_was_read_with(
    sessions: ConnectionSessions,
) -> None:
    await sessions.add(new_session())
    first, second = await sessions.get("s" * 32), await sessions.get("s" * 32)
    assert first is not None
    assert second is not None

    assert first.claim(NOW) is None
    assert second.claim(NOW) is None
    won = await asyncio.gather(
        sessions.save(first, expected=SessionStatus.PENDING),
        sessions.save(second, expected=SessionStatus.PENDING),
    )

    assert sorted(won) == [False, True]
    stored = await sessions.get("s" * 32)
    assert stored is not None
    assert stored.status is SessionStatus.EXCHANGING


async def test_choices_grant_and_outcome_round_trip(sessions: ConnectionSessions) -> None:
    session = new_session()
    await sessions.add(session)
    assert session.claim(NOW) is None
    session.await_choice(
        (AccountChoice("acct-1", "Main"), AccountChoice("acct-2", "Second")),
        {"userToken": EncryptedSecret("v1.key.sealed-token")},
    )
    assert await sessions.save(session, expected=SessionStatus.PENDING)
    choosing = await sessions.get(session.id)
    assert choosing == session

    session.begin_choice(NOW)
    assert await sessions.save(session, expected=SessionStatus.CHOOSING)
    session.fail(
        ConnectFailure.CONNECTION_TEST_FAILED, integration_ids=("int-1",), now=NOW, detail="x"
    )
    assert await sessions.save(session, expected=SessionStatus.EXCHANGING)

    ended = await sessions.get(session.id)
    assert ended is not None
    assert (ended.status, ended.failure, ended.failure_detail) == (
        SessionStatus.FAILED,
        ConnectFailure.CONNECTION_TEST_FAILED,
        "x",
    )
    assert ended.integration_ids == ("int-1",)
    assert ended.grant == {}
    assert ended.code_verifier is None
    assert ended.completed_at == NOW

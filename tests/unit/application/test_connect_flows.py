"""Connecting an account by signing in: StartConnection, the callback, the choice and the
poll, on the in-memory fakes and a scripted provider sign-in."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from application.connect_security import code_challenge
from application.ports import ConnectFlowError, ConnectionTestResult
from application.provider_registry import ProviderRegistry
from application.use_cases.choose_connection_accounts import ChooseConnectionAccountsCommand
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
from domain.values import Principal, Role
from tests.support.connect_world import (
    OTHER,
    RETURN_URL,
    USER,
    World,
    connect_world,
    outcome_of,
)


@pytest.fixture
async def world() -> World:
    return await connect_world()


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


async def test_a_session_whose_callback_was_interrupted_is_reported_failed(
    world: World,
) -> None:
    session_id, _, _ = await world.begin()
    stored = world.sessions.sessions[session_id]
    assert stored.claim(world.clock.now()) is None  # a callback claimed it, then its copy died
    world.clock.advance(minutes=10)
    assert (await world.get.execute(USER, session_id)).status is SessionStatus.EXCHANGING

    world.clock.advance(minutes=6)
    polled = await world.get.execute(USER, session_id)

    assert (polled.status, polled.failure, polled.failure_detail) == (
        SessionStatus.FAILED,
        ConnectFailure.INTERNAL,
        "interrupted",
    )
    assert world.sessions.sessions[session_id].status is SessionStatus.FAILED


async def test_a_callback_after_the_sign_in_was_withdrawn_fails_the_session_once(
    world: World,
) -> None:
    _, state, _ = await world.begin()
    world.complete._providers = ProviderRegistry([])  # the app is no longer configured

    first = await world.callback(state, code="good-code")
    again = await world.callback(state, code="good-code")

    assert outcome_of(first.redirect_url)["error"] == "internal"
    assert outcome_of(again.redirect_url)["error"] == "session_used"
    assert world.flow.exchanges == []

"""Retries (5xx, timeouts, dropped connections) and the mapping of GHL's failures to the
domain's errors."""

from __future__ import annotations

import asyncio
import socket
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from adapters.ghl.client import GhlTimeouts, HttpGhlClient, RetryPolicy
from adapters.ghl.fake import FAKE_GHL, RateLimitConfig, ScriptedFault, create_app
from adapters.ghl.fake.seed import DEMO_PRIVATE_TOKEN
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import ProviderCall
from application.ports.crm import MessageType, NewAppointment, OutgoingMessage
from domain.errors import (
    ConnectionFailedError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
)
from tests.integration.ghl.support import (
    FAST_RETRY,
    FAST_TIMEOUTS,
    MakeClient,
    RunningFake,
    StartFake,
    pit_auth,
)

APPOINTMENT = NewAppointment(
    calendar_id="fakeCalendar00000001",
    contact_id="fakeContact000000001",
    start=datetime(2030, 3, 4, 10, tzinfo=ZoneInfo("America/Chicago")),
)


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_read_is_retried_after_a_gateway_error(
    status: int, client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=status, count=2))

    location = await client.get_account(auth)

    assert location.id == str(auth.config["locationId"])
    assert [r.status for r in running.fake.log] == [status, status, 200]


async def test_a_non_idempotent_create_is_not_retried_after_a_gateway_error(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=503))

    with pytest.raises(ConnectionFailedError) as raised:
        await client.create_appointment(auth, APPOINTMENT)

    assert raised.value.trace_id == running.fake.log[0].trace_id
    assert [r.status for r in running.fake.log] == [503]


async def test_retries_stop_after_the_last_attempt_with_connection_failed(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=503, count=10))

    with capture_logs() as logs, pytest.raises(ConnectionFailedError, match="HTTP 503"):
        await client.get_account(auth)

    assert len(running.fake.log) == FAST_RETRY.max_attempts
    events = [entry["event"] for entry in logs]
    assert events == ["ghl_call_retried"] * (FAST_RETRY.max_attempts - 1) + ["ghl_call_failed"]
    assert logs[-1]["trace_id"] == running.fake.log[-1].trace_id
    assert DEMO_PRIVATE_TOKEN not in str(logs)


async def test_retries_stop_when_the_total_time_is_spent(
    running: RunningFake, make_client: MakeClient, auth: ProviderCall
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=503, count=10))
    client = make_client(
        running,
        retry=RetryPolicy(max_attempts=10, base_delay=0.2, max_delay=0.2, total_seconds=0.3),
    )

    with pytest.raises(ConnectionFailedError):
        await client.get_account(auth)

    # At least one attempt reached the fake, and the retries stopped before max_attempts.
    assert 0 < len(running.fake.log) < 10


async def test_a_500_is_not_retried(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=500))

    with pytest.raises(ConnectionFailedError, match="HTTP 500"):
        await client.get_account(auth)
    assert len(running.fake.log) == 1


async def test_a_read_that_times_out_is_retried(
    running: RunningFake, make_client: MakeClient, auth: ProviderCall
) -> None:
    running.fake.inject(ScriptedFault(kind="timeout"))
    client = make_client(running, timeouts=GhlTimeouts(connect=1.0, read=0.2))

    location = await client.get_account(auth)

    assert location.id == str(auth.config["locationId"])
    assert [(r.fault, r.status) for r in running.fake.log] == [("timeout", None), (None, 200)]


async def test_a_read_whose_connection_drops_is_retried(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="drop"))

    await client.get_account(auth)

    assert [(r.fault, r.status) for r in running.fake.log] == [("drop", None), (None, 200)]


async def test_a_message_whose_connection_drops_is_not_sent_twice(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="drop"))
    message = OutgoingMessage(type=MessageType.SMS, contact_id="fakeContact000000001", message="x")

    with pytest.raises(ConnectionFailedError, match="connection dropped"):
        await client.send_message(auth, message)

    assert len(running.fake.log) == 1


async def test_a_refused_connection_is_connection_failed() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        base_url=f"http://127.0.0.1:{port}",
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    try:
        with pytest.raises(ConnectionFailedError, match="connection refused"):
            await client.get_account(pit_auth())
    finally:
        await client.close()


async def test_a_create_refused_with_429_is_repeated_because_nothing_was_created(
    start_fake: StartFake, make_client: MakeClient, auth: ProviderCall
) -> None:
    running = await start_fake(rate_limit=RateLimitConfig(interval_ms=100))
    client = make_client(running)
    running.fake.inject(ScriptedFault(kind="status", status=429))

    appointment = await client.create_appointment(auth, APPOINTMENT)

    assert appointment.id
    assert [r.status for r in running.fake.log] == [429, 200]
    assert len([e for e in running.fake.state.events.values() if e["kind"] == "appointment"]) == 1


async def test_a_create_whose_connection_was_refused_is_repeated_because_nothing_was_sent(
    make_client: MakeClient,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(random_seed=7)
    server = TestServer(app, host="127.0.0.1", port=port)
    running = RunningFake(f"http://127.0.0.1:{port}", app[FAKE_GHL], app)
    client = make_client(running, retry=RetryPolicy(max_attempts=6, base_delay=0.2, max_delay=0.2))

    async def start_late() -> None:
        await asyncio.sleep(0.05)
        await server.start_server()

    starting = asyncio.create_task(start_late())
    try:
        appointment = await client.create_appointment(pit_auth(), APPOINTMENT)
    finally:
        await starting
        await server.close()

    assert appointment.id
    assert [r.status for r in running.fake.log] == [200]


async def test_a_bad_token_is_invalid_credentials_and_never_retried(
    client: HttpGhlClient, running: RunningFake
) -> None:
    with pytest.raises(InvalidCredentialsError) as raised:
        await client.get_account(pit_auth("pit-wrong-token-123456"))

    assert "pit-wrong-token-123456" not in str(raised.value)
    assert raised.value.trace_id
    assert [r.status for r in running.fake.log] == [401]


async def test_a_token_of_another_location_is_invalid_credentials(
    client: HttpGhlClient, running: RunningFake
) -> None:
    with pytest.raises(InvalidCredentialsError, match="HTTP 403"):
        await client.get_account(pit_auth(location_id="someOtherLocation001"))


async def test_a_block_slot_in_an_unknown_calendar_is_not_found(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    with pytest.raises(NotFoundError) as raised:
        await client.create_block_slot(
            auth,
            "noSuchCalendar",
            start=APPOINTMENT.start,
            end=APPOINTMENT.start + timedelta(hours=1),
        )

    assert (raised.value.resource, raised.value.resource_id) == ("calendar", "noSuchCalendar")


async def test_a_422_is_a_provider_error_carrying_ghls_messages_and_trace_id(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=422))

    with pytest.raises(ProviderError) as raised:
        await client.get_account(auth)

    assert type(raised.value) is ProviderError
    assert raised.value.message == "Injected failure"  # from the 422 body's message list
    assert raised.value.trace_id == running.fake.log[0].trace_id
    assert raised.value.metadata == {"trace_id": running.fake.log[0].trace_id}

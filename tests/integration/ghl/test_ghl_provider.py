"""GhlProvider.test_connection against the fake: the seed's result shape, failures as results."""

from __future__ import annotations

import socket
from typing import Any

from adapters.ghl.client import HttpGhlClient, RetryPolicy
from adapters.ghl.fake import ScriptedFault
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from adapters.ghl.provider import GhlProvider
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import Credentials, IntegrationProvider, ProviderContext
from domain.errors import ErrorCode
from domain.values import SecretStr
from tests.integration.ghl.support import FAST_RETRY, FAST_TIMEOUTS, MakeClient, RunningFake


def context(
    api_key: str | None = DEMO_PRIVATE_TOKEN, config: dict[str, Any] | None = None
) -> ProviderContext:
    return ProviderContext(
        integration_id="integration-7",
        sub_account_id="sub-account-1",
        template_name="gohighlevel",
        config={"locationId": DEMO_LOCATION_ID} if config is None else config,
        credentials=Credentials({"apiKey": SecretStr(api_key)} if api_key else {}),
        rate_limit_per_minute=100,
    )


def provider(running: RunningFake, make_client: MakeClient) -> IntegrationProvider:
    return GhlProvider(make_client(running))


async def test_a_good_token_connects_and_names_the_location(
    running: RunningFake, make_client: MakeClient
) -> None:
    result = await provider(running, make_client).test_connection(context())

    assert result.success is True
    assert result.error_code is None
    assert result.details == {"account_name": "Fake Dental Clinic", "location_id": DEMO_LOCATION_ID}
    assert "Fake Dental Clinic" in result.message
    assert result.latency_ms is not None
    assert result.latency_ms >= 0


async def test_a_bad_token_is_invalid_credentials(
    running: RunningFake, make_client: MakeClient
) -> None:
    result = await provider(running, make_client).test_connection(context("pit-not-a-real-token"))

    assert result.success is False
    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert "pit-not-a-real-token" not in result.message
    assert result.details["trace_id"] == running.fake.log[0].trace_id


async def test_missing_credentials_are_invalid_credentials_without_calling_ghl(
    running: RunningFake, make_client: MakeClient
) -> None:
    result = await provider(running, make_client).test_connection(context(api_key=None))

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert running.fake.log == []


async def test_a_missing_location_id_is_a_config_error(
    running: RunningFake, make_client: MakeClient
) -> None:
    result = await provider(running, make_client).test_connection(context(config={}))

    assert result.error_code is ErrorCode.CONFIG_SCHEMA_INVALID
    assert running.fake.log == []


async def test_an_unreachable_ghl_is_connection_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = HttpGhlClient(
        rate_limiter=TokenBucketRateLimiter(),
        base_url=f"http://127.0.0.1:{port}",
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    try:
        result = await GhlProvider(client).test_connection(context())
    finally:
        await client.close()

    assert result.success is False
    assert result.error_code is ErrorCode.CONNECTION_FAILED


async def test_a_rate_limited_ghl_is_rate_limit_exceeded(
    running: RunningFake, make_client: MakeClient
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=429))  # the fake's interval is 10 s

    result = await provider(running, make_client).test_connection(context())

    assert result.error_code is ErrorCode.RATE_LIMIT_EXCEEDED


async def test_a_refusal_by_ghl_is_a_provider_error(
    running: RunningFake, make_client: MakeClient
) -> None:
    running.fake.inject(ScriptedFault(kind="status", status=400))

    result = await provider(running, make_client).test_connection(context())

    assert result.error_code is ErrorCode.PROVIDER_ERROR
    assert result.success is False


async def test_a_test_ghl_throttles_concludes_nothing_instead_of_queueing_for_a_slot(
    running: RunningFake, make_client: MakeClient
) -> None:
    """With the production retry policy: GHL's 429 holds the integration back for the fake's
    10 s interval, which a connection test does not wait out."""
    running.fake.inject(ScriptedFault(kind="status", status=429))
    client = make_client(running, retry=RetryPolicy())

    result = await GhlProvider(client).test_connection(context())

    assert (result.success, result.error_code) == (False, ErrorCode.RATE_LIMIT_EXCEEDED)
    assert not result.conclusive
    assert result.retry_after_seconds is not None
    assert 0 < result.retry_after_seconds <= 10.0
    assert [r.status for r in running.fake.log] == [429]

"""The GA4 connection test against the fake GA4: the Admin API recipe of API-NOTES §7, step by
step, and the error code of each way it fails."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp.test_utils import unused_port
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.ga4.client import Ga4Http
from adapters.ga4.fake.seed import (
    DEFAULT_SEED,
    DEMO_API_SECRET,
    DEMO_MEASUREMENT_ID,
    DEMO_PROPERTY_ID,
    FORBIDDEN_MEASUREMENT_ID,
    FORBIDDEN_PROPERTY_ID,
    service_account_key,
)
from adapters.ga4.provider import Ga4Provider, stream_account
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import ConnectionTestResult, ProviderContext
from domain.errors import ErrorCode
from tests.fakes import FixedClock
from tests.integration.ga4.support import (
    FAST_RETRY,
    FAST_TIMEOUTS,
    RunningGa4,
    ga4_context,
    running_ga4,
    settings_for,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def _test(running: RunningGa4, ctx: ProviderContext) -> ConnectionTestResult:
    return await Ga4Provider(running.http, clock=FixedClock(NOW)).test_connection(ctx)


def _shown(result: ConnectionTestResult) -> str:
    return json.dumps([result.message, result.details])


async def test_a_stream_whose_secret_is_listed_connects_and_proves_the_stream() -> None:
    async with running_ga4() as running:
        result = await _test(running, ga4_context(key=running.key))

        debug = [c for c in running.fake.collected if c.debug]

    assert result.success, result.message
    assert result.error_code is None
    assert result.accounts == frozenset({stream_account(DEMO_MEASUREMENT_ID)})
    assert result.details == {
        "property_id": DEMO_PROPERTY_ID,
        "measurement_id": DEMO_MEASUREMENT_ID,
        "stream": "acme.example.com",
    }
    # The sample went to the validation server only: one event per funnel stage.
    [sample] = debug
    assert [e["name"] for e in sample.body["events"]] == [
        "generate_lead",
        "qualify_lead",
        "close_convert_lead",
        "close_unconvert_lead",
    ]
    assert running.fake.recorded_events() == []
    assert DEMO_API_SECRET not in _shown(result)


async def test_a_secret_the_stream_does_not_list_is_invalid_credentials() -> None:
    async with running_ga4() as running:
        result = await _test(running, ga4_context(key=running.key, api_secret="wrong-secret-42"))

    assert not result.success
    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert result.accounts == frozenset()
    assert "API secret" in result.message
    assert "wrong-secret-42" not in _shown(result)
    assert DEMO_API_SECRET not in _shown(result)


async def test_a_measurement_id_that_is_not_in_the_property_is_a_config_error() -> None:
    async with running_ga4() as running:
        result = await _test(running, ga4_context(key=running.key, measurement_id="G-NOTHERE99"))

    assert result.error_code is ErrorCode.CONFIG_SCHEMA_INVALID
    assert "G-NOTHERE99" in result.message
    assert result.accounts == frozenset()


async def test_a_property_the_service_account_may_not_read_is_invalid_credentials() -> None:
    async with running_ga4() as running:
        result = await _test(
            running,
            ga4_context(
                key=running.key,
                property_id=FORBIDDEN_PROPERTY_ID,
                measurement_id=FORBIDDEN_MEASUREMENT_ID,
            ),
        )

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert result.message.startswith("listing the property's data streams")
    assert "403" in result.message


async def test_an_unknown_property_is_a_config_error() -> None:
    async with running_ga4() as running:
        result = await _test(running, ga4_context(key=running.key, property_id="999999999"))

    assert result.error_code is ErrorCode.CONFIG_SCHEMA_INVALID
    assert result.message.startswith("listing the property's data streams")


async def test_a_key_google_does_not_know_is_invalid_credentials() -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with running_ga4() as running:
        key = service_account_key(f"{running.url}/token", private_key=stranger)
        result = await _test(running, ga4_context(key=key))

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert result.message.startswith("getting a service-account token")
    assert "PRIVATE KEY" not in _shown(result)


async def test_a_key_naming_another_token_endpoint_is_refused_without_calling_it() -> None:
    async with running_ga4() as running:
        key = service_account_key("http://127.0.0.1:9/elsewhere")
        result = await _test(running, ga4_context(key=key))

        asked = list(running.fake.tokens)

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert "another token endpoint" in result.message
    assert asked == []


async def test_a_key_that_is_not_json_is_invalid_credentials() -> None:
    async with running_ga4() as running:
        result = await _test(running, ga4_context(key="not a key"))

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert "not a key" not in _shown(result)


async def test_without_a_property_id_or_a_key_the_test_cannot_check_and_says_so() -> None:
    async with running_ga4() as running:
        no_property = await _test(running, ga4_context(key=running.key, property_id=None))
        no_key = await _test(running, ga4_context(key=None))

    for result in (no_property, no_key):
        assert result.error_code is ErrorCode.CONFIG_SCHEMA_INVALID
        assert "property id and a service-account key" in result.message


async def test_an_event_map_ga4_would_refuse_is_a_config_error() -> None:
    async with running_ga4() as running:
        result = await _test(
            running, ga4_context(key=running.key, eventMap={"booked": "session_start"})
        )

    assert result.error_code is ErrorCode.CONFIG_SCHEMA_INVALID
    assert "session_start" in result.message


async def test_the_stream_secret_is_found_on_a_later_page() -> None:
    seed = json.loads(json.dumps(DEFAULT_SEED))
    stream = seed["properties"][0]["streams"][0]
    stream["secrets"] = [
        {"id": str(n), "displayName": f"s{n}", "secretValue": f"other-secret-{n}"}
        for n in range(12)
    ] + [{"id": "99", "displayName": "crm", "secretValue": DEMO_API_SECRET}]
    async with running_ga4(seed=seed) as running:
        result = await _test(running, ga4_context(key=running.key))

    assert result.success, result.message


async def test_an_unreachable_google_is_connection_failed() -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    http = Ga4Http(
        rate_limiter=TokenBucketRateLimiter(),
        settings=settings_for(url),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
    )
    try:
        result = await Ga4Provider(http, clock=FixedClock(NOW)).test_connection(
            ga4_context(key=service_account_key(f"{url}/token"))
        )
    finally:
        await http.close()

    assert result.error_code is ErrorCode.CONNECTION_FAILED
    assert result.message.startswith("getting a service-account token")

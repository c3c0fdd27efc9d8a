"""Meta's HTTP policy: Graph errors classified by code (the reference's error examples), the
waits and usage its headers report, the limit keys, the metric endpoints, appsecret_proof."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from multidict import CIMultiDict

from adapters.http import HttpAnswer, HttpRequest
from adapters.meta.auth import GraphAuth, PageAuth, app_rate_limit_key, rate_limit_key
from adapters.meta.http_policy import (
    DEFAULT_THROTTLE_SECONDS,
    MetaHttpPolicy,
    UsageThresholds,
    appsecret_proof,
    graph_usage,
)
from domain.errors import (
    ConnectionFailedError,
    DomainError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)
from domain.integration import Integration
from domain.values import SecretStr
from tests.support.meta import (
    APP_ID,
    PAGE_ID,
    PAGE_TOKEN,
    example,
    headers_of,
    status_of,
    wire_body,
)

POLICY = MetaHttpPolicy()
LEAD_READ = HttpRequest("GET", "/v26.0/1234567890123456", idempotent=True, resource=("lead", "1"))
EVENTS_POST = HttpRequest("POST", "/v26.0/555/events", idempotent=True)


def answer_of(name: str) -> HttpAnswer:
    return HttpAnswer(status_of(name), CIMultiDict(headers_of(name)), wire_body(name))


def error_of(name: str, request: HttpRequest = LEAD_READ) -> DomainError:
    answer = answer_of(name)
    return POLICY.error_for(answer, POLICY.observe(answer), request)


@pytest.mark.parametrize(
    ("name", "wait"),
    [
        ("error-4-app-throttle.json", DEFAULT_THROTTLE_SECONDS),
        ("error-17-user-throttle.json", DEFAULT_THROTTLE_SECONDS),
        ("error-32-page-throttle.json", 17 * 60.0),
        ("error-613-custom-throttle.json", DEFAULT_THROTTLE_SECONDS),
        ("error-80005-leadgen-buc-throttle.json", 42 * 60.0),
    ],
)
def test_a_throttle_is_a_400_with_a_code_and_waits_what_meta_says(name: str, wait: float) -> None:
    answer = answer_of(name)
    assert answer.status == 400
    assert "Retry-After" not in answer.headers

    observed = POLICY.observe(answer)
    error = POLICY.error_for(answer, observed, LEAD_READ)

    assert observed.throttled
    assert observed.retry_after_seconds == wait
    assert isinstance(error, RateLimitExceededError)
    assert error.retry_after_seconds == wait
    assert error.trace_id == answer.body["error"]["fbtrace_id"]


def test_a_throttle_answered_403_is_a_throttle_too() -> None:
    answer = answer_of("error-80005-leadgen-buc-throttle.json")
    forbidden = HttpAnswer(403, answer.headers, answer.body)

    assert POLICY.observe(forbidden).throttled
    assert isinstance(
        POLICY.error_for(forbidden, POLICY.observe(forbidden), LEAD_READ), RateLimitExceededError
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("error-190-463-expired-token.json", "it has expired"),
        ("error-190-no-subcode-invalid-token.json", "it is invalid or was revoked"),
    ],
)
def test_a_dead_token_is_invalid_credentials_telling_what_to_do(name: str, reason: str) -> None:
    answer = answer_of(name)

    error = error_of(name)

    assert not POLICY.observe(answer).throttled
    assert not POLICY.is_transient(answer)
    assert isinstance(error, InvalidCredentialsError)
    assert reason in error.message
    assert "Generate a new Page or system-user token" in error.message


@pytest.mark.parametrize(
    ("subcode", "reason"),
    [(460, "password"), (458, "no longer installed"), (467, "invalidated"), (464, "confirmed")],
)
def test_each_token_death_subcode_says_why(subcode: int, reason: str) -> None:
    body = {"error": {"message": "Error validating access token", "code": 190}}
    body["error"]["error_subcode"] = subcode
    answer = HttpAnswer(400, CIMultiDict(), body)

    error = POLICY.error_for(answer, POLICY.observe(answer), LEAD_READ)

    assert isinstance(error, InvalidCredentialsError)
    assert reason in error.message
    assert f"190/{subcode}" in error.message


def test_codes_1_and_2_are_transient_and_retried_then_connection_failed() -> None:
    answer = answer_of("error-1-transient.json")

    assert POLICY.is_transient(answer)
    assert POLICY.is_transient(HttpAnswer(400, CIMultiDict(), {"error": {"code": 2}}))
    assert isinstance(error_of("error-1-transient.json"), ConnectionFailedError)


def test_a_gateway_error_without_a_graph_body_is_transient() -> None:
    answer = HttpAnswer(502, CIMultiDict(), None)

    assert POLICY.is_transient(answer)
    assert isinstance(
        POLICY.error_for(answer, POLICY.observe(answer), LEAD_READ), ConnectionFailedError
    )


def test_an_unknown_lead_is_not_found_and_not_retried() -> None:
    answer = answer_of("error-100-lead-not-found.json")

    error = error_of("error-100-lead-not-found.json")

    assert not POLICY.is_transient(answer)
    assert isinstance(error, NotFoundError)
    assert error.metadata["trace_id"] == "AbCdEfGhIjK9"


def test_an_invalid_conversions_batch_is_a_provider_error_with_metas_explanation() -> None:
    error = error_of("capi-error-invalid-event.json", EVENTS_POST)

    assert type(error) is ProviderError
    assert "within 7 days" in error.message


def test_a_missing_permission_is_invalid_credentials() -> None:
    body = {"error": {"message": "(#200) Requires pages_manage_metadata permission", "code": 200}}
    answer = HttpAnswer(403, CIMultiDict(), body)

    error = POLICY.error_for(answer, POLICY.observe(answer), LEAD_READ)

    assert isinstance(error, InvalidCredentialsError)
    assert "pages_manage_metadata" in error.message


def test_a_token_quoted_in_metas_message_is_masked() -> None:
    token = "EAAGm0PX4ZCpsBAKZCwZDZD1234567890"
    body = {"error": {"message": f"Malformed thing {token} given", "code": 100}}
    answer = HttpAnswer(400, CIMultiDict(), body)

    error = POLICY.error_for(answer, POLICY.observe(answer), EVENTS_POST)

    assert token not in error.message
    assert "[token]" in error.message


def test_the_reference_usage_headers_read_as_the_highest_percentage() -> None:
    headers = example("usage-headers.json")
    usage = graph_usage(
        CIMultiDict(
            {
                k: headers[k]
                for k in ("X-App-Usage", "X-Business-Use-Case-Usage", "X-Ad-Account-Usage")
            }
        )
    )

    assert usage.percent == 96.0
    assert usage.regain_seconds is None


@pytest.mark.parametrize(
    "value",
    ["", "not json", "[1, 2]", '{"call_count": "high"}', '{"x": [null, 3, {"call_count": true}]}'],
)
def test_unreadable_usage_headers_are_skipped(value: str) -> None:
    headers = CIMultiDict({"X-App-Usage": value, "X-Business-Use-Case-Usage": value})

    assert graph_usage(headers).percent is None


def usage_answer(percent: float) -> HttpAnswer:
    return HttpAnswer(
        200,
        CIMultiDict({"X-App-Usage": f'{{"call_count": {percent}, "total_time": 1}}'}),
        {"id": "1"},
    )


def test_a_success_far_from_the_limit_does_not_slow_down_but_reports_the_usage() -> None:
    observed = POLICY.observe(usage_answer(28))

    assert not observed.throttled
    assert (observed.max_requests, observed.remaining) == (100, 72)


def test_calls_slow_down_more_as_usage_nears_the_limit_and_pause_from_95_percent() -> None:
    thresholds = UsageThresholds()
    pauses = [
        POLICY.observe(usage_answer(p)).retry_after_seconds or 0.0 for p in (80, 85, 90, 94.9)
    ]

    assert all(p > 0 for p in pauses)
    assert pauses == sorted(pauses)
    assert pauses[-1] <= thresholds.slow_pause
    paused = POLICY.observe(usage_answer(95))
    assert paused.throttled
    assert paused.retry_after_seconds == thresholds.pause_seconds


def test_a_pause_at_the_limit_waits_metas_estimate_when_it_is_longer() -> None:
    buc = '{"104561234567890":[{"type":"leadgen","call_count":99,"estimated_time_to_regain_access":30}]}'
    answer = HttpAnswer(200, CIMultiDict({"X-Business-Use-Case-Usage": buc}), {})

    assert POLICY.observe(answer).retry_after_seconds == 30 * 60.0


def test_a_failure_that_is_no_throttle_is_not_repeated_even_near_the_limit() -> None:
    answer = answer_of("error-190-463-expired-token.json")
    near = HttpAnswer(400, CIMultiDict({"X-App-Usage": '{"call_count": 99}'}), answer.body)

    assert not POLICY.observe(near).throttled


def test_calls_are_limited_by_the_app_or_by_the_page() -> None:
    page = PageAuth("fb-1", PAGE_ID, SecretStr(PAGE_TOKEN))
    app = GraphAuth(
        token=SecretStr("x"), rate_limit_key=app_rate_limit_key(APP_ID), user_token=False
    )

    assert POLICY.rate_limit(page.graph, LEAD_READ).key == f"meta:page:{PAGE_ID}"
    assert POLICY.rate_limit(app, LEAD_READ).key == f"meta:app:{APP_ID}"


def test_an_integrations_health_reads_its_pages_key() -> None:
    integration = Integration.create(
        id="fb-1",
        sub_account_id="sa-1",
        template_id="tpl",
        template_name="facebook_ads",
        name="Leads",
        now=datetime(2026, 7, 1, tzinfo=UTC),
        config={"pageId": PAGE_ID},
    )
    pageless = Integration.create(
        id="fb-2",
        sub_account_id="sa-1",
        template_id="tpl",
        template_name="facebook_ads",
        name="Leads",
        now=datetime(2026, 7, 1, tzinfo=UTC),
        config={},
    )

    assert rate_limit_key(integration) == f"meta:page:{PAGE_ID}"
    assert rate_limit_key(pageless) == "integration:fb-2"


async def test_the_token_travels_as_a_bearer_header() -> None:
    headers = await POLICY.authorizer(
        PageAuth("fb-1", PAGE_ID, SecretStr(PAGE_TOKEN)).graph
    ).headers()

    assert headers == {"Authorization": f"Bearer {PAGE_TOKEN}"}


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v26.0/debug_token", "/{version}/debug_token"),
        ("/v26.0/104561234567890/subscribed_apps", "/{version}/{id}/subscribed_apps"),
        ("/v25.0/1234567890123456?fields=id", "/{version}/{id}"),
        ("/v26.0/555/events", "/{version}/{id}/events"),
    ],
)
def test_metric_endpoints_name_no_id(path: str, template: str) -> None:
    assert POLICY.endpoint(path) == template


def test_appsecret_proof_is_the_hmac_of_the_token_keyed_with_the_app_secret() -> None:
    secret, token = SecretStr("3f1c0a9be2d84c7f9a6b5e4d3c2b1a00"), SecretStr(PAGE_TOKEN)

    proof = appsecret_proof(secret, token)

    assert (
        proof
        == hmac.new(secret.reveal().encode(), token.reveal().encode(), hashlib.sha256).hexdigest()
    )
    assert appsecret_proof(SecretStr("another"), token) != proof

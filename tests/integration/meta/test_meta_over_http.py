"""The Meta adapter over real HTTP against a stand-in Graph API serving the reference examples:
the connection test, a lead read, the Conversions API, and Meta's throttles, token deaths and
transient errors as the service's errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.meta.conversions import MetaConversions
from adapters.meta.graph import MetaGraph
from adapters.meta.http_policy import DEFAULT_THROTTLE_SECONDS, appsecret_proof
from adapters.meta.leads import MetaLeads
from adapters.meta.provider import MetaProvider
from adapters.meta.webhooks import page_account
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import ProviderContext
from application.ports.funnel import FunnelEvent, FunnelStage
from domain.errors import (
    ConnectionFailedError,
    ErrorCode,
    InvalidCredentialsError,
    NotFoundError,
    ProviderError,
    RateLimitExceededError,
)
from domain.values import SecretStr
from tests.fakes import FixedClock
from tests.integration.meta.graph_stub import GraphStub, Scripted
from tests.support.meta import APP_ID, PAGE_ID, PAGE_TOKEN, SETTINGS, meta_call, wire_body

NOW = datetime(2026, 7, 30, 12, 0, tzinfo=UTC)
LEAD_ID = "1234567890123456"


def context(token: str = PAGE_TOKEN, **config: str) -> ProviderContext:
    call = meta_call(token=token, **config)
    return ProviderContext(
        integration_id=call.integration_id,
        sub_account_id=call.sub_account_id,
        template_name=call.template_name,
        config=call.config,
        credentials=call.credentials,
        rate_limit_per_minute=call.rate_limit_per_minute,
    )


def provider(graph: MetaGraph) -> MetaProvider:
    return MetaProvider(graph, clock=FixedClock(NOW))


async def test_a_good_token_proves_the_page_and_subscribes_the_app_to_its_leads(
    graph: MetaGraph, stub: GraphStub
) -> None:
    result = await provider(graph).test_connection(context())

    assert result.success, result.message
    assert result.accounts == {page_account(PAGE_ID)}
    assert result.details["leadgen_subscription"] == "created"
    assert [(s.method, s.path) for s in stub.seen] == [
        ("GET", "/v26.0/debug_token"),
        ("GET", f"/v26.0/{PAGE_ID}/subscribed_apps"),
        ("POST", f"/v26.0/{PAGE_ID}/subscribed_apps"),
    ]
    debug, listed, subscribed = stub.seen
    assert debug.authorization == f"Bearer {APP_ID}|{SETTINGS.app_secret.reveal()}"
    assert debug.query == {"input_token": PAGE_TOKEN}
    proof = appsecret_proof(SETTINGS.app_secret, SecretStr(PAGE_TOKEN))
    assert listed.authorization == f"Bearer {PAGE_TOKEN}"
    assert listed.query == {"appsecret_proof": proof}
    assert subscribed.query == {"subscribed_fields": "leadgen", "appsecret_proof": proof}


async def test_an_app_already_subscribed_is_not_subscribed_again(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.subscribed = wire_body("subscribed-apps.json")["list_response"]["data"]

    result = await provider(graph).test_connection(context())

    assert result.success
    assert result.details["leadgen_subscription"] == "existing"
    assert [s.method for s in stub.seen] == ["GET", "GET"]


async def test_subscribing_keeps_the_fields_the_app_already_had(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.subscribed = [{"id": APP_ID, "subscribed_fields": ["feed"]}]

    result = await provider(graph).test_connection(context())

    assert result.success
    assert stub.seen[-1].query["subscribed_fields"] == "feed,leadgen"


async def test_a_dead_token_is_invalid_credentials_proving_nothing(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.debug_token = wire_body("debug-token-invalid-response.json")

    result = await provider(graph).test_connection(context(token="pit-revoked"))

    assert not result.success
    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert result.accounts == frozenset()
    assert "expired" in result.message
    assert "pit-revoked" not in result.message + str(result.details)
    assert len(stub.seen) == 1


async def test_a_token_meta_refuses_with_190_on_the_page_is_invalid_credentials(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(Scripted(200, wire_body("debug-token-response.json")))
    stub.then(Scripted.example("error-190-463-expired-token.json"))

    result = await provider(graph).test_connection(context())

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert "190/463" in result.message
    assert PAGE_TOKEN not in result.message


async def test_a_missing_scope_is_invalid_credentials_naming_it(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.debug_token["data"]["scopes"].remove("leads_retrieval")

    result = await provider(graph).test_connection(context())

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert "leads_retrieval" in result.message
    assert result.details["missing_scopes"] == "leads_retrieval"


async def test_a_token_of_another_app_is_invalid_credentials(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.debug_token["data"]["app_id"] = "9988776655443322"

    result = await provider(graph).test_connection(context())

    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert "another Meta app" in result.message


async def test_the_platforms_app_credentials_refused_is_a_connection_failure(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(Scripted.example("error-190-no-subcode-invalid-token.json"))

    result = await provider(graph).test_connection(context())

    assert result.error_code is ErrorCode.CONNECTION_FAILED
    assert "META_APP_SECRET" in result.message
    assert SETTINGS.app_secret.reveal() not in result.message


async def test_a_page_the_token_cannot_reach_is_a_connection_failure(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(Scripted(200, wire_body("debug-token-response.json")))
    stub.then(Scripted.example("error-100-lead-not-found.json"))

    result = await provider(graph).test_connection(context())

    assert result.error_code is ErrorCode.CONNECTION_FAILED
    assert PAGE_ID in result.message


async def test_a_throttled_connection_test_concludes_nothing_and_says_when_to_retry(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(Scripted.example("error-4-app-throttle.json"))

    result = await provider(graph).test_connection(context())

    assert result.error_code is ErrorCode.RATE_LIMIT_EXCEEDED
    assert not result.conclusive
    assert result.retry_after_seconds is not None
    assert DEFAULT_THROTTLE_SECONDS - 5 < result.retry_after_seconds <= DEFAULT_THROTTLE_SECONDS


async def test_a_lead_is_read_with_the_notes_fields_and_mapped(
    graph: MetaGraph, stub: GraphStub
) -> None:
    lead = await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)

    assert lead.external_id == LEAD_ID
    assert lead.details.email == "ana.souza@example.com"
    assert lead.attribution["ad_id"] == "120210000000000001"
    [seen] = stub.seen
    assert seen.path == f"/v26.0/{LEAD_ID}"
    assert seen.query["fields"].split(",")[:3] == ["id", "created_time", "ad_id"]
    assert "field_data" in seen.query["fields"].split(",")
    assert seen.authorization == f"Bearer {PAGE_TOKEN}"


async def test_an_unknown_lead_is_not_found_after_one_call(
    graph: MetaGraph, stub: GraphStub
) -> None:
    with pytest.raises(NotFoundError) as raised:
        await MetaLeads(graph).fetch_lead(meta_call(), "999")

    assert raised.value.resource == "lead"
    assert len(stub.seen) == 1


@pytest.mark.parametrize(
    ("example", "wait"),
    [
        ("error-80005-leadgen-buc-throttle.json", 42 * 60.0),
        ("error-4-app-throttle.json", DEFAULT_THROTTLE_SECONDS),
    ],
)
async def test_a_throttled_lead_read_is_rate_limited_with_metas_wait(
    graph: MetaGraph, stub: GraphStub, example: str, wait: float
) -> None:
    stub.then(Scripted.example(example))

    with pytest.raises(RateLimitExceededError) as raised:
        await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)

    assert wait - 5 < raised.value.retry_after_seconds <= wait
    assert len(stub.seen) == 1  # the page's key holds back every later call


async def test_the_pages_limit_holds_back_its_next_calls_but_not_other_pages(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(Scripted.example("error-80005-leadgen-buc-throttle.json"))
    with pytest.raises(RateLimitExceededError):
        await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)

    with pytest.raises(RateLimitExceededError):
        await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)
    other_page = meta_call(pageId="209876543210987")
    stub.leads["2345678901234567"] = {**stub.leads[LEAD_ID], "id": "2345678901234567"}
    lead = await MetaLeads(graph).fetch_lead(other_page, "2345678901234567")

    assert lead.external_id == "2345678901234567"
    assert len(stub.seen) == 2


async def test_a_transient_error_is_retried(graph: MetaGraph, stub: GraphStub) -> None:
    stub.then(Scripted.example("error-1-transient.json"))

    lead = await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)

    assert lead.external_id == LEAD_ID
    assert len(stub.seen) == 2


async def test_a_transient_error_that_lasts_is_a_connection_failure(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(*[Scripted.example("error-1-transient.json")] * 4)

    with pytest.raises(ConnectionFailedError):
        await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)


async def test_a_token_death_on_a_lead_read_is_invalid_credentials(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(Scripted.example("error-190-463-expired-token.json"))

    with pytest.raises(InvalidCredentialsError) as raised:
        await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)

    assert PAGE_TOKEN not in str(raised.value)
    assert len(stub.seen) == 1


def stage(event_id: str, **changes: object) -> FunnelEvent:
    fields: dict[str, object] = {
        "id": event_id,
        "stage": FunnelStage.WON,
        "sub_account_id": "sa-1",
        "lead_id": "lead-1",
        "occurred_at": NOW - timedelta(hours=1),
        "source_integration_id": "fb-1",
        "source_template": "facebook_ads",
        "source_external_id": LEAD_ID,
        "email": SecretStr("ana.souza@example.com"),
    }
    fields.update(changes)
    return FunnelEvent(**fields)  # type: ignore[arg-type]


async def test_stages_reach_the_conversions_api_of_the_dataset(
    graph: MetaGraph, stub: GraphStub
) -> None:
    sink = MetaConversions(graph, clock=FixedClock(NOW))
    events = [stage("e-1"), stage("e-2", occurred_at=NOW - timedelta(days=8))]

    outcome = await sink.send(meta_call(datasetId="778899001122334"), events)

    assert outcome.sent == ("e-1",)
    assert set(outcome.dropped) == {"e-2"}
    [seen] = stub.seen
    assert (seen.method, seen.path) == ("POST", "/v26.0/778899001122334/events")
    assert "appsecret_proof" in seen.query
    [sent] = seen.body["data"]
    assert sent["event_id"] == "e-1"
    assert sent["event_name"] == "Converted"
    assert sent["user_data"]["lead_id"] == int(LEAD_ID)
    assert sent["user_data"]["em"] == wire_body("capi-request.json")["data"][0]["user_data"]["em"]


async def test_a_batch_meta_refuses_is_a_provider_error(graph: MetaGraph, stub: GraphStub) -> None:
    stub.then(Scripted.example("capi-error-invalid-event.json"))
    sink = MetaConversions(graph, clock=FixedClock(NOW))

    with pytest.raises(ProviderError) as raised:
        await sink.send(meta_call(datasetId="778899001122334"), [stage("e-1")])

    assert type(raised.value) is ProviderError
    assert "7 days" in raised.value.message


async def test_a_response_without_json_is_a_provider_error(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(Scripted(200, None))

    with pytest.raises(ProviderError):
        await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)


async def test_the_configured_graph_version_is_the_one_in_every_path(
    graph: MetaGraph, stub: GraphStub
) -> None:
    older = MetaGraph(
        replace(graph.settings, graph_version="v25.0"), rate_limiter=TokenBucketRateLimiter()
    )
    try:
        await MetaLeads(older).fetch_lead(meta_call(), LEAD_ID)
    finally:
        await older.close()

    assert [s.path for s in stub.seen] == [f"/v25.0/{LEAD_ID}"]


async def test_a_subscription_meta_does_not_confirm_fails_the_test(
    graph: MetaGraph, stub: GraphStub
) -> None:
    stub.then(
        Scripted(200, wire_body("debug-token-response.json")),
        Scripted(200, {"data": []}),
        Scripted(200, {"success": False}),
    )

    result = await provider(graph).test_connection(context())

    assert result.error_code is ErrorCode.CONNECTION_FAILED
    assert "subscribe" in result.message
    assert result.accounts == frozenset()


async def test_usage_at_95_percent_pauses_the_pages_calls_until_meta_frees_it(
    graph: MetaGraph, stub: GraphStub
) -> None:
    lead = wire_body("lead-retrieval-response.json")
    stub.then(Scripted(200, lead, {"X-Business-Use-Case-Usage": BUC_AT_96}))
    await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)

    with pytest.raises(RateLimitExceededError) as raised:
        await MetaLeads(graph).fetch_lead(meta_call(), LEAD_ID)

    assert raised.value.retry_after_seconds > 60
    assert len(stub.seen) == 1


BUC_AT_96 = (
    '{"104561234567890":[{"type":"leadgen","call_count":96,"total_cputime":10,'
    '"total_time":12,"estimated_time_to_regain_access":0}]}'
)

"""The Meta adapter against the fake Meta (which checks every appsecret_proof here): the
connection test with the fake's demo tokens, dead, foreign and under-scoped ones; a lead
submitted at the fake, delivered, split, verified and fetched; stages at its Conversions API;
its throttles and transient errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from adapters.clock import SystemClock
from adapters.crypto.signatures import WebhookSignatureVerifier
from adapters.meta.conversions import MetaConversions
from adapters.meta.fake import FaultPlan, ScriptedError, Submission, Throttle
from adapters.meta.fake.seed import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    DEMO_DATASET_ID,
    DEMO_EXPIRED_TOKEN,
    DEMO_LEAD_ID,
    DEMO_PAGE_ID,
    DEMO_PAGE_TOKEN,
    DEMO_SCOPES,
    DEMO_SECOND_PAGE_ID,
    DEMO_SYSTEM_USER_TOKEN,
    DEMO_VERIFY_TOKEN,
)
from adapters.meta.graph import MetaGraph
from adapters.meta.leads import MetaLeads
from adapters.meta.provider import MetaProvider
from adapters.meta.settings import MetaSettings
from adapters.meta.webhooks import MetaWebhooks, page_account
from adapters.ratelimit import TokenBucketRateLimiter
from application.ports import (
    ConnectionTestResult,
    Credentials,
    ProviderCall,
    ProviderContext,
    SignatureScheme,
)
from application.ports.funnel import FunnelEvent, FunnelStage
from domain.errors import (
    ErrorCode,
    InvalidCredentialsError,
    NotFoundError,
    RateLimitExceededError,
)
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from tests.integration.meta.conftest import FAST_RETRY, FAST_TIMEOUTS, Receiver, Running, StartFake

SETTINGS = MetaSettings(
    app_id=DEMO_APP_ID,
    app_secret=SecretStr(DEMO_APP_SECRET),
    webhook_verify_token=SecretStr(DEMO_VERIFY_TOKEN),
)


@dataclass
class OnFake:
    running: Running
    graph: MetaGraph

    def provider(self) -> MetaProvider:
        return MetaProvider(self.graph, clock=SystemClock())

    async def mint(self, **grant: object) -> str:
        minted = await self.running.control("POST", "/tokens", grant)
        token: str = minted["token"]
        return token


@pytest.fixture
async def on_fake(start_fake: StartFake) -> AsyncIterator[OnFake]:
    running = await start_fake(require_appsecret_proof=True)
    graph = MetaGraph(
        MetaSettings(
            app_id=SETTINGS.app_id,
            app_secret=SETTINGS.app_secret,
            webhook_verify_token=SETTINGS.webhook_verify_token,
            graph_base_url=running.url,
        ),
        rate_limiter=TokenBucketRateLimiter(),
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
        app_rate_limit_per_minute=6000,
    )
    yield OnFake(running, graph)
    await graph.close()
    assert {r.appsecret_proof for r in running.fake.log} <= {None, "valid"}
    assert running.fake.versions_used() in ([], ["v26.0"])


def call(token: str = DEMO_PAGE_TOKEN, page_id: str = DEMO_PAGE_ID, **config: str) -> ProviderCall:
    return ProviderCall(
        integration_id="fb-1",
        sub_account_id="sa-1",
        template_name="facebook_ads",
        config={"pageId": page_id, **config},
        credentials=Credentials({"accessToken": SecretStr(token)}),
        rate_limit_per_minute=6000,
    )


def context(token: str = DEMO_PAGE_TOKEN, page_id: str = DEMO_PAGE_ID) -> ProviderContext:
    c = call(token, page_id)
    return ProviderContext(
        integration_id=c.integration_id,
        sub_account_id=c.sub_account_id,
        template_name=c.template_name,
        config=c.config,
        credentials=c.credentials,
        rate_limit_per_minute=c.rate_limit_per_minute,
    )


async def test_the_demo_page_token_connects_and_subscribes_the_page_once(on_fake: OnFake) -> None:
    first = await on_fake.provider().test_connection(context())
    again = await on_fake.provider().test_connection(context())

    assert first.success, first.message
    assert first.accounts == {page_account(DEMO_PAGE_ID)}
    assert first.details["leadgen_subscription"] == "created"
    assert again.details["leadgen_subscription"] == "existing"
    state = await on_fake.running.control("GET", "/state")
    assert "leadgen" in str(state)


async def test_a_system_user_token_connects_a_page_already_subscribed(on_fake: OnFake) -> None:
    result = await on_fake.provider().test_connection(
        context(DEMO_SYSTEM_USER_TOKEN, DEMO_SECOND_PAGE_ID)
    )

    assert result.success, result.message
    assert result.accounts == {page_account(DEMO_SECOND_PAGE_ID)}
    assert result.details["leadgen_subscription"] == "existing"


def refused(result: ConnectionTestResult, *, says: str) -> None:
    assert not result.success
    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert result.accounts == frozenset()
    assert says in result.message


async def test_an_unknown_token_is_invalid_credentials(on_fake: OnFake) -> None:
    result = await on_fake.provider().test_connection(context("pit-revoked"))

    refused(result, says="190")
    assert "pit-revoked" not in result.message + str(result.details)


async def test_an_expired_token_is_invalid_credentials(on_fake: OnFake) -> None:
    refused(await on_fake.provider().test_connection(context(DEMO_EXPIRED_TOKEN)), says="expired")


async def test_a_token_killed_by_a_password_change_is_invalid_credentials(
    on_fake: OnFake,
) -> None:
    on_fake.running.fake.kill_token(DEMO_PAGE_TOKEN, 460)

    refused(await on_fake.provider().test_connection(context()), says="password")


async def test_a_token_dying_after_debug_token_is_invalid_credentials(on_fake: OnFake) -> None:
    on_fake.running.fake.kill_token(DEMO_PAGE_TOKEN, 463, after=1)
    await MetaLeads(on_fake.graph).fetch_lead(call(), DEMO_LEAD_ID)  # its last good call

    refused(await on_fake.provider().test_connection(context()), says="190")


async def test_a_token_of_another_app_is_invalid_credentials(on_fake: OnFake) -> None:
    token = await on_fake.mint(
        type="PAGE", page_ids=[DEMO_PAGE_ID], scopes=list(DEMO_SCOPES), app_id="9988776655443322"
    )

    refused(await on_fake.provider().test_connection(context(token)), says="another Meta app")


async def test_a_token_missing_a_scope_is_invalid_credentials_naming_it(on_fake: OnFake) -> None:
    scopes = [s for s in DEMO_SCOPES if s != "leads_retrieval"]
    token = await on_fake.mint(type="PAGE", page_ids=[DEMO_PAGE_ID], scopes=scopes)

    result = await on_fake.provider().test_connection(context(token))

    refused(result, says="leads_retrieval")
    assert result.details["missing_scopes"] == "leads_retrieval"


async def test_a_token_for_another_page_is_invalid_credentials(on_fake: OnFake) -> None:
    token = await on_fake.mint(
        type="SYSTEM_USER", page_ids=[DEMO_SECOND_PAGE_ID], scopes=list(DEMO_SCOPES)
    )

    refused(await on_fake.provider().test_connection(context(token)), says="lacks")


async def test_a_throttled_connection_test_says_when_to_try_again(on_fake: OnFake) -> None:
    on_fake.running.fake.faults = FaultPlan(throttle=Throttle(code=4, minutes=3))

    result = await on_fake.provider().test_connection(context())

    assert result.error_code is ErrorCode.RATE_LIMIT_EXCEEDED
    assert result.retry_after_seconds is not None
    assert 175 < result.retry_after_seconds <= 180


async def test_a_submitted_lead_arrives_signed_splits_and_is_fetched_with_its_attribution(
    on_fake: OnFake, receiver: Receiver
) -> None:
    await on_fake.provider().test_connection(context())
    submitted = await on_fake.running.fake.submit_leads(
        [Submission(page_id=DEMO_PAGE_ID), Submission(page_id=DEMO_PAGE_ID, organic=True)],
        id_style="mixed",
    )
    [(body, headers)] = receiver.posts
    lowered = {k.lower(): v for k, v in headers.items()}
    verified = WebhookSignatureVerifier(app_secret=SETTINGS.app_secret).verify(
        body=body,
        headers=lowered,
        schemes=frozenset({SignatureScheme.APP_HMAC_SHA256}),
        secret=None,
    )
    assert verified.scheme is SignatureScheme.APP_HMAC_SHA256

    sender = MetaWebhooks(verify_token=SETTINGS.webhook_verify_token)
    facts = [sender.read(change, route_event=None) for change in sender.split(receiver.bodies()[0])]
    assert [f.kind for f in facts] == [EventKind.LEAD_SUBMITTED] * 2
    assert {f.account for f in facts} == {page_account(DEMO_PAGE_ID)}
    assert [f.delivery_id for f in facts] == [lead["id"] for lead in submitted.leads]

    leads = [await MetaLeads(on_fake.graph).fetch_lead(call(), f.delivery_id or "") for f in facts]
    assert leads[0].attribution["ad_id"] == submitted.leads[0]["ad_id"]
    assert leads[0].attribution["campaign_name"] == "Solar leads"
    assert "ad_id" not in leads[1].attribution
    assert leads[1].attribution["is_organic"] == "true"
    assert all(lead.details.email for lead in leads)


async def test_the_fake_senders_handshake_is_answered_by_the_sender(on_fake: OnFake) -> None:
    sender = MetaWebhooks(verify_token=SETTINGS.webhook_verify_token)

    assert (
        sender.answer(
            {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": DEMO_VERIFY_TOKEN}
        )
        == "42"
    )


async def test_the_demo_lead_is_fetched_and_an_unknown_one_is_not_found(on_fake: OnFake) -> None:
    lead = await MetaLeads(on_fake.graph).fetch_lead(call(), DEMO_LEAD_ID)

    assert lead.external_id == DEMO_LEAD_ID
    assert (lead.details.first_name, lead.details.last_name) == ("Ana", "Souza")
    assert lead.attribution["adset_id"] == "120210000000000011"
    assert lead.answers["preferred_contact_times"] == "morning, evening"
    with pytest.raises(NotFoundError):
        await MetaLeads(on_fake.graph).fetch_lead(call(), "9999999999999999")


async def test_a_dead_token_on_a_lead_read_is_invalid_credentials(on_fake: OnFake) -> None:
    on_fake.running.fake.kill_token(DEMO_PAGE_TOKEN, 467)

    with pytest.raises(InvalidCredentialsError, match="190/467"):
        await MetaLeads(on_fake.graph).fetch_lead(call(), DEMO_LEAD_ID)


@pytest.mark.parametrize(("code", "minutes"), [(80005, 42), (4, 5), (17, 7)])
async def test_a_throttled_lead_read_is_rate_limited_with_metas_wait(
    on_fake: OnFake, code: int, minutes: int
) -> None:
    on_fake.running.fake.faults = FaultPlan(throttle=Throttle(code=code, minutes=minutes))

    with pytest.raises(RateLimitExceededError) as raised:
        await MetaLeads(on_fake.graph).fetch_lead(call(), DEMO_LEAD_ID)

    wait = minutes * 60.0
    assert wait - 5 < raised.value.retry_after_seconds <= wait
    assert [r.status for r in on_fake.running.fake.log] == [400]


async def test_a_transient_error_is_retried_to_success(on_fake: OnFake) -> None:
    on_fake.running.fake.faults = FaultPlan(errors=[ScriptedError(code=2, status=500, count=2)])

    lead = await MetaLeads(on_fake.graph).fetch_lead(call(), DEMO_LEAD_ID)

    assert lead.external_id == DEMO_LEAD_ID
    assert [r.status for r in on_fake.running.fake.log] == [500, 500, 200]


async def test_stages_reach_the_fakes_conversions_api_once_each_with_the_notes_hashes(
    on_fake: OnFake,
) -> None:
    now = datetime.now(UTC)
    events = [
        FunnelEvent(
            id=f"evt-{stage.value}",
            stage=stage,
            sub_account_id="sa-1",
            lead_id="lead-1",
            occurred_at=now - timedelta(minutes=10),
            source_integration_id="fb-1",
            source_template="facebook_ads",
            source_external_id=DEMO_LEAD_ID,
            email=SecretStr("Ana.Souza@example.com"),
            phone=SecretStr("+55 11 98765-4321"),
        )
        for stage in (FunnelStage.LEAD_CAPTURED, FunnelStage.WON)
    ]
    stale = FunnelEvent(
        id="evt-stale",
        stage=FunnelStage.BOOKED,
        sub_account_id="sa-1",
        lead_id="lead-1",
        occurred_at=now - timedelta(days=8),
        source_integration_id="fb-1",
        source_template="facebook_ads",
        source_external_id=DEMO_LEAD_ID,
    )
    sink = MetaConversions(on_fake.graph, clock=SystemClock())

    outcome = await sink.send(call(datasetId=DEMO_DATASET_ID), [*events, stale])

    assert outcome.sent == ("evt-lead_captured", "evt-won")
    assert set(outcome.dropped) == {"evt-stale"}
    received = on_fake.running.fake.capi_events
    assert [(e.dataset_id, e.event["event_name"]) for e in received] == [
        (DEMO_DATASET_ID, "Lead"),
        (DEMO_DATASET_ID, "Converted"),
    ]
    user_data = received[0].event["user_data"]
    assert user_data["em"] == ["7fd726011aa08d90d14a923ea0e5e3edf63bfe14b51ee6f6429483118d197c9b"]
    assert user_data["ph"] == ["029c7290f14c4516673508635f0519db95f7daf42057fd0e4ad1de84c5408a66"]
    assert received[0].event["custom_data"] == {
        "event_source": "crm",
        "lead_event_source": "Sales Platform",
    }


async def test_a_backfill_lists_the_leads_since_a_moment_oldest_first_over_pages(
    on_fake: OnFake,
) -> None:
    fake = on_fake.running.fake
    before = int(datetime.now(UTC).timestamp()) - 600
    # 120 leads whose deliveries were lost: two pages of 100 of the form's listing.
    lost = await fake.submit_leads(
        [Submission(page_id=DEMO_PAGE_ID, created_time=before + 1 + n) for n in range(120)],
        deliver=False,
    )

    listed = await MetaLeads(on_fake.graph).submitted_since(
        call(), datetime.fromtimestamp(before, UTC)
    )

    assert [lead.external_id for lead in listed] == [lead["id"] for lead in lost.leads]
    assert DEMO_LEAD_ID not in {lead.external_id for lead in listed}  # older than `before`
    assert all(lead.attribution["page_id"] == DEMO_PAGE_ID for lead in listed)

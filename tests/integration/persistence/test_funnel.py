"""The lead funnel sent out, on SQLite and PostgreSQL: the outbox's funnel steps queued once per
integration that takes them, sent at least once, each integration on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.funnel_queue import SqlAlchemyFunnelQueue
from application.funnel import DispatchFunnelEvents, SendFunnelEvents
from application.ports import (
    FunnelEvent,
    FunnelOutcome,
    FunnelStage,
    OutboxReader,
    ProviderCall,
    SecretBinding,
    UnitOfWorkFactory,
)
from domain.errors import ConnectionFailedError, InvalidCredentialsError, RateLimitExceededError
from domain.integration import Integration
from domain.lead import LeadStatus
from domain.values import SecretStr
from tests.fakes import FakeCipher, FixedClock
from tests.integration.persistence.leads_support import a_lead
from tests.support.builders import NOW, a_template, an_integration

ANALYTICS = "analytics"


@dataclass
class RecordingSink:
    """A funnel sink that records what it is sent; `fail` makes its next sends raise."""

    max_batch: int = 50
    batches: list[list[FunnelEvent]] = field(default_factory=list)
    fail: list[Exception] = field(default_factory=list)
    stale: set[FunnelStage] = field(default_factory=set)
    only_own_leads: bool = False

    def wants(self, event: FunnelEvent, call: ProviderCall) -> bool:
        return not self.only_own_leads or event.source_integration_id == call.integration_id

    async def send(self, call: ProviderCall, events: Sequence[FunnelEvent]) -> FunnelOutcome:
        if self.fail:
            raise self.fail.pop(0)
        self.batches.append(list(events))
        return FunnelOutcome(
            sent=tuple(e.id for e in events if e.stage not in self.stale),
            dropped={e.id: "stale" for e in events if e.stage in self.stale},
        )

    @property
    def sent(self) -> list[tuple[str, FunnelStage]]:
        return [(e.lead_id, e.stage) for batch in self.batches for e in batch]


@dataclass
class Refusals:
    """The integrations whose credentials a provider refused, as ConnectionTester hears it."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    async def record(self, integration_id: str, err: InvalidCredentialsError) -> None:
        self.seen.append((integration_id, err.code.value))


@dataclass
class Funnel:
    uow: UnitOfWorkFactory
    queue: SqlAlchemyFunnelQueue
    dispatch: DispatchFunnelEvents
    send: SendFunnelEvents
    sinks: dict[str, RecordingSink]
    clock: FixedClock
    crm: Integration
    analytics: list[Integration]
    refused: Refusals


async def active(uow: UnitOfWorkFactory, integration: Integration, cipher: FakeCipher) -> None:
    binding = SecretBinding(integration.sub_account_id, integration.id, "apiKey")
    integration.replace_secret("apiKey", await cipher.encrypt(binding, SecretStr("k")), now=NOW)
    integration.activate(now=NOW)


@pytest.fixture
async def funnel(
    engine: AsyncEngine, uow_factory: UnitOfWorkFactory, outbox: OutboxReader
) -> Funnel:
    cipher = FakeCipher()
    crm_template, analytics_template = a_template(), a_template(name=ANALYTICS)
    crm = an_integration(crm_template)
    analytics = [
        an_integration(analytics_template, name=f"Property {n}", config={}) for n in range(2)
    ]
    for integration in (crm, *analytics):
        await active(uow_factory, integration, cipher)
    async with uow_factory() as uow:
        await uow.templates.add(crm_template)
        await uow.templates.add(analytics_template)
        for integration in (crm, *analytics):
            await uow.integrations.add(integration)
        await uow.commit()
    queue = SqlAlchemyFunnelQueue(engine)
    clock = FixedClock(NOW)
    sinks = {i.id: RecordingSink() for i in analytics}
    refused = Refusals()
    by_template = {ANALYTICS: sinks}

    def sink_of(template: str) -> _Routed | None:
        return None if template not in by_template else _Routed(by_template[template])

    return Funnel(
        uow=uow_factory,
        queue=queue,
        dispatch=DispatchFunnelEvents(
            outbox=outbox, queue=queue, funnel_templates=frozenset({ANALYTICS}), clock=clock
        ),
        send=SendFunnelEvents(
            queue=queue,
            uow=uow_factory,
            cipher=cipher,
            sinks=sink_of,
            clock=clock,
            credentials_refused=refused.record,
        ),
        refused=refused,
        sinks=sinks,
        clock=clock,
        crm=crm,
        analytics=analytics,
    )


class _Routed:
    """One sink per integration, as a provider's one sink would see each call."""

    def __init__(self, sinks: dict[str, RecordingSink]) -> None:
        self._sinks = sinks
        self.max_batch = 50

    def wants(self, event: FunnelEvent, call: ProviderCall) -> bool:
        return self._sinks[call.integration_id].wants(event, call)

    async def send(self, call: ProviderCall, events: Sequence[FunnelEvent]) -> FunnelOutcome:
        return await self._sinks[call.integration_id].send(call, events)


async def capture_and_win(funnel: Funnel, external_id: str, email: str) -> str:
    lead = a_lead(funnel.crm, external_id, email=email, first_name="Ada")
    async with funnel.uow() as uow:
        await uow.leads.add(lead)
        await uow.commit()
    async with funnel.uow() as uow:
        stored = await uow.leads.get(lead.id)
        assert stored is not None
        stored.change_status(LeadStatus.WON, now=NOW + timedelta(minutes=5))
        await uow.leads.update(stored)
        await uow.commit()
    return lead.id


async def send_all(funnel: Funnel) -> None:
    while await funnel.dispatch.run_once():
        pass
    for integration_id in await funnel.queue.due_integrations(now=funnel.clock.now(), limit=10):
        await funnel.send.execute(integration_id)


async def test_each_step_of_a_lead_reaches_every_analytics_integration_once(
    funnel: Funnel,
) -> None:
    lead_id = await capture_and_win(funnel, "c-1", "ada@example.com")

    await send_all(funnel)
    await send_all(funnel)  # nothing new: nothing sent twice

    for sink in funnel.sinks.values():
        assert sink.sent == [(lead_id, FunnelStage.LEAD_CAPTURED), (lead_id, FunnelStage.WON)]
        [captured, won] = sink.batches[0]
        assert captured.source_template == "gohighlevel"
        assert captured.source_external_id == "c-1"
        assert captured.email is not None
        assert captured.email.reveal() == "ada@example.com"
        assert won.occurred_at > captured.occurred_at
    assert (await funnel.queue.counts()) == {"sent": 4}


async def test_copies_dispatching_at_once_queue_each_step_once(funnel: Funnel) -> None:
    await capture_and_win(funnel, "c-1", "ada@example.com")

    await asyncio.gather(*(funnel.dispatch.run_once() for _ in range(4)))
    while await funnel.dispatch.run_once():
        pass

    assert (await funnel.queue.counts()) == {"pending": 4}


async def test_a_throttled_integration_waits_uncounted_and_holds_up_no_other(
    funnel: Funnel,
) -> None:
    lead_id = await capture_and_win(funnel, "c-1", "ada@example.com")
    throttled, other = funnel.analytics
    funnel.sinks[throttled.id].fail.append(
        RateLimitExceededError("slow down", retry_after_seconds=600)
    )

    await send_all(funnel)

    assert funnel.sinks[other.id].sent == [
        (lead_id, FunnelStage.LEAD_CAPTURED),
        (lead_id, FunnelStage.WON),
    ]
    assert funnel.sinks[throttled.id].sent == []
    assert await funnel.queue.due_integrations(now=funnel.clock.now(), limit=10) == []
    funnel.clock.advance(seconds=600)
    assert await funnel.queue.due_integrations(now=funnel.clock.now(), limit=10) == [throttled.id]
    await send_all(funnel)
    assert funnel.sinks[throttled.id].sent == funnel.sinks[other.id].sent


async def test_a_failed_send_is_retried_and_a_dropped_event_is_kept_not_sent_again(
    funnel: Funnel,
) -> None:
    await capture_and_win(funnel, "c-1", "ada@example.com")
    failing, _ = funnel.analytics
    funnel.sinks[failing.id].fail.append(ConnectionFailedError("the provider is down"))
    funnel.sinks[failing.id].stale = {FunnelStage.LEAD_CAPTURED}

    await send_all(funnel)
    assert funnel.sinks[failing.id].sent == []
    funnel.clock.advance(minutes=20)  # past the backoff
    await send_all(funnel)
    funnel.clock.advance(minutes=20)
    await send_all(funnel)

    assert len(funnel.sinks[failing.id].batches) == 1
    assert (await funnel.queue.counts()) == {"sent": 3, "dropped": 1}


async def test_events_a_sink_does_not_want_are_settled_as_skipped(funnel: Funnel) -> None:
    await capture_and_win(funnel, "c-1", "ada@example.com")
    for sink in funnel.sinks.values():
        sink.only_own_leads = True  # the lead came from the CRM integration

    await send_all(funnel)

    assert all(sink.batches == [] for sink in funnel.sinks.values())
    assert (await funnel.queue.counts()) == {"skipped": 4}


async def test_an_integrations_funnel_activity_is_reported_for_health(funnel: Funnel) -> None:
    await capture_and_win(funnel, "c-1", "ada@example.com")
    dropping, throttled = funnel.analytics
    funnel.sinks[dropping.id].stale = {FunnelStage.LEAD_CAPTURED}
    funnel.sinks[throttled.id].fail.append(
        RateLimitExceededError("slow down", retry_after_seconds=600)
    )

    await send_all(funnel)
    now = funnel.clock.now()
    dropping_seen = await funnel.queue.activity(dropping.id, since=now - timedelta(days=1), now=now)
    throttled_seen = await funnel.queue.activity(
        throttled.id, since=now - timedelta(days=1), now=now + timedelta(minutes=20)
    )

    assert (dropping_seen.sent, dropping_seen.dropped, dropping_seen.backlog) == (1, 1, 0)
    assert dropping_seen.last_sent_at == now
    assert dropping_seen.oldest_due_at is None
    assert (throttled_seen.sent, throttled_seen.backlog, throttled_seen.last_sent_at) == (
        0,
        2,
        None,
    )
    assert throttled_seen.oldest_due_at == now + timedelta(seconds=600)


async def test_refused_credentials_are_reported_and_the_batch_waits_uncounted(
    funnel: Funnel,
) -> None:
    await capture_and_win(funnel, "c-1", "ada@example.com")
    dead, alive = funnel.analytics
    funnel.sinks[dead.id].fail.append(InvalidCredentialsError("the token was revoked"))

    await send_all(funnel)

    assert funnel.refused.seen == [(dead.id, "INVALID_CREDENTIALS")]
    assert len(funnel.sinks[alive.id].sent) == 2
    now = funnel.clock.now()
    waiting = await funnel.queue.activity(dead.id, since=now - timedelta(days=1), now=now)
    assert (waiting.backlog, waiting.sent, waiting.dead_lettered) == (2, 0, 0)

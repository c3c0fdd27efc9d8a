"""The lead funnel sent to a GA4 property end to end below the service, on SQLite and
PostgreSQL: the outbox's steps (a lead captured, a booking made for it, the lead won), the funnel
queue, and GA4's Measurement Protocol sink against the fake GA4, each event once, no personal
data."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ga4.fake.seed import DEMO_API_SECRET, DEMO_MEASUREMENT_ID
from adapters.ga4.measurement import Ga4Measurement
from adapters.persistence.funnel_queue import SqlAlchemyFunnelQueue
from application.funnel import DispatchFunnelEvents, SendFunnelEvents
from application.ports import OutboxReader, SecretBinding, UnitOfWorkFactory
from domain.errors import InvalidCredentialsError
from domain.integration import Integration
from domain.lead import LeadStatus
from domain.values import SecretStr
from tests.fakes import FakeCipher, FixedClock
from tests.integration.ga4.support import RunningGa4, running_ga4
from tests.integration.persistence.leads_support import a_booking, a_lead
from tests.support.builders import NOW, a_secret, a_template, an_integration

GA4 = "google_analytics"


@pytest.fixture
async def ga4() -> AsyncIterator[RunningGa4]:
    async with running_ga4() as running:
        yield running


async def stored(uow: UnitOfWorkFactory, cipher: FakeCipher) -> tuple[Integration, Integration]:
    crm_template, ga4_template = a_template(), a_template(name=GA4)
    crm = an_integration(crm_template)
    analytics = an_integration(
        ga4_template,
        name="Property",
        config={"measurementId": DEMO_MEASUREMENT_ID},
        secrets={"apiSecret": a_secret()},
    )
    binding = SecretBinding(analytics.sub_account_id, analytics.id, "apiSecret")
    analytics.replace_secret(
        "apiSecret", await cipher.encrypt(binding, SecretStr(DEMO_API_SECRET)), now=NOW
    )
    for integration in (crm, analytics):
        integration.activate(now=NOW)
    async with uow() as u:
        await u.templates.add(crm_template)
        await u.templates.add(ga4_template)
        await u.integrations.add(crm)
        await u.integrations.add(analytics)
        await u.commit()
    return crm, analytics


async def test_a_leads_steps_reach_the_property_once_each_without_personal_data(
    engine: AsyncEngine, uow_factory: UnitOfWorkFactory, outbox: OutboxReader, ga4: RunningGa4
) -> None:
    cipher, clock = FakeCipher(), FixedClock(NOW + timedelta(minutes=10))
    crm, _ = await stored(uow_factory, cipher)
    lead = a_lead(crm, "c-1", email="ada@example.com", phone="+14155550100", first_name="Ada")
    async with uow_factory() as uow:
        await uow.leads.add(lead)
        await uow.bookings.add(a_booking(crm, lead_id=lead.id))
        await uow.commit()
    async with uow_factory() as uow:
        won = await uow.leads.get(lead.id)
        assert won is not None
        won.change_status(LeadStatus.WON, now=NOW + timedelta(minutes=5))
        await uow.leads.update(won)
        await uow.commit()
    queue = SqlAlchemyFunnelQueue(engine)
    dispatch = DispatchFunnelEvents(
        outbox=outbox, queue=queue, funnel_templates=frozenset({GA4}), clock=clock
    )
    sink = Ga4Measurement(ga4.http, clock=clock)
    send = SendFunnelEvents(
        queue=queue,
        uow=uow_factory,
        cipher=cipher,
        sinks=lambda template: sink if template == GA4 else None,
        clock=clock,
        credentials_refused=_never_refused,
    )

    for _ in range(2):  # a second pass finds nothing more to send
        while await dispatch.run_once():
            pass
        for integration_id in await queue.due_integrations(now=clock.now(), limit=10):
            await send.execute(integration_id)

    accepted = [request for request in ga4.fake.collected if request.accepted]
    events = [event for request in accepted for event in request.body["events"]]
    assert [e["name"] for e in events] == ["generate_lead", "qualify_lead", "close_convert_lead"]
    assert events[0]["params"]["lead_source"] == "gohighlevel"
    assert len({request.body["client_id"] for request in accepted}) == 1
    assert (await queue.counts()) == {"sent": 3}
    text = json.dumps([request.body for request in ga4.fake.collected])
    for personal in ("ada@example.com", "+14155550100", "4155550100", "Ada", lead.id, "c-1"):
        assert personal not in text


async def _never_refused(integration_id: str, err: InvalidCredentialsError) -> None:
    raise AssertionError(f"the fake GA4 refused the credentials of {integration_id}: {err}")

"""The webhook handlers wired on in-memory fakes, and GHL's reference payloads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from adapters.ghl.location_settings import CachedGhlLocationSettings
from adapters.ghl.payloads import GhlPayloads
from application.lead_sync import LeadSync
from application.opportunity_sync import OpportunitySync
from application.ports import (
    AssignedUser,
    HandlerOutcome,
    InboundEvent,
    PreparingHandler,
    SecretBinding,
)
from application.ports.crm import CrmApi
from application.use_cases.handle_app_lifecycle import HandleAppLifecycleEvent
from application.use_cases.handle_appointment import HandleAppointmentEvent
from application.use_cases.handle_contact import HandleContactEvent
from application.use_cases.handle_message import HandleMessageEvent
from application.use_cases.handle_opportunity import HandleOpportunityEvent
from application.use_cases.send_replies import SendPendingReplies
from domain.booking import Booking
from domain.conversation import ConversationMessage
from domain.events import DomainEvent
from domain.integration import Integration
from domain.lead import Lead
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from tests.fakes import (
    FakeCipher,
    FakeCrmApi,
    FakeSalesBot,
    FakeTenantDirectory,
    FakeTimezoneResolver,
    FakeUnitOfWorkFactory,
    FixedClock,
    SequentialIds,
)
from tests.support.builders import a_template
from tests.support.reference import GHL_REFERENCE

REFERENCE = GHL_REFERENCE
SUB_ACCOUNT = "sa-1"
ANA = AssignedUser("u-ana", "strategy-fast")


def reference_payload(name: str) -> dict[str, Any]:
    """GHL's documented example ``webhook-<name>.json``, verbatim."""
    path = REFERENCE / f"webhook-{name}.json"
    assert path.is_file(), f"GHL's reference payloads belong beside the repository, at {REFERENCE}"
    payload: dict[str, Any] = json.loads(path.read_text())
    return payload


@dataclass
class App:
    uow: FakeUnitOfWorkFactory
    clock: FixedClock
    cipher: FakeCipher
    directory: FakeTenantDirectory
    timezones: FakeTimezoneResolver
    ghl: FakeCrmApi
    bot: FakeSalesBot
    integration: Integration
    contacts: HandleContactEvent
    messages: HandleMessageEvent
    appointments: HandleAppointmentEvent
    opportunities: HandleOpportunityEvent
    lifecycle: HandleAppLifecycleEvent
    send_replies: SendPendingReplies
    lead_sync: LeadSync
    deliveries: int = field(default=0)

    async def deliver(
        self,
        kind: EventKind,
        payload: dict[str, Any],
        *,
        event_type: str | None = None,
        delivery_id: str | None = None,
        handler: Any = None,
    ) -> HandlerOutcome:
        """Run the kind's handler in one unit of work, committed, as the inbox worker does."""
        self.deliveries += 1
        handler = handler or self.handler_for(kind)
        event = InboundEvent(
            delivery_id=delivery_id or f"delivery-{self.deliveries}",
            integration_id=self.integration.id,
            sub_account_id=SUB_ACCOUNT,
            kind=kind,
            event_type=event_type or str(payload.get("type", kind.value)),
            payload=payload,
            received_at=self.clock.now(),
        )
        if isinstance(handler, PreparingHandler):
            event = await handler.prepare(self.uow, event)
        async with self.uow() as uow:
            outcome: HandlerOutcome = await handler.handle(uow, event)
            await uow.commit()
        return outcome

    def handler_for(self, kind: EventKind) -> Any:
        if kind.value.startswith("contact."):
            return self.contacts
        if kind.value.startswith("message."):
            return self.messages
        if kind.value.startswith("appointment."):
            return self.appointments
        if kind is EventKind.OPPORTUNITY_STATUS_CHANGED:
            return self.opportunities
        return self.lifecycle

    @property
    def leads(self) -> list[Lead]:
        return list(self.uow.store.leads.values())

    @property
    def bookings(self) -> list[Booking]:
        return list(self.uow.store.bookings.values())

    @property
    def messages_stored(self) -> list[ConversationMessage]:
        return sorted(self.uow.store.messages.values(), key=lambda m: m.id)

    def events(self, *types: type[DomainEvent]) -> list[DomainEvent]:
        return [e for e in self.uow.outbox if not types or isinstance(e, types)]


async def make_app(
    *, with_bot: bool = True, through_the_app: bool = False, signed_in: bool = False
) -> App:
    """`through_the_app`: the integration connects with a Marketplace app's OAuth client of its
    own rather than a private-integration token; `signed_in`: through the service's app, as the
    sign-in connects it (a refresh token, no client of its own)."""
    uow = FakeUnitOfWorkFactory()
    clock = FixedClock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    ids = SequentialIds()
    cipher = FakeCipher()
    directory = FakeTenantDirectory({SUB_ACCOUNT: ANA})
    timezones = FakeTimezoneResolver()
    ghl = FakeCrmApi()
    sales_bot = FakeSalesBot()
    template = a_template()
    integration = Integration.create(
        id="int-1",
        sub_account_id=SUB_ACCOUNT,
        template_id=template.id,
        template_name=template.name,
        name="CRM",
        config={"locationId": "loc-1"},
        now=clock.now(),
    )
    credentials = (
        {"refreshToken": "rt-signed-in"}
        if signed_in
        else {"clientId": "app-client", "clientSecret": "app-secret"}
        if through_the_app
        else {"apiKey": "pit-test-token"}
    )
    for name, value in credentials.items():
        integration.secrets[name] = await cipher.encrypt(
            SecretBinding(SUB_ACCOUNT, integration.id, name), SecretStr(value)
        )
    integration.activate(now=clock.now())
    async with uow() as setup:
        await setup.templates.add(template)
        await setup.integrations.add(integration)
        await setup.commit()
    uow.store.outbox.clear()
    api = cast("CrmApi", ghl)
    leads = LeadSync(
        reader=GhlPayloads(),
        directory=directory,
        timezones=timezones,
        accounts=CachedGhlLocationSettings(api, clock=clock),
        cipher=cipher,
        ids=ids,
        clock=clock,
    )
    return App(
        uow=uow,
        clock=clock,
        cipher=cipher,
        directory=directory,
        timezones=timezones,
        ghl=ghl,
        bot=sales_bot,
        integration=integration,
        contacts=HandleContactEvent(leads=leads),
        messages=HandleMessageEvent(
            reader=GhlPayloads(), bot=sales_bot if with_bot else None, ids=ids, clock=clock
        ),
        appointments=HandleAppointmentEvent(reader=GhlPayloads(), ids=ids, clock=clock),
        opportunities=HandleOpportunityEvent(
            leads=leads,
            opportunities=OpportunitySync(reader=GhlPayloads(), ids=ids, clock=clock),
            crm=api,
            cipher=cipher,
        ),
        lifecycle=HandleAppLifecycleEvent(clock=clock),
        send_replies=SendPendingReplies(uow=uow, crm=api, cipher=cipher, clock=clock),
        lead_sync=leads,
    )

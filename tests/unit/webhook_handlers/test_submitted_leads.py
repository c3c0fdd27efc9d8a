"""CaptureSubmittedLead: a lead form submitted at a provider → one lead, its answers fetched
from the provider with no transaction open."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from application.ports import ProviderCall, SubmittedLead
from application.use_cases.capture_submitted_lead import CaptureSubmittedLead
from domain.errors import NotFoundError
from domain.lead import ContactDetails, LeadStatus
from domain.webhook_delivery import EventKind
from tests.unit.webhook_handlers.support import ANA, App, make_app


@dataclass
class FakeFetcher:
    """Leads by id; records the units of work open at each call."""

    app: App
    leads: dict[str, SubmittedLead] = field(default_factory=dict)
    open_units: list[int] = field(default_factory=list)

    async def fetch_lead(self, call: ProviderCall, external_id: str) -> SubmittedLead:
        self.open_units.append(self.app.uow.store.open_units)
        assert call.integration_id == self.app.integration.id
        lead = self.leads.get(external_id)
        if lead is None:
            raise NotFoundError("lead", external_id)
        return lead


def submitted(external_id: str = "1234567890123456") -> SubmittedLead:
    return SubmittedLead(
        external_id=external_id,
        details=ContactDetails(first_name="Ada", email="ada@example.com", country="PT"),
        submitted_at=datetime(2026, 1, 1, 11, 59, tzinfo=UTC),
        attribution={"form_id": "987654321098765", "ad_id": "120210000000000001"},
    )


async def deliver(app: App, handler: CaptureSubmittedLead, lead_id: str) -> object:
    return await app.deliver(
        EventKind.LEAD_SUBMITTED, {"leadgen_id": lead_id}, delivery_id=lead_id, handler=handler
    )


async def test_a_submitted_lead_becomes_one_lead_with_its_attribution() -> None:
    app = await make_app()
    app.timezones.by_country["PT"] = "Europe/Lisbon"
    fetcher = FakeFetcher(app, {"1234567890123456": submitted()})
    handler = CaptureSubmittedLead(fetcher=fetcher, leads=app.lead_sync, cipher=app.cipher)

    await deliver(app, handler, "1234567890123456")
    await deliver(app, handler, "1234567890123456")  # delivered twice: one lead, one fetch

    [lead] = app.leads
    assert lead.external_id == "1234567890123456"
    assert lead.details.email == "ada@example.com"
    assert lead.attribution == {"form_id": "987654321098765", "ad_id": "120210000000000001"}
    assert (lead.status, lead.timezone, lead.assigned_user_id) == (
        LeadStatus.OPEN,
        "Europe/Lisbon",
        ANA.user_id,
    )
    assert fetcher.open_units == [0]


async def test_a_lead_the_provider_no_longer_has_is_ignored() -> None:
    app = await make_app()
    fetcher = FakeFetcher(app)
    handler = CaptureSubmittedLead(fetcher=fetcher, leads=app.lead_sync, cipher=app.cipher)

    outcome = await deliver(app, handler, "404")

    assert str(outcome) == "ignored"
    assert app.uow.store.leads == {}

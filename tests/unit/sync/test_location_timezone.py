"""The GHL location's timezone, for leads with none of their own: asked once per expiry window
by every path together (CreateLead, contact webhooks, the pull), and by every path with no
transaction open (as is every other CRM call a webhook's handler makes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from adapters.ghl.location_settings import LOCATION_SETTINGS_TTL
from application.ports import ProviderCall
from application.ports.crm import CrmAccount, CrmContact
from application.use_cases.create_lead import CreateLeadCommand
from domain.errors import ConnectionFailedError
from domain.lead import ContactDetails, LeadStatus
from domain.webhook_delivery import EventKind
from tests.unit.sync.support import (
    SERVICE,
    Sync,
    contact_payload,
    opportunity_payload,
    run_sync,
)


def create(app: Sync, n: int) -> CreateLeadCommand:
    # An email only: nothing to detect a timezone from.
    details = ContactDetails(first_name=f"Lead {n}", email=f"lead{n}@example.com")
    return CreateLeadCommand(actor=SERVICE, integration_id=app.integration.id, details=details)


def location_calls(app: Sync) -> int:
    return len(app.ghl.called("get_account"))


def open_units_at_each_location_call(app: Sync) -> list[int]:
    """Records how many units of work are open whenever GHL is asked for the location."""
    seen: list[int] = []
    ask: Callable[[ProviderCall], Awaitable[CrmAccount]] = app.ghl.get_account

    async def get_account(call: ProviderCall) -> CrmAccount:
        seen.append(app.uow.store.open_units)
        return await ask(call)

    app.ghl.get_account = get_account  # type: ignore[method-assign]
    return seen


def open_units_at_each_contact_call(app: Sync) -> list[int]:
    """Records how many units of work are open whenever GHL is asked for a contact."""
    seen: list[int] = []
    ask: Callable[[ProviderCall, str], Awaitable[CrmContact]] = app.ghl.get_contact

    async def get_contact(call: ProviderCall, contact_id: str) -> CrmContact:
        seen.append(app.uow.store.open_units)
        return await ask(call, contact_id)

    app.ghl.get_contact = get_contact  # type: ignore[method-assign]
    return seen


async def test_every_path_shares_one_location_call_per_expiry_window(app: Sync) -> None:
    for n in range(20):
        await app.create_lead.execute(create(app, n))
    for n in range(20):
        contact = app.ghl.add_contact(first_name=f"Hooked {n}", email=f"hooked{n}@example.com")
        await app.deliver(EventKind.CONTACT_CREATED, contact_payload(contact, "ContactCreate"))
    for n in range(5):
        app.ghl.add_contact(first_name=f"Pulled {n}", email=f"pulled{n}@example.com")
    await run_sync(app)

    assert len(app.all_leads) == 45
    assert {lead.timezone for lead in app.all_leads} == {"America/Chicago"}
    assert location_calls(app) == 1

    app.clock.advance(seconds=LOCATION_SETTINGS_TTL.total_seconds() - 1)
    await app.create_lead.execute(create(app, 100))
    assert location_calls(app) == 1

    app.clock.advance(seconds=1)
    await app.create_lead.execute(create(app, 101))
    await app.create_lead.execute(create(app, 102))
    assert location_calls(app) == 2


async def test_create_lead_asks_for_the_location_with_no_transaction_open(app: Sync) -> None:
    open_units = open_units_at_each_location_call(app)

    view = await app.create_lead.execute(create(app, 1))

    assert open_units == [0]
    assert app.lead(view.id).timezone == "America/Chicago"


async def test_the_pull_asks_for_the_location_with_no_transaction_open(app: Sync) -> None:
    open_units = open_units_at_each_location_call(app)
    for n in range(3):
        app.ghl.add_contact(first_name=f"Pulled {n}", email=f"pulled{n}@example.com")

    await run_sync(app)

    assert open_units == [0]
    assert {lead.timezone for lead in app.all_leads} == {"America/Chicago"}


async def test_webhook_handlers_ask_the_crm_with_no_transaction_open(app: Sync) -> None:
    at_location_calls = open_units_at_each_location_call(app)
    at_contact_calls = open_units_at_each_contact_call(app)
    hooked = app.ghl.add_contact(first_name="Hooked", email="hooked@example.com")
    unseen = app.ghl.add_contact(first_name="Unseen", email="unseen@example.com")
    won = app.ghl.add_opportunity(contact_id=unseen.id, status="won")

    await app.deliver(EventKind.CONTACT_CREATED, contact_payload(hooked, "ContactCreate"))
    app.clock.advance(seconds=LOCATION_SETTINGS_TTL.total_seconds())  # asked again below
    await app.deliver(EventKind.OPPORTUNITY_STATUS_CHANGED, opportunity_payload(won))

    assert at_location_calls == [0, 0]
    assert at_contact_calls == [0]
    leads = {lead.external_id: lead for lead in app.all_leads}
    assert {leads[hooked.id].timezone, leads[unseen.id].timezone} == {"America/Chicago"}
    assert leads[unseen.id].status is LeadStatus.WON


async def test_a_lead_with_a_timezone_of_its_own_asks_nothing(app: Sync) -> None:
    details = ContactDetails(first_name="Ada", email="ada@example.com", country="PT")
    app.leads.timezones.by_country["PT"] = "Europe/Lisbon"  # type: ignore[attr-defined]

    view = await app.create_lead.execute(
        CreateLeadCommand(actor=SERVICE, integration_id=app.integration.id, details=details)
    )

    assert app.lead(view.id).timezone == "Europe/Lisbon"
    assert location_calls(app) == 0


async def test_a_failed_location_call_leaves_the_lead_without_a_timezone_and_is_not_kept(
    app: Sync,
) -> None:
    app.ghl.fail_on[("get_account", 1)] = ConnectionFailedError("GHL is down")

    first = await app.create_lead.execute(create(app, 1))
    second = await app.create_lead.execute(create(app, 2))

    assert app.lead(first.id).timezone is None
    assert app.lead(second.id).timezone == "America/Chicago"
    assert location_calls(app) == 2

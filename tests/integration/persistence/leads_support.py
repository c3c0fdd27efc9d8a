"""Leads, bookings and messages for the repository tests, on a stored integration."""

from __future__ import annotations

from datetime import timedelta

from application.ports import UnitOfWorkFactory
from domain.booking import Booking, BookingDetails
from domain.conversation import ConversationMessage
from domain.integration import Integration
from domain.lead import ContactDetails, Lead
from tests.support.builders import IDS, NOW, a_template, an_integration


async def stored_integration(
    uow_factory: UnitOfWorkFactory, *sub_accounts: str
) -> list[Integration]:
    """One integration per sub-account given (default one, in ``sub-1``), committed."""
    template = a_template()
    integrations = [an_integration(template, sub_account_id=s) for s in sub_accounts or ("sub-1",)]
    async with uow_factory() as uow:
        await uow.templates.add(template)
        for integration in integrations:
            await uow.integrations.add(integration)
        await uow.commit()
    return integrations


def a_lead(integration: Integration, external_id: str = "contact-1", **details: object) -> Lead:
    return Lead.capture(
        id=IDS.new_id(),
        sub_account_id=integration.sub_account_id,
        integration_id=integration.id,
        external_id=external_id,
        details=ContactDetails(**details),  # type: ignore[arg-type]
        timezone="America/Chicago",
        assigned_user_id="u-1",
        strategy_id="st-1",
        external_updated_at=NOW - timedelta(days=1),
        now=NOW,
    )


def a_booking(
    integration: Integration, external_id: str = "appt-1", *, lead_id: str | None = None
) -> Booking:
    start = NOW + timedelta(days=3)
    return Booking.create(
        id=IDS.new_id(),
        sub_account_id=integration.sub_account_id,
        integration_id=integration.id,
        external_id=external_id,
        details=BookingDetails(
            calendar_id="cal-1",
            contact_external_id="contact-1",
            start=start,
            end=start + timedelta(minutes=30),
            title="Cleaning",
        ),
        lead_id=lead_id,
        now=NOW,
    )


def a_message(integration: Integration, key: str = "ghl:msg-1") -> ConversationMessage:
    return ConversationMessage.receive(
        id=IDS.new_id(),
        sub_account_id=integration.sub_account_id,
        integration_id=integration.id,
        contact_external_id="contact-1",
        dedupe_key=key,
        channel="SMS",
        body="Hello?",
        conversation_id="conv-1",
        external_message_id=key.removeprefix("ghl:"),
        now=NOW,
    )

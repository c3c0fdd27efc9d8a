"""Which use case applies each kind of stored delivery: the one table the inbox worker follows."""

from __future__ import annotations

from collections.abc import Mapping

from application.ports import EventHandler
from domain.webhook_delivery import EventKind


def handlers_by_kind(
    *,
    contacts: EventHandler,
    messages: EventHandler,
    appointments: EventHandler,
    opportunities: EventHandler,
    app_lifecycle: EventHandler,
) -> Mapping[EventKind, EventHandler]:
    """The handler of each kind of delivery; a kind without one (UNHANDLED) is marked ignored."""
    return {
        EventKind.CONTACT_CREATED: contacts,
        EventKind.CONTACT_UPDATED: contacts,
        EventKind.CONTACT_DELETED: contacts,
        EventKind.MESSAGE_INBOUND: messages,
        EventKind.MESSAGE_OUTBOUND: messages,
        EventKind.APPOINTMENT_CREATED: appointments,
        EventKind.APPOINTMENT_UPDATED: appointments,
        EventKind.APPOINTMENT_DELETED: appointments,
        EventKind.OPPORTUNITY_STATUS_CHANGED: opportunities,
        EventKind.APP_INSTALLED: app_lifecycle,
        EventKind.APP_UNINSTALLED: app_lifecycle,
    }

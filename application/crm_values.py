"""The sync values of the CRM's records: the contact fields a lead's details are written as, and
an appointment's values as the sync compares them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from application.ports.crm import ContactFields, CrmAppointment
from application.sync_records import LEAD_FIELDS, lead_values, utc_text
from domain.booking import BookingStatus
from domain.lead import ContactDetails

_CONTACT_FIELD = {"company": "company_name"}
"""ContactFields' name of a lead field, where the two differ."""


def contact_fields(details: ContactDetails, only: Sequence[str] | None = None) -> ContactFields:
    """What to write to the provider for `details` (all of them, or the fields in `only`). A
    value that was cleared here is written as an empty string: None would leave it as is."""
    names = LEAD_FIELDS if only is None else tuple(only)
    values = lead_values(details)
    written: dict[str, Any] = {}
    for name in names:
        if name == "tags":
            written["tags"] = tuple(values["tags"])
        elif only is not None or values[name] is not None:
            written[_CONTACT_FIELD.get(name, name)] = (
                values[name] if values[name] is not None else ""
            )
    return ContactFields(**written)


def appointment_values(appointment: CrmAppointment, status: BookingStatus | None) -> dict[str, Any]:
    """The same fields, as the provider reports an appointment."""
    return {
        "calendar_id": appointment.calendar_id,
        "contact_external_id": appointment.contact_id,
        "start": utc_text(appointment.start) if appointment.start else None,
        "end": utc_text(appointment.end) if appointment.end else None,
        "title": appointment.title,
        "status": str(status) if status else None,
    }

"""Reading GHL's webhook payloads: every documented example, the seed's shapes, the channels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.ghl import payloads as ghl_webhooks
from application.ports.crm import MessageType
from domain.booking import BookingStatus
from domain.lead import LeadStatus
from tests.unit.webhook_handlers.support import reference_payload


@pytest.mark.parametrize(
    ("name", "contact_id"),
    [
        ("ContactCreate", "nmFmQEsNgz6AVpgLVUJ0"),
        ("ContactUpdate", "nmFmQEsNgz6AVpgLVUJ0"),
        ("ContactDelete", "nmFmQEsNgz6AVpgLVUJ0"),
        ("ContactTagUpdate", "nmFmQEsNgz6AVpgLVUJ0"),
        ("ContactDndUpdate", "nmFmQEsNgz6AVpgLVUJ0"),
    ],
)
def test_every_contact_example_reads_as_its_contact(name: str, contact_id: str) -> None:
    contact = ghl_webhooks.contact(reference_payload(name))

    assert contact is not None
    assert (contact.id, contact.email, contact.date_added) == (
        contact_id,
        "JohnDeo@gmail.comm",
        datetime(2021, 11, 26, 12, 41, 2, 193000, tzinfo=UTC),
    )


@pytest.mark.parametrize("name", ["AppointmentCreate", "AppointmentUpdate", "AppointmentDelete"])
def test_every_appointment_example_reads_its_nested_appointment(name: str) -> None:
    appointment = ghl_webhooks.appointment(reference_payload(name))

    assert appointment is not None
    assert (appointment.id, appointment.calendar_id, appointment.status) == (
        "0007BWpSzSwfiuSl0tR2",
        "BqTwX8QFwXzpegMve9EQ",
        "confirmed",
    )
    assert appointment.start is not None
    assert appointment.start.utcoffset() is not None


@pytest.mark.parametrize("name", ["OpportunityUpdate", "OpportunityStatusUpdate"])
def test_an_opportunitys_creation_date_is_never_taken_for_its_change(name: str) -> None:
    opportunity = ghl_webhooks.opportunity(reference_payload(name))

    assert opportunity is not None
    assert (opportunity.contact_id, opportunity.status) == ("cJAWDskpkJHbRbhAT7bs", "open")
    assert opportunity.updated_at is None


def test_the_events_timestamp_dates_an_opportunity_change() -> None:
    payload = reference_payload("OpportunityUpdate") | {"timestamp": "2026-01-02T03:04:05.000Z"}

    opportunity = ghl_webhooks.opportunity(payload)

    assert opportunity is not None
    assert opportunity.updated_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "direction", "send_type"),
    [
        ("InboundMessage", "inbound", MessageType.SMS),
        ("InboundMessage-email", "inbound", MessageType.EMAIL),
        ("InboundMessage-call", "inbound", None),
        ("InboundMessage-voicemail", "inbound", None),
        ("OutboundMessage", "inbound", MessageType.SMS),
        ("OutboundMessage-voicemail-workflow", "outbound", None),
    ],
)
def test_every_message_example_reads_with_its_direction_and_answerable_channel(
    name: str, direction: str, send_type: MessageType | None
) -> None:
    message = ghl_webhooks.message(reference_payload(name))

    assert message is not None
    assert message.direction == direction
    assert message.send_type == send_type


@pytest.mark.parametrize(
    ("message_type", "send_type"),
    [
        ("TYPE_SMS", MessageType.SMS),
        ("WhatsApp", MessageType.WHATSAPP),
        ("Live_Chat", MessageType.LIVE_CHAT),
        ("IG", MessageType.INSTAGRAM),
        ("GMB", None),
        ("VoiceMail", None),
    ],
)
def test_message_types_map_to_the_send_type_of_the_same_channel(
    message_type: str, send_type: MessageType | None
) -> None:
    message = ghl_webhooks.message({"contactId": "c", "messageType": message_type})

    assert message is not None
    assert message.send_type == send_type


def test_a_message_keeps_its_identity_across_deliveries_only_with_a_time_or_an_id() -> None:
    with_id = ghl_webhooks.message({"contactId": "c", "messageId": "m-1", "body": "hi"})
    dated = ghl_webhooks.message({"contactId": "c", "body": "hi", "dateAdded": "2026-01-01T00:00Z"})
    undated = ghl_webhooks.message({"contactId": "c", "body": "hi"})
    assert with_id is not None
    assert dated is not None
    assert undated is not None

    assert ghl_webhooks.message_key(with_id, delivery_id="d-1") == "ghl:m-1"
    assert ghl_webhooks.message_key(dated, delivery_id="d-1") == ghl_webhooks.message_key(
        dated, delivery_id="d-2"
    )
    assert ghl_webhooks.message_key(undated, delivery_id="d-1") != ghl_webhooks.message_key(
        undated, delivery_id="d-2"
    )


def test_fields_under_a_data_envelope_are_read() -> None:
    contact = ghl_webhooks.contact({"type": "ContactCreate", "data": {"id": "c-1", "email": "a@b"}})

    assert contact is not None
    assert (contact.id, contact.email) == ("c-1", "a@b")


def test_a_full_name_alone_is_split_into_first_and_last() -> None:
    contact = ghl_webhooks.contact({"id": "c-1", "name": "Ada King Lovelace"})
    assert contact is not None

    details = ghl_webhooks.contact_details(contact)

    assert (details.first_name, details.last_name) == ("Ada", "King Lovelace")


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("new", BookingStatus.BOOKED),
        ("confirmed", BookingStatus.CONFIRMED),
        ("cancelled", BookingStatus.CANCELLED),
        ("showed", BookingStatus.SHOWED),
        ("noshow", BookingStatus.NO_SHOW),
        ("invalid", BookingStatus.INVALID),
        ("completed", BookingStatus.SHOWED),
        ("mystery", None),
        (None, None),
    ],
)
def test_appointment_statuses_map_to_booking_statuses(
    value: str | None, status: BookingStatus | None
) -> None:
    assert ghl_webhooks.booking_status(value) is status


@pytest.mark.parametrize(
    ("value", "status"),
    [("won", LeadStatus.WON), ("LOST", LeadStatus.LOST), ("all", None), (None, None)],
)
def test_opportunity_statuses_map_to_lead_statuses(
    value: str | None, status: LeadStatus | None
) -> None:
    assert ghl_webhooks.lead_status(value) is status

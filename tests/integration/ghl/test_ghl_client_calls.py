"""HttpGhlClient against the fake GHL over loopback HTTP: every method of the port."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from adapters.ghl.client import HttpGhlClient
from adapters.ghl.fake.seed import DEFAULT_SEED, DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from application.ports import ProviderCall
from application.ports.crm import (
    AppointmentChanges,
    AppointmentStatus,
    ContactFields,
    CustomFieldValue,
    MessageType,
    NewAppointment,
    OpportunityStatus,
    OutgoingMessage,
)
from domain.errors import InvalidArgumentError, NotFoundError, ProviderError
from tests.integration.ghl.support import MakeClient, RunningFake, StartFake, pit_auth

CALENDAR_ID = "fakeCalendar00000001"
CHICAGO = ZoneInfo("America/Chicago")
# A Monday: the demo calendar is open weekdays 9:00 to 17:00 Chicago time, 30-minute slots.
MONDAY = datetime(2030, 3, 4, tzinfo=CHICAGO)


async def test_get_location_returns_the_location_of_the_token(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    location = await client.get_account(auth)

    assert location.id == DEMO_LOCATION_ID
    assert location.name == "Fake Dental Clinic"
    assert location.timezone == "America/Chicago"
    assert location.allow_duplicate_contact is False


async def test_each_endpoint_family_is_called_with_its_version_header(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    await client.get_account(auth)
    await client.list_calendars(auth)
    await client.get_opportunity(auth, "fakeOpportunity00001")

    versions = {r.path.split("/")[1]: r.version for r in running.fake.log}
    assert versions == {
        "locations": "2021-07-28",
        "calendars": "2021-04-15",
        "opportunities": "2021-07-28",
    }


async def test_a_contact_goes_through_create_get_update_and_delete(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    created = await client.create_contact(
        auth,
        ContactFields(
            first_name="Grace",
            last_name="Hopper",
            email="grace@example.com",
            phone="+13125550123",
            company_name="Navy",
            tags=("vip",),
            custom_fields=(CustomFieldValue("cf1", "blue"),),
        ),
    )
    assert created.id
    assert created.location_id == DEMO_LOCATION_ID
    assert created.name == "Grace Hopper"
    assert created.custom_fields == (CustomFieldValue("cf1", "blue"),)
    assert created.date_added is not None
    assert created.date_added.tzinfo is not None

    fetched = await client.get_contact(auth, created.id)
    assert fetched.email == "grace@example.com"
    assert fetched.company_name == "Navy"
    assert fetched.tags == ("vip",)

    updated = await client.update_contact(
        auth, created.id, ContactFields(city="Arlington", tags=("vip", "admiral"))
    )
    assert updated.city == "Arlington"
    assert updated.tags == ("vip", "admiral")
    assert updated.email == "grace@example.com"

    await client.delete_contact(auth, created.id)
    with pytest.raises(NotFoundError) as raised:
        await client.get_contact(auth, created.id)
    assert raised.value.resource == "contact"
    assert raised.value.metadata["trace_id"]


async def test_a_company_name_change_on_update_is_refused_before_calling_ghl(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    # UpdateContactDto has no companyName: GHL would reject it.
    with pytest.raises(InvalidArgumentError):
        await client.update_contact(auth, "fakeContact000000001", ContactFields(company_name="X"))
    assert running.fake.log == []


async def test_a_duplicate_create_is_refused_with_ghls_message(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    with pytest.raises(ProviderError) as raised:
        await client.create_contact(auth, ContactFields(email="ADA@example.com"))

    assert raised.value.message == "This location does not allow duplicated contacts."
    assert raised.value.trace_id


async def test_upsert_updates_the_matching_contact_and_creates_a_new_one(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    existing = await client.upsert_contact(
        auth, ContactFields(email="ada@example.com", city="London")
    )
    assert existing.created is False
    assert existing.contact.id == "fakeContact000000001"
    assert existing.contact.city == "London"

    fresh = await client.upsert_contact(auth, ContactFields(email="new@example.com"))
    assert fresh.created is True
    assert fresh.contact.id != existing.contact.id

    again = await client.upsert_contact(auth, ContactFields(email="new@example.com"))
    assert again.created is False
    assert again.contact.id == fresh.contact.id


async def test_contact_search_pages_through_every_contact_once(
    start_fake: StartFake, make_client: MakeClient
) -> None:
    seed = dict(DEFAULT_SEED)
    seed["contacts"] = [
        {
            "id": f"contact{i:013d}",
            "locationId": DEMO_LOCATION_ID,
            "email": f"c{i}@example.com",
            "dateAdded": f"2026-01-{i + 1:02d}T00:00:00.000Z",
        }
        for i in range(5)
    ]
    running = await start_fake(seed=seed)
    client, auth = make_client(running), pit_auth()

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await client.search_contacts(auth, page_size=2, cursor=cursor)
        pages += 1
        assert page.total == 5
        seen.extend(c.id for c in page.contacts)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert pages == 3
    assert seen == [f"contact{i:013d}" for i in range(5)]


async def test_contact_search_filters_by_query(client: HttpGhlClient, auth: ProviderCall) -> None:
    page = await client.search_contacts(auth, query="lovelace")

    assert [c.email for c in page.contacts] == ["ada@example.com"]
    assert page.next_cursor is None


async def test_a_bad_search_cursor_or_page_size_is_refused_before_calling_ghl(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    with pytest.raises(InvalidArgumentError):
        await client.search_contacts(auth, cursor="not-a-cursor")
    with pytest.raises(InvalidArgumentError):
        await client.search_contacts(auth, page_size=501)
    assert running.fake.log == []


async def test_list_calendars_returns_the_locations_calendars(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    calendars = await client.list_calendars(auth)

    assert [(c.id, c.name, c.slot_duration_minutes) for c in calendars] == [
        (CALENDAR_ID, "Cleanings", 30)
    ]


async def test_free_slots_are_keyed_by_local_date_in_the_asked_timezone(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    slots = await client.get_free_slots(
        auth, CALENDAR_ID, start=MONDAY, end=MONDAY + timedelta(days=2), timezone="America/Chicago"
    )

    assert sorted(slots.days) == [date(2030, 3, 4), date(2030, 3, 5)]
    monday = slots.days[date(2030, 3, 4)]
    assert len(monday) == 16  # 9:00 to 16:30, every 30 minutes
    assert monday[0] == MONDAY.replace(hour=9)
    assert monday[0].utcoffset() == timedelta(hours=-6)
    request = running.fake.log[-1]
    assert request.path == f"/calendars/{CALENDAR_ID}/free-slots"


async def test_free_slots_in_another_timezone_shift_the_local_dates(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    slots = await client.get_free_slots(
        auth, CALENDAR_ID, start=MONDAY, end=MONDAY + timedelta(days=1), timezone="Asia/Tokyo"
    )

    # 9:00-16:30 in Chicago on Monday is 0:00-7:30 on Tuesday in Tokyo.
    assert list(slots.days) == [date(2030, 3, 5)]
    assert slots.days[date(2030, 3, 5)][0].isoformat() == "2030-03-05T00:00:00+09:00"


async def test_a_free_slot_range_over_31_days_is_refused_before_calling_ghl(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        await client.get_free_slots(
            auth, CALENDAR_ID, start=MONDAY, end=MONDAY + timedelta(days=32), timezone="UTC"
        )

    assert [v.field for v in raised.value.violations] == ["end_time"]
    assert running.fake.log == []


async def test_a_block_slot_takes_its_time_out_of_the_free_slots(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    start = MONDAY.replace(hour=10)
    block = await client.create_block_slot(
        auth, CALENDAR_ID, start=start, end=start + timedelta(hours=1), title="Lunch"
    )
    assert block.id
    assert block.calendar_id == CALENDAR_ID
    assert block.start == start
    assert block.title == "Lunch"

    slots = await client.get_free_slots(
        auth, CALENDAR_ID, start=MONDAY, end=MONDAY + timedelta(days=1), timezone="America/Chicago"
    )
    free = slots.days[date(2030, 3, 4)]
    assert start not in free
    assert start + timedelta(minutes=30) not in free
    assert start + timedelta(hours=1) in free


async def test_an_appointment_is_created_read_and_updated(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    start = MONDAY.replace(hour=11)
    created = await client.create_appointment(
        auth,
        NewAppointment(
            calendar_id=CALENDAR_ID,
            contact_id="fakeContact000000001",
            start=start,
            end=start + timedelta(minutes=30),
            title="Cleaning",
            status=AppointmentStatus.CONFIRMED,
        ),
    )
    assert created.id
    assert created.start == start
    assert created.status == "confirmed"

    fetched = await client.get_appointment(auth, created.id)
    assert fetched.contact_id == "fakeContact000000001"
    assert fetched.title == "Cleaning"
    assert fetched.date_added is not None

    moved = await client.update_appointment(
        auth,
        created.id,
        AppointmentChanges(start=start + timedelta(hours=2), end=start + timedelta(hours=2.5)),
    )
    assert moved.start == start + timedelta(hours=2)
    cancelled = await client.update_appointment(
        auth, created.id, AppointmentChanges(status=AppointmentStatus.CANCELLED)
    )
    assert cancelled.status == "cancelled"


async def test_booking_a_taken_slot_is_refused_with_ghls_message(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    appointment = NewAppointment(
        calendar_id=CALENDAR_ID, contact_id="fakeContact000000001", start=MONDAY.replace(hour=9)
    )
    await client.create_appointment(auth, appointment)

    with pytest.raises(ProviderError) as raised:
        await client.create_appointment(auth, appointment)
    assert "no longer available" in raised.value.message


async def test_get_appointment_of_an_unknown_id_is_not_found(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    with pytest.raises(NotFoundError):
        await client.get_appointment(auth, "nope")


async def test_send_message_queues_an_sms_in_the_contacts_conversation(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake
) -> None:
    sent = await client.send_message(
        auth,
        OutgoingMessage(type=MessageType.SMS, contact_id="fakeContact000000001", message="Hi!"),
    )
    again = await client.send_message(
        auth,
        OutgoingMessage(type=MessageType.SMS, contact_id="fakeContact000000001", message="Hi?"),
    )

    assert sent.conversation_id == again.conversation_id
    assert sent.message_id != again.message_id
    assert running.fake.state.messages[sent.message_id]["body"] == "Hi!"


@pytest.mark.parametrize("message_type", list(MessageType))
async def test_each_message_type_is_sent_with_its_sub_type(
    client: HttpGhlClient, auth: ProviderCall, running: RunningFake, message_type: MessageType
) -> None:
    sent = await client.send_message(
        auth, OutgoingMessage(type=message_type, contact_id="fakeContact000000001", message="Hi")
    )

    stored = running.fake.state.messages[sent.message_id]
    assert (stored["type"], stored["subType"]) == (message_type.value, message_type.value)


@pytest.mark.parametrize("missing", ["subType", "status"])
async def test_the_fake_refuses_a_message_without_a_field_the_current_spec_requires(
    start_fake: StartFake, missing: str
) -> None:
    # Refused by the fake itself, not only by its contract check (which needs GHL's specs).
    running = await start_fake(validate_requests_against=None)
    body = {
        "type": "SMS",
        "subType": "SMS",
        "status": "pending",
        "contactId": "fakeContact000000001",
        "message": "Hi",
    }
    del body[missing]
    headers = {"Authorization": f"Bearer {DEMO_PRIVATE_TOKEN}", "Version": "2021-04-15"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{running.url}/conversations/messages", json=body, headers=headers) as resp,
    ):
        answer = await resp.json()

    assert resp.status == 422
    assert answer["message"] == [f"{missing} should not be empty"]
    assert running.fake.state.messages == {}


async def test_an_opportunity_is_read_and_its_status_changed(
    client: HttpGhlClient, auth: ProviderCall
) -> None:
    opportunity = await client.get_opportunity(auth, "fakeOpportunity00001")
    assert opportunity.status == "open"
    assert opportunity.monetary_value == 450.0

    await client.update_opportunity_status(auth, "fakeOpportunity00001", OpportunityStatus.WON)

    won = await client.get_opportunity(auth, "fakeOpportunity00001")
    assert won.status == "won"
    assert won.updated_at is not None
    assert won.updated_at > datetime(2026, 1, 6, tzinfo=UTC)

"""LeadService over a real server: resources as callers see them, filters, pages and who may see
what."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from domain.lead import LeadStatus
from integrations.v1 import lead_pb2
from integrations.v1 import lead_service_pb2 as pb
from tests.entrypoints.grpc.conftest import OTHER_TENANT, admin_md, other_user_md, rejected, user_md
from tests.entrypoints.leads.conftest import Store, Stubs, violated_fields
from tests.integration.persistence.leads_support import a_booking, a_lead
from tests.support.builders import NOW

ALL = "integrations/-"


def _parent(store: Store) -> str:
    return f"integrations/{store.ours.id}"


def _stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def test_a_user_reads_its_leads_with_the_fields_the_platform_needs(
    stubs: Stubs, store: Store
) -> None:
    lead = a_lead(
        store.ours,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+13125550101",
        company="Analytical Engines",
        address1="1 Main St",
        postal_code="60601",
    )
    await store.add(lead)

    listed = await stubs.leads.ListLeads(
        pb.ListLeadsRequest(parent=_parent(store)), metadata=user_md()
    )
    got = await stubs.leads.GetLead(
        pb.GetLeadRequest(name=f"{_parent(store)}/leads/{lead.id}"), metadata=user_md()
    )

    assert list(listed.leads) == [got.lead]
    assert listed.next_page_token == ""
    expected = lead_pb2.Lead(
        name=f"{_parent(store)}/leads/{lead.id}",
        sub_account_id=store.ours.sub_account_id,
        external_id="contact-1",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+13125550101",
        company="Analytical Engines",
        time_zone="America/Chicago",
        state=lead_pb2.Lead.STATE_OPEN,
        assigned_user_id="u-1",
        strategy_id="st-1",
        external_update_time=_stamp(NOW - timedelta(days=1)),
        create_time=_stamp(NOW),
        update_time=_stamp(NOW),
        etag='W/"1"',
    )
    # Every field: the address, kept to detect the time zone, never leaves the service.
    assert got.lead == expected


async def test_another_tenants_integration_and_leads_are_not_found(
    stubs: Stubs, store: Store
) -> None:
    theirs = a_lead(store.theirs, "their-contact")
    await store.add(theirs)
    their_lead = f"integrations/{store.theirs.id}/leads/{theirs.id}"

    listing = await rejected(
        stubs.leads.ListLeads(
            pb.ListLeadsRequest(parent=f"integrations/{store.theirs.id}"), metadata=user_md()
        )
    )
    getting = await rejected(
        stubs.leads.GetLead(pb.GetLeadRequest(name=their_lead), metadata=user_md())
    )
    # Under an integration the caller sees, another integration's lead is not found either.
    misfiled = await rejected(
        stubs.leads.GetLead(
            pb.GetLeadRequest(name=f"{_parent(store)}/leads/{theirs.id}"), metadata=admin_md()
        )
    )
    bookings = await rejected(
        stubs.leads.ListBookings(
            pb.ListBookingsRequest(parent=f"integrations/{store.theirs.id}"), metadata=user_md()
        )
    )

    for rejection in (listing, getting, misfiled, bookings):
        assert rejection.code == grpc.StatusCode.NOT_FOUND
        assert rejection.error_info.reason == "NOT_FOUND"
    found = await stubs.leads.GetLead(pb.GetLeadRequest(name=their_lead), metadata=other_user_md())
    assert found.lead.external_id == "their-contact"


async def test_listing_every_integration_shows_a_user_its_own_sub_account_only(
    stubs: Stubs, store: Store
) -> None:
    ours, theirs = a_lead(store.ours, "ours"), a_lead(store.theirs, "theirs")
    await store.add(ours, theirs)

    users = await stubs.leads.ListLeads(pb.ListLeadsRequest(parent=ALL), metadata=user_md())
    admins = await stubs.leads.ListLeads(pb.ListLeadsRequest(parent=ALL), metadata=admin_md())
    one_tenant = await stubs.leads.ListLeads(
        pb.ListLeadsRequest(parent=ALL, sub_account_id=OTHER_TENANT), metadata=admin_md()
    )
    refused = await rejected(
        stubs.leads.ListLeads(
            pb.ListLeadsRequest(parent=ALL, sub_account_id=OTHER_TENANT), metadata=user_md()
        )
    )

    assert [lead.external_id for lead in users.leads] == ["ours"]
    assert [lead.external_id for lead in admins.leads] == ["ours", "theirs"]
    assert [lead.external_id for lead in one_tenant.leads] == ["theirs"]
    assert refused.code == grpc.StatusCode.PERMISSION_DENIED


async def test_leads_are_filtered_by_state_and_deleted_ones_are_shown_on_request(
    stubs: Stubs, store: Store
) -> None:
    open_lead, won, gone = (a_lead(store.ours, name) for name in ("open", "won", "gone"))
    won.change_status(LeadStatus.WON, now=NOW)
    gone.mark_deleted(now=NOW)
    await store.add(open_lead, won, gone)
    parent = _parent(store)

    default = await stubs.leads.ListLeads(pb.ListLeadsRequest(parent=parent), metadata=user_md())
    won_only = await stubs.leads.ListLeads(
        pb.ListLeadsRequest(parent=parent, states=[lead_pb2.Lead.STATE_WON]), metadata=user_md()
    )
    with_deleted = await stubs.leads.ListLeads(
        pb.ListLeadsRequest(parent=parent, show_deleted=True), metadata=user_md()
    )
    deleted = await stubs.leads.GetLead(
        pb.GetLeadRequest(name=f"{parent}/leads/{gone.id}"), metadata=user_md()
    )
    unknown_state = await rejected(
        stubs.leads.ListLeads(
            pb.ListLeadsRequest(parent=parent, states=[lead_pb2.Lead.STATE_UNSPECIFIED]),
            metadata=user_md(),
        )
    )

    assert [lead.external_id for lead in default.leads] == ["open", "won"]
    assert [(lead.external_id, lead.state) for lead in won_only.leads] == [
        ("won", lead_pb2.Lead.STATE_WON)
    ]
    assert [lead.external_id for lead in with_deleted.leads] == ["open", "won", "gone"]
    assert deleted.lead.deleted
    assert unknown_state.code == grpc.StatusCode.INVALID_ARGUMENT


async def test_leads_come_in_pages_whose_tokens_are_bound_to_the_filters(
    stubs: Stubs, store: Store
) -> None:
    await store.add(*(a_lead(store.ours, f"contact-{n}") for n in range(3)))
    parent = _parent(store)

    first = await stubs.leads.ListLeads(
        pb.ListLeadsRequest(parent=parent, page_size=2), metadata=user_md()
    )
    second = await stubs.leads.ListLeads(
        pb.ListLeadsRequest(parent=parent, page_size=2, page_token=first.next_page_token),
        metadata=user_md(),
    )
    other_filter = await rejected(
        stubs.leads.ListLeads(
            pb.ListLeadsRequest(parent=parent, show_deleted=True, page_token=first.next_page_token),
            metadata=user_md(),
        )
    )

    assert [lead.external_id for lead in first.leads] == ["contact-0", "contact-1"]
    assert [lead.external_id for lead in second.leads] == ["contact-2"]
    assert second.next_page_token == ""
    assert other_filter.code == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(other_filter) == ["page_token"]


async def test_malformed_names_are_invalid_arguments_naming_the_field(
    stubs: Stubs, store: Store
) -> None:
    calls: list[grpc.aio.UnaryUnaryCall[Any, Any]] = [
        stubs.leads.GetLead(pb.GetLeadRequest(name=_parent(store)), metadata=user_md()),
        stubs.leads.GetLead(
            pb.GetLeadRequest(name=f"{_parent(store)}/bookings/x"), metadata=user_md()
        ),
        stubs.leads.ListLeads(pb.ListLeadsRequest(parent="leads/-"), metadata=user_md()),
        # Bookings are listed one integration at a time.
        stubs.leads.ListBookings(pb.ListBookingsRequest(parent=ALL), metadata=user_md()),
    ]

    fields = []
    for call in calls:
        rejection = await rejected(call)
        assert rejection.code == grpc.StatusCode.INVALID_ARGUMENT
        fields += violated_fields(rejection)

    assert fields == ["name", "name", "parent", "parent"]


async def test_bookings_are_listed_with_their_lead_and_filtered_by_a_time_window(
    stubs: Stubs, store: Store
) -> None:
    lead = a_lead(store.ours)
    booked = a_booking(store.ours, "appt-1", lead_id=lead.id)  # NOW + 3 days, 30 minutes
    later = a_booking(store.ours, "appt-2")
    later.sync(
        details=type(later.details)(
            calendar_id="cal-1",
            contact_external_id="someone-else",
            start=booked.details.start + timedelta(days=7),
            end=booked.details.start + timedelta(days=7, hours=1),
        ),
        now=NOW,
    )
    await store.add(lead, booked, later)
    start = booked.details.start

    every = await stubs.leads.ListBookings(
        pb.ListBookingsRequest(parent=_parent(store)), metadata=user_md()
    )
    that_day = await stubs.leads.ListBookings(
        pb.ListBookingsRequest(
            parent=_parent(store),
            start_time=_stamp(start - timedelta(hours=1)),
            end_time=_stamp(start + timedelta(days=1)),
        ),
        metadata=user_md(),
    )
    backwards = await rejected(
        stubs.leads.ListBookings(
            pb.ListBookingsRequest(
                parent=_parent(store), start_time=_stamp(start), end_time=_stamp(start)
            ),
            metadata=user_md(),
        )
    )

    assert [b.external_id for b in every.bookings] == ["appt-1", "appt-2"]
    [booking] = that_day.bookings
    assert booking.name == f"{_parent(store)}/bookings/{booked.id}"
    assert booking.lead == f"{_parent(store)}/leads/{lead.id}"
    assert (booking.calendar_id, booking.contact_external_id, booking.title) == (
        "cal-1",
        "contact-1",
        "Cleaning",
    )
    assert booking.start_time == _stamp(start)
    assert booking.end_time == _stamp(start + timedelta(minutes=30))
    assert booking.state == lead_pb2.Booking.STATE_BOOKED
    assert booking.etag == 'W/"1"'
    assert every.bookings[1].lead == ""
    assert backwards.code == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(backwards) == ["end_time"]


async def test_calls_without_a_token_are_unauthenticated(stubs: Stubs, store: Store) -> None:
    rejection = await rejected(stubs.leads.ListLeads(pb.ListLeadsRequest(parent=ALL)))

    assert rejection.code == grpc.StatusCode.UNAUTHENTICATED

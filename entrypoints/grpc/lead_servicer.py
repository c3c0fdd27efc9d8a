"""LeadService: the leads and bookings synced from the providers, over gRPC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf import timestamp_pb2

from application.dto import BookingView, LeadView
from application.use_cases.cancel_booking import CancelBooking, CancelBookingCommand
from application.use_cases.create_booking import CreateBooking, CreateBookingCommand
from application.use_cases.create_lead import CreateLead, CreateLeadCommand
from application.use_cases.get_lead import GetLead, GetLeadQuery, ListLeads, ListLeadsQuery
from application.use_cases.list_bookings import ListBookings, ListBookingsQuery
from application.use_cases.update_lead import UpdateLead, UpdateLeadCommand
from domain.booking import BookingStatus
from domain.lead import ContactDetails, LeadStatus
from entrypoints.grpc import mappers
from entrypoints.grpc.errors import request_fields
from entrypoints.grpc.interceptors import current_principal
from entrypoints.grpc.pagination import PageTokens, Scope
from integrations.v1 import lead_pb2, lead_service_pb2
from integrations.v1 import lead_service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

_LEADS = "/leads/"
_BOOKINGS = "/bookings/"

LeadState = lead_pb2.Lead.State
LEAD_STATES: Mapping[LeadStatus, LeadState.ValueType] = {
    LeadStatus.OPEN: LeadState.STATE_OPEN,
    LeadStatus.WON: LeadState.STATE_WON,
    LeadStatus.LOST: LeadState.STATE_LOST,
    LeadStatus.ABANDONED: LeadState.STATE_ABANDONED,
}
_LEAD_STATUSES: Mapping[int, LeadStatus] = {int(v): k for k, v in LEAD_STATES.items()}

BookingState = lead_pb2.Booking.State
BOOKING_STATES: Mapping[BookingStatus, BookingState.ValueType] = {
    BookingStatus.BOOKED: BookingState.STATE_BOOKED,
    BookingStatus.CONFIRMED: BookingState.STATE_CONFIRMED,
    BookingStatus.CANCELLED: BookingState.STATE_CANCELLED,
    BookingStatus.SHOWED: BookingState.STATE_SHOWED,
    BookingStatus.NO_SHOW: BookingState.STATE_NO_SHOW,
    BookingStatus.INVALID: BookingState.STATE_INVALID,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadUseCases:
    """Every use case LeadService calls, built by the composition root."""

    list_leads: ListLeads
    get_lead: GetLead
    list_bookings: ListBookings
    create_lead: CreateLead | None = None
    """None (this and the three below): the RPC answers UNIMPLEMENTED."""
    update_lead: UpdateLead | None = None
    create_booking: CreateBooking | None = None
    cancel_booking: CancelBooking | None = None


class LeadServiceServicer(pb_grpc.LeadServiceServicer):
    """Thin, like IntegrationServiceServicer: the interceptors authenticate and map errors."""

    def __init__(self, use_cases: LeadUseCases, page_tokens: PageTokens) -> None:
        self._uc = use_cases
        self._pages = page_tokens

    async def ListLeads(
        self, request: lead_service_pb2.ListLeadsRequest, context: Context
    ) -> lead_service_pb2.ListLeadsResponse:
        integration_id = mappers.integration_parent_of(request.parent)
        statuses = frozenset(_lead_status_of(s) for s in request.states)
        scope: Scope = {
            "method": "ListLeads",
            "parent": request.parent,
            "sub_account_id": request.sub_account_id,
            "states": sorted(s.value for s in statuses),
            "show_deleted": str(request.show_deleted),
        }
        page = await self._uc.list_leads.execute(
            ListLeadsQuery(
                actor=current_principal(),
                page=self._pages.request(
                    size=request.page_size, token=request.page_token, scope=scope
                ),
                integration_id=integration_id,
                sub_account_id=request.sub_account_id or None,
                statuses=statuses,
                include_deleted=request.show_deleted,
            )
        )
        return lead_service_pb2.ListLeadsResponse(
            leads=[lead_to_proto(lead) for lead in page.items],
            next_page_token=self._pages.next_token(page.next_after_id, scope),
        )

    async def GetLead(
        self, request: lead_service_pb2.GetLeadRequest, context: Context
    ) -> lead_service_pb2.GetLeadResponse:
        integration_id, lead_id = lead_ids_of(request.name)
        view = await self._uc.get_lead.execute(
            GetLeadQuery(actor=current_principal(), integration_id=integration_id, lead_id=lead_id)
        )
        return lead_service_pb2.GetLeadResponse(lead=lead_to_proto(view))

    async def ListBookings(
        self, request: lead_service_pb2.ListBookingsRequest, context: Context
    ) -> lead_service_pb2.ListBookingsResponse:
        integration_id = mappers.integration_id_of(request.parent, field="parent")
        start = mappers.optional_moment_of(
            request.start_time, field="start_time", present=request.HasField("start_time")
        )
        end = mappers.optional_moment_of(
            request.end_time, field="end_time", present=request.HasField("end_time")
        )
        scope: Scope = {
            "method": "ListBookings",
            "parent": request.parent,
            "start_time": start.isoformat() if start else "",
            "end_time": end.isoformat() if end else "",
        }
        with request_fields({"window_start": "start_time", "window_end": "end_time"}):
            page = await self._uc.list_bookings.execute(
                ListBookingsQuery(
                    actor=current_principal(),
                    page=self._pages.request(
                        size=request.page_size, token=request.page_token, scope=scope
                    ),
                    integration_id=integration_id,
                    window_start=start,
                    window_end=end,
                )
            )
        return lead_service_pb2.ListBookingsResponse(
            bookings=[booking_to_proto(b) for b in page.items],
            next_page_token=self._pages.next_token(page.next_after_id, scope),
        )

    # --- changes made here, pushed to the provider (application.use_cases.push_changes) ----

    async def CreateLead(
        self, request: lead_service_pb2.CreateLeadRequest, context: Context
    ) -> lead_service_pb2.CreateLeadResponse:
        if self._uc.create_lead is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "creating leads is not set up")
        lead = request.lead
        with request_fields(_LEAD_FIELDS):
            view = await self._uc.create_lead.execute(
                CreateLeadCommand(
                    actor=current_principal(),
                    integration_id=mappers.integration_id_of(request.parent, field="parent"),
                    details=ContactDetails(
                        first_name=lead.first_name or None,
                        last_name=lead.last_name or None,
                        email=lead.email or None,
                        phone=lead.phone or None,
                        company=lead.company or None,
                    ),
                    assigned_user_id=lead.assigned_user_id or None,
                    strategy_id=lead.strategy_id or None,
                    request_id=request.request_id or None,
                )
            )
        return lead_service_pb2.CreateLeadResponse(lead=lead_to_proto(view))

    async def UpdateLead(
        self, request: lead_service_pb2.UpdateLeadRequest, context: Context
    ) -> lead_service_pb2.UpdateLeadResponse:
        if self._uc.update_lead is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "changing leads is not set up")
        lead = request.lead
        integration_id, lead_id = lead_ids_of(lead.name, field="lead.name")
        paths = list(request.update_mask.paths)
        if paths == ["*"]:
            # Everything a caller may set; the state only when it names one.
            paths = [*_CONTACT, *([_STATE] if lead.state else [])]
        bad = [p for p in paths if p not in (*_CONTACT, _STATE)]
        if bad or not paths:
            raise mappers.invalid(
                "update_mask", f"must name fields among {', '.join((*_CONTACT, _STATE))} (or *)"
            )
        changes: dict[str, object] = {p: getattr(lead, p) or None for p in paths if p != _STATE}
        if _STATE in paths:
            status = _LEAD_STATUSES.get(lead.state)
            if status is None:
                raise mappers.invalid("lead.state", "must be a state (not STATE_UNSPECIFIED)")
            changes["status"] = status
        with request_fields(_LEAD_FIELDS):
            view = await self._uc.update_lead.execute(
                UpdateLeadCommand(
                    actor=current_principal(),
                    integration_id=integration_id,
                    lead_id=lead_id,
                    changes=changes,
                    expected_version=mappers.version_of(lead.etag, field="lead.etag"),
                )
            )
        return lead_service_pb2.UpdateLeadResponse(lead=lead_to_proto(view))

    async def CreateBooking(
        self, request: lead_service_pb2.CreateBookingRequest, context: Context
    ) -> lead_service_pb2.CreateBookingResponse:
        if self._uc.create_booking is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "booking is not set up")
        integration_id = mappers.integration_id_of(request.parent, field="parent")
        lead_integration, lead_id = lead_ids_of(request.lead, field="lead")
        if lead_integration != integration_id:
            raise mappers.invalid("lead", "must be a lead of the parent integration")
        booking = request.booking
        with request_fields(_BOOKING_FIELDS):
            view = await self._uc.create_booking.execute(
                CreateBookingCommand(
                    actor=current_principal(),
                    integration_id=integration_id,
                    lead_id=lead_id,
                    start=mappers.moment_of(
                        booking.start_time,
                        field="booking.start_time",
                        present=booking.HasField("start_time"),
                    ),
                    end=mappers.moment_of(
                        booking.end_time,
                        field="booking.end_time",
                        present=booking.HasField("end_time"),
                    ),
                    calendar_id=booking.calendar_id or None,
                    title=booking.title or None,
                    address=booking.address or None,
                    assigned_user_id=booking.external_user_id or None,
                    block_slot=request.block_slot,
                    ignore_free_slot_validation=request.ignore_free_slot_validation,
                    request_id=request.request_id or None,
                )
            )
        return lead_service_pb2.CreateBookingResponse(booking=booking_to_proto(view))

    async def CancelBooking(
        self, request: lead_service_pb2.CancelBookingRequest, context: Context
    ) -> lead_service_pb2.CancelBookingResponse:
        if self._uc.cancel_booking is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "cancelling is not set up")
        integration_id, booking_id = booking_ids_of(request.name)
        view = await self._uc.cancel_booking.execute(
            CancelBookingCommand(
                actor=current_principal(),
                integration_id=integration_id,
                booking_id=booking_id,
                expected_version=mappers.version_of(request.etag, field="etag"),
            )
        )
        return lead_service_pb2.CancelBookingResponse(booking=booking_to_proto(view))


# The lead's contact details a caller may set, named alike in the proto and ContactDetails.
_CONTACT = ("first_name", "last_name", "email", "phone", "company")
_STATE = "state"
"""The lead's status: set here, it goes to the lead's provider opportunity."""
_LEAD_FIELDS = {f: f"lead.{f}" for f in _CONTACT} | {"status": "lead.state"}
_BOOKING_FIELDS = {
    "calendar_id": "booking.calendar_id",
    "start": "booking.start_time",
    "end": "booking.end_time",
    "lead": "lead",
}


# --- names -----------------------------------------------------------------------------------


def lead_name(integration_id: str, lead_id: str) -> str:
    return mappers.integration_name(integration_id) + _LEADS + lead_id


def booking_name(integration_id: str, booking_id: str) -> str:
    return mappers.integration_name(integration_id) + _BOOKINGS + booking_id


def lead_ids_of(name: str, *, field: str = "name") -> tuple[str, str]:
    """(integration id, lead id) of `integrations/{integration}/leads/{lead}`."""
    return mappers.child_ids_of(name, "leads", field=field)


def booking_ids_of(name: str, *, field: str = "name") -> tuple[str, str]:
    """(integration id, booking id) of `integrations/{integration}/bookings/{booking}`."""
    return mappers.child_ids_of(name, "bookings", field=field)


def _lead_status_of(state: int) -> LeadStatus:
    status = _LEAD_STATUSES.get(state)
    if status is None:
        raise mappers.invalid("states", f"holds an unknown state {state}")
    return status


# --- resources -------------------------------------------------------------------------------


def _stamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def lead_to_proto(view: LeadView) -> lead_pb2.Lead:
    return lead_pb2.Lead(
        name=lead_name(view.integration_id, view.id),
        sub_account_id=view.sub_account_id,
        external_id=view.external_id,
        first_name=view.first_name or "",
        last_name=view.last_name or "",
        email=view.email or "",
        phone=view.phone or "",
        company=view.company or "",
        time_zone=view.timezone or "",
        state=LEAD_STATES[view.status],
        assigned_user_id=view.assigned_user_id or "",
        strategy_id=view.strategy_id or "",
        deleted=view.deleted,
        external_update_time=_stamp(view.external_updated_at),
        create_time=_stamp(view.created_at),
        update_time=_stamp(view.updated_at),
        etag=mappers.etag_of(view.version),
        merged_into=(
            lead_name(view.integration_id, view.merged_into_id) if view.merged_into_id else ""
        ),
        attribution=view.attribution,
    )


def booking_to_proto(view: BookingView) -> lead_pb2.Booking:
    return lead_pb2.Booking(
        name=booking_name(view.integration_id, view.id),
        sub_account_id=view.sub_account_id,
        external_id=view.external_id,
        calendar_id=view.calendar_id,
        contact_external_id=view.contact_external_id,
        lead=lead_name(view.integration_id, view.lead_id) if view.lead_id else "",
        title=view.title or "",
        start_time=_stamp(view.start),
        end_time=_stamp(view.end),
        state=BOOKING_STATES[view.status],
        external_user_id=view.external_user_id or "",
        address=view.address or "",
        deleted=view.deleted,
        external_update_time=_stamp(view.external_updated_at),
        create_time=_stamp(view.created_at),
        update_time=_stamp(view.updated_at),
        etag=mappers.etag_of(view.version),
    )

"""SyncIntegration, CreateLead, UpdateLead, CreateBooking and CancelBooking over gRPC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from domain.errors import ConnectionFailedError, InvalidCredentialsError
from domain.values import Role
from integrations.v1 import (
    integration_pb2,
    integration_service_pb2,
    lead_pb2,
    lead_service_pb2,
)
from tests.entrypoints.grpc.conftest import Metadata, bearer, rejected
from tests.entrypoints.sync.conftest import Stubs
from tests.unit.sync.support import START, SUB_ACCOUNT

INTEGRATION = "integrations/int-1"
RUN = integration_service_pb2.SyncRun.State


def service_md() -> Metadata:
    return bearer(Role.SERVICE, SUB_ACCOUNT)


def user_md() -> Metadata:
    return bearer(Role.USER, SUB_ACCOUNT)


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(moment)
    return value


async def sync(stubs: Stubs) -> integration_service_pb2.SyncIntegrationResponse:
    return await stubs.integrations.SyncIntegration(
        integration_service_pb2.SyncIntegrationRequest(name=INTEGRATION), metadata=service_md()
    )


async def create_lead(stubs: Stubs, first_name: str = "") -> lead_pb2.Lead:
    answer = await stubs.leads.CreateLead(
        lead_service_pb2.CreateLeadRequest(
            parent=INTEGRATION, lead=lead_pb2.Lead(first_name=first_name, email="neo@example.com")
        ),
        metadata=service_md(),
    )
    return answer.lead


async def test_sync_integration_runs_a_sync_and_answers_its_counts(stubs: Stubs) -> None:
    stubs.app.ghl.add_contact(first_name="Ada", email="ada@example.com")
    stubs.app.clock.advance(minutes=1)

    answer = await sync(stubs)

    run = answer.sync_run
    assert run.name.startswith(f"{INTEGRATION}/syncRuns/")
    assert (run.state, run.pulled_count, run.attempts, run.error_code) == (
        RUN.STATE_SUCCEEDED,
        1,
        1,
        "",
    )
    assert run.end_time.ToDatetime(UTC) == stubs.app.clock.now()
    assert answer.integration.state == integration_pb2.Integration.State.STATE_ACTIVE


async def test_a_failed_run_is_answered_with_its_error_and_the_integrations_new_state(
    stubs: Stubs,
) -> None:
    stubs.app.ghl.failures["search_contacts"] = [InvalidCredentialsError("token revoked")]

    answer = await sync(stubs)

    assert (answer.sync_run.state, answer.sync_run.error_code) == (
        RUN.STATE_FAILED,
        "INVALID_CREDENTIALS",
    )
    assert answer.integration.state == integration_pb2.Integration.State.STATE_ERROR


async def test_syncing_an_inactive_integration_is_a_failed_precondition(stubs: Stubs) -> None:
    stubs.app.ghl.failures["search_contacts"] = [ConnectionFailedError("down")] * 3
    await sync(stubs)  # the integration is in error now: still synced
    async with stubs.app.uow() as uow:
        integration = await uow.integrations.get("int-1")
        assert integration is not None
        integration.deactivate(now=stubs.app.clock.now())
        await uow.integrations.update(integration)
        await uow.commit()

    rejection = await rejected(
        stubs.integrations.SyncIntegration(
            integration_service_pb2.SyncIntegrationRequest(name=INTEGRATION),
            metadata=service_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.FAILED_PRECONDITION
    assert rejection.error_info.reason == "INTEGRATION_NOT_ACTIVE"


async def test_a_lead_created_over_grpc_gets_its_ghl_id_from_the_next_sync(stubs: Stubs) -> None:
    created = await create_lead(stubs, first_name="Neo")
    assert created.external_id == ""

    assert (await sync(stubs)).sync_run.pushed_count == 1

    got = await stubs.leads.GetLead(
        lead_service_pb2.GetLeadRequest(name=created.name), metadata=service_md()
    )
    [contact] = stubs.app.ghl.contacts.values()
    assert got.lead.external_id == contact.id
    assert contact.first_name == "Neo"


async def test_update_lead_changes_the_masked_fields_and_checks_the_etag(stubs: Stubs) -> None:
    created = await create_lead(stubs, first_name="Neo")

    updated = await stubs.leads.UpdateLead(
        lead_service_pb2.UpdateLeadRequest(
            lead=lead_pb2.Lead(name=created.name, etag=created.etag, company="Zion", phone="x"),
            update_mask=field_mask_pb2.FieldMask(paths=["company"]),
        ),
        metadata=service_md(),
    )

    assert (updated.lead.company, updated.lead.phone) == ("Zion", "")
    assert updated.lead.etag != created.etag
    stale = await rejected(
        stubs.leads.UpdateLead(
            lead_service_pb2.UpdateLeadRequest(
                lead=lead_pb2.Lead(name=created.name, etag=created.etag, company="Io"),
                update_mask=field_mask_pb2.FieldMask(paths=["company"]),
            ),
            metadata=service_md(),
        )
    )
    assert stale.code is grpc.StatusCode.ABORTED
    unknown = await rejected(
        stubs.leads.UpdateLead(
            lead_service_pb2.UpdateLeadRequest(
                lead=lead_pb2.Lead(name=created.name),
                update_mask=field_mask_pb2.FieldMask(paths=["assigned_user_id"]),
            ),
            metadata=service_md(),
        )
    )
    assert unknown.code is grpc.StatusCode.INVALID_ARGUMENT
    assert unknown.bad_request is not None
    assert [v.field for v in unknown.bad_request.field_violations] == ["update_mask"]


async def test_update_lead_sets_the_state_and_the_next_sync_takes_it_to_ghl(
    stubs: Stubs,
) -> None:
    created = await create_lead(stubs, first_name="Neo")
    await sync(stubs)

    updated = await stubs.leads.UpdateLead(
        lead_service_pb2.UpdateLeadRequest(
            lead=lead_pb2.Lead(name=created.name, state=lead_pb2.Lead.State.STATE_WON),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=service_md(),
    )
    assert updated.lead.state == lead_pb2.Lead.State.STATE_WON
    assert (await sync(stubs)).sync_run.pushed_count == 1

    [opportunity] = stubs.app.ghl.opportunities.values()
    assert (opportunity.status, opportunity.contact_id) == ("won", updated.lead.external_id)
    unspecified = await rejected(
        stubs.leads.UpdateLead(
            lead_service_pb2.UpdateLeadRequest(
                lead=lead_pb2.Lead(name=created.name),
                update_mask=field_mask_pb2.FieldMask(paths=["state"]),
            ),
            metadata=service_md(),
        )
    )
    assert unspecified.code is grpc.StatusCode.INVALID_ARGUMENT
    assert unspecified.bad_request is not None
    assert [v.field for v in unspecified.bad_request.field_violations] == ["lead.state"]


async def test_a_lead_without_email_or_phone_is_refused_naming_both_fields(stubs: Stubs) -> None:
    rejection = await rejected(
        stubs.leads.CreateLead(
            lead_service_pb2.CreateLeadRequest(
                parent=INTEGRATION, lead=lead_pb2.Lead(first_name="Nobody")
            ),
            metadata=service_md(),
        )
    )

    assert rejection.code is grpc.StatusCode.INVALID_ARGUMENT
    assert rejection.bad_request is not None
    assert [v.field for v in rejection.bad_request.field_violations] == [
        "lead.email",
        "lead.phone",
    ]


async def test_a_booking_is_created_and_cancelled_over_grpc_and_users_may_not(
    stubs: Stubs,
) -> None:
    lead = await create_lead(stubs)
    start = START + timedelta(days=1)
    request = lead_service_pb2.CreateBookingRequest(
        parent=INTEGRATION,
        lead=lead.name,
        booking=lead_pb2.Booking(
            start_time=stamp(start), end_time=stamp(start + timedelta(minutes=30)), title="Call"
        ),
    )

    denied = await rejected(stubs.leads.CreateBooking(request, metadata=user_md()))
    booked = (await stubs.leads.CreateBooking(request, metadata=service_md())).booking
    await sync(stubs)
    cancelled = await stubs.leads.CancelBooking(
        lead_service_pb2.CancelBookingRequest(name=booked.name), metadata=service_md()
    )
    await sync(stubs)

    assert denied.code is grpc.StatusCode.PERMISSION_DENIED
    assert (booked.calendar_id, booked.lead, booked.title) == ("cal-1", lead.name, "Call")
    assert cancelled.booking.state == lead_pb2.Booking.State.STATE_CANCELLED
    [appointment] = stubs.app.ghl.appointments.values()
    assert appointment.status == "cancelled"

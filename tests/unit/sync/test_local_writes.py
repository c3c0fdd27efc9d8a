"""CreateLead, UpdateLead, CreateBooking and CancelBooking: written here first, marked pending."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.ports.crm import ContactFields
from application.sync_records import ChangeOperation, ChangeStatus
from application.use_cases.cancel_booking import CancelBookingCommand
from application.use_cases.create_booking import CreateBookingCommand
from application.use_cases.create_lead import CreateLeadCommand
from application.use_cases.update_lead import UpdateLead, UpdateLeadCommand
from domain.errors import (
    ConcurrencyError,
    IntegrationNotActiveError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from domain.events import LeadCaptured, LeadStatusChanged, LeadUpdated
from domain.lead import ContactDetails, LeadStatus
from domain.values import Principal, Role
from tests.fakes import SequentialIds
from tests.unit.sync.support import SERVICE, START, Sync, make_sync, provider_call_of

NEO = ContactDetails(first_name="Neo", email="neo@example.com")


def create(app: Sync, actor: Principal = SERVICE, **kwargs: object) -> CreateLeadCommand:
    kwargs.setdefault("details", NEO)
    return CreateLeadCommand(actor=actor, integration_id=app.integration.id, **kwargs)  # type: ignore[arg-type]


async def test_a_created_lead_is_stored_pending_with_a_provisional_id_and_assigned(
    app: Sync,
) -> None:
    view = await app.create_lead.execute(create(app))

    assert view.external_id == ""  # GHL has not given it one yet
    lead = app.lead(view.id)
    assert (lead.on_provider, lead.assigned_user_id, lead.strategy_id) == (
        False,
        "u-ana",
        "strategy-fast",
    )
    [change] = app.changes
    assert (change.operation, change.status, change.fields["email"]) == (
        ChangeOperation.CREATE_CONTACT,
        ChangeStatus.PENDING,
        "neo@example.com",
    )
    assert len(app.events(LeadCaptured)) == 1
    # Only the location's timezone (the lead has no address) is asked of GHL; no write yet.
    assert [c.method for c in app.ghl.calls] == ["get_account"]
    assert lead.timezone == "America/Chicago"


async def test_a_repeated_request_id_answers_the_lead_it_created(app: Sync) -> None:
    first = await app.create_lead.execute(create(app, request_id="req-1"))
    again = await app.create_lead.execute(create(app, request_id="req-1"))

    assert again.id == first.id
    assert len(app.all_leads) == 1
    assert len(app.changes) == 1


@pytest.mark.parametrize(
    ("actor", "error"),
    [
        (Principal("u-1", Role.USER, "sa-1"), PermissionDeniedError),
        (Principal("svc", Role.SERVICE, "sa-other"), NotFoundError),
    ],
)
async def test_users_and_other_tenants_cannot_create_leads(
    app: Sync, actor: Principal, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await app.create_lead.execute(create(app, actor))
    assert app.all_leads == []


async def test_a_lead_needs_an_email_or_a_phone(app: Sync) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        await app.create_lead.execute(create(app, details=ContactDetails(first_name="Nobody")))
    assert {v.field for v in raised.value.violations} == {"email", "phone"}


async def test_a_switched_off_integration_takes_no_changes(app: Sync) -> None:
    async with app.uow() as uow:
        integration = await uow.integrations.get(app.integration.id)
        assert integration is not None
        integration.deactivate(now=app.clock.now())
        await uow.integrations.update(integration)
        await uow.commit()

    with pytest.raises(IntegrationNotActiveError):
        await app.create_lead.execute(create(app))


async def test_an_update_records_each_changed_field_over_the_value_it_replaces(app: Sync) -> None:
    view = await app.create_lead.execute(create(app))
    await app.push.push(app.integration, await provider_call_of(app))

    updated = await app.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=view.id,
            changes={"first_name": "Neo", "city": "Zion"},  # first_name unchanged
            expected_version=app.lead(view.id).version,
        )
    )

    assert updated.version == app.lead(view.id).version
    change = app.changes[-1]
    assert (change.operation, change.fields, change.base) == (
        ChangeOperation.UPDATE_CONTACT,
        {"city": "Zion"},
        {"city": None},
    )
    [event] = [e for e in app.events(LeadUpdated) if isinstance(e, LeadUpdated)][-1:]
    assert event.changed_fields == ("city",)


async def test_two_updates_before_a_push_are_written_once_with_the_newest_values(
    app: Sync,
) -> None:
    view = await app.create_lead.execute(create(app))
    await app.push.push(app.integration, await provider_call_of(app))
    for city in ("Zion", "Io"):
        app.clock.advance(seconds=1)
        await app.update_lead.execute(
            UpdateLeadCommand(
                actor=SERVICE,
                integration_id=app.integration.id,
                lead_id=view.id,
                changes={"city": city},
            )
        )

    await app.push.push(app.integration, await provider_call_of(app))

    [written] = app.ghl.called("update_contact")
    assert written.args["fields"] == ContactFields(city="Io")
    assert app.ghl.contacts[app.lead(view.id).external_id].city == "Io"


async def test_an_update_with_a_stale_etag_or_an_unknown_field_is_refused(app: Sync) -> None:
    view = await app.create_lead.execute(create(app))

    with pytest.raises(ConcurrencyError):
        await app.update_lead.execute(
            UpdateLeadCommand(
                actor=SERVICE,
                integration_id=app.integration.id,
                lead_id=view.id,
                changes={"city": "Zion"},
                expected_version=view.version + 1,
            )
        )
    with pytest.raises(InvalidArgumentError):
        await app.update_lead.execute(
            UpdateLeadCommand(
                actor=SERVICE,
                integration_id=app.integration.id,
                lead_id=view.id,
                changes={"status": "won"},
            )
        )


async def test_a_booking_needs_a_calendar_and_to_end_after_it_starts() -> None:
    app = await make_sync(calendar=False)
    view = await app.create_lead.execute(create(app))

    def booking(**kwargs: object) -> CreateBookingCommand:
        kwargs.setdefault("start", START + timedelta(days=1))
        kwargs.setdefault("end", START + timedelta(days=1, minutes=30))
        return CreateBookingCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=view.id,
            **kwargs,  # type: ignore[arg-type]
        )

    with pytest.raises(InvalidArgumentError):
        await app.create_booking.execute(booking())
    with pytest.raises(InvalidArgumentError):
        await app.create_booking.execute(
            booking(calendar_id="cal-1", end=START + timedelta(days=1, minutes=-30))
        )
    created = await app.create_booking.execute(booking(calendar_id="cal-1"))
    assert (created.calendar_id, created.external_id, created.contact_external_id) == (
        "cal-1",
        "",
        "",
    )


async def test_cancelling_twice_records_one_cancellation(app: Sync) -> None:
    view = await app.create_lead.execute(create(app))
    await app.push.push(app.integration, await provider_call_of(app))
    booked = await app.create_booking.execute(
        CreateBookingCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=view.id,
            start=START + timedelta(days=1),
            end=START + timedelta(days=1, minutes=30),
        )
    )
    await app.push.push(app.integration, await provider_call_of(app))
    cancel = CancelBookingCommand(
        actor=SERVICE, integration_id=app.integration.id, booking_id=booked.id
    )

    await app.cancel_booking.execute(cancel)
    await app.cancel_booking.execute(cancel)

    cancels = [c for c in app.changes if c.operation is ChangeOperation.CANCEL_APPOINTMENT]
    assert len(cancels) == 1


async def test_a_lead_of_an_integration_with_no_crm_changes_here_only(app: Sync) -> None:
    view = await app.create_lead.execute(create(app))
    await app.push.push(app.integration, await provider_call_of(app))
    pushes_before = len(app.changes)
    not_a_crm = UpdateLead(
        uow=app.uow, ids=SequentialIds("x"), clock=app.clock, crm_templates=frozenset()
    )

    await not_a_crm.execute(
        UpdateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            lead_id=view.id,
            changes={"status": LeadStatus.WON},
        )
    )

    assert app.lead(view.id).status is LeadStatus.WON
    assert len(app.changes) == pushes_before
    assert [
        e.status for e in app.events(LeadStatusChanged) if isinstance(e, LeadStatusChanged)
    ] == ["won"]

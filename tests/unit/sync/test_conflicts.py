"""Both sides changed a lead: the newer change wins field by field, every conflict is recorded
with both versions, and what this side still has to say is pushed."""

from __future__ import annotations

from application.ports import HandlerOutcome
from application.ports.crm import ContactFields
from application.sync_records import ChangeStatus, RecordKind
from application.use_cases.update_lead import UpdateLeadCommand
from domain.errors import ConnectionFailedError
from domain.lead import Lead
from domain.webhook_delivery import EventKind
from tests.unit.sync.support import (
    SERVICE,
    Sync,
    conflicts_of,
    contact_payload,
    provider_call_of,
    run_sync,
)


async def synced_lead(app: Sync) -> Lead:
    app.ghl.add_contact(first_name="Ada", email="old@example.com", phone="+13125550101")
    app.clock.advance(minutes=1)
    await run_sync(app)
    [lead] = app.all_leads
    return lead


async def edit(app: Sync, lead: Lead, **changes: object) -> None:
    await app.update_lead.execute(
        UpdateLeadCommand(
            actor=SERVICE, integration_id=app.integration.id, lead_id=lead.id, changes=changes
        )
    )


async def test_a_newer_ghl_change_by_webhook_wins_the_field_both_changed_and_keeps_the_others(
    app: Sync,
) -> None:
    lead = await synced_lead(app)
    app.clock.advance(minutes=1)
    await edit(app, lead, email="mine@example.com", first_name="Ada L.")
    app.clock.advance(minutes=1)
    theirs = app.ghl.edit_contact(lead.external_id, email="theirs@example.com")

    outcome = await app.deliver(EventKind.CONTACT_UPDATED, contact_payload(theirs))

    assert outcome is HandlerOutcome.APPLIED
    merged = app.lead(lead.id).details
    assert (merged.email, merged.first_name) == ("theirs@example.com", "Ada L.")
    [conflict] = await conflicts_of(app)
    assert conflict.fields == ("email",)
    assert conflict.winners == {"email": "remote"}
    assert conflict.local["email"] == "mine@example.com"
    assert conflict.remote["email"] == "theirs@example.com"
    [pending] = [c for c in app.changes if c.status is ChangeStatus.PENDING]
    assert pending.fields == {"first_name": "Ada L."}

    await app.push.push(app.integration, await provider_call_of(app))

    [written] = app.ghl.called("update_contact")
    fields = written.args["fields"]
    assert isinstance(fields, ContactFields)
    assert (fields.first_name, fields.email) == ("Ada L.", None)  # only what is left to say
    at_ghl = app.ghl.contacts[lead.external_id]
    assert (at_ghl.email, at_ghl.first_name) == ("theirs@example.com", "Ada L.")


async def test_a_newer_local_change_wins_over_an_older_ghl_change_found_by_the_push(
    app: Sync,
) -> None:
    lead = await synced_lead(app)
    app.clock.advance(minutes=1)
    app.ghl.edit_contact(lead.external_id, email="theirs@example.com", city="Austin")
    app.clock.advance(minutes=1)
    await edit(app, lead, email="mine@example.com")

    result = await app.push.push(app.integration, await provider_call_of(app))

    assert (result.pushed, result.conflicts) == (1, 1)
    at_ghl = app.ghl.contacts[lead.external_id]
    assert (at_ghl.email, at_ghl.city) == ("mine@example.com", "Austin")
    assert (app.lead(lead.id).details.email, app.lead(lead.id).details.city) == (
        "mine@example.com",
        "Austin",
    )
    [conflict] = await conflicts_of(app)
    assert conflict.winners == {"email": "local"}
    assert conflict.record_kind is RecordKind.LEAD
    assert [c.status for c in app.changes] == [ChangeStatus.DONE]


async def test_a_ghl_change_to_other_fields_is_taken_without_a_conflict(app: Sync) -> None:
    lead = await synced_lead(app)
    app.clock.advance(minutes=1)
    await edit(app, lead, first_name="Ada L.")
    app.clock.advance(minutes=1)
    theirs = app.ghl.edit_contact(lead.external_id, city="Austin")

    await app.deliver(EventKind.CONTACT_UPDATED, contact_payload(theirs))

    merged = app.lead(lead.id).details
    assert (merged.first_name, merged.city) == ("Ada L.", "Austin")
    assert await conflicts_of(app) == []


async def test_an_older_ghl_change_arriving_late_changes_nothing(app: Sync) -> None:
    lead = await synced_lead(app)
    stale = app.ghl.contacts[lead.external_id]
    app.clock.advance(minutes=1)
    newer = app.ghl.edit_contact(lead.external_id, first_name="Ada B.")
    await app.deliver(EventKind.CONTACT_UPDATED, contact_payload(newer))

    outcome = await app.deliver(EventKind.CONTACT_UPDATED, contact_payload(stale))

    assert outcome is HandlerOutcome.IGNORED
    assert app.lead(lead.id).details.first_name == "Ada B."


async def test_a_ghl_change_found_by_the_pull_is_merged_with_an_edit_not_pushed_yet(
    app: Sync,
) -> None:
    lead = await synced_lead(app)
    app.clock.advance(minutes=1)
    await edit(app, lead, email="mine@example.com", first_name="Ada L.")
    app.clock.advance(minutes=1)
    app.ghl.edit_contact(lead.external_id, email="theirs@example.com")
    app.clock.advance(minutes=1)
    # GHL refuses the push for now: the edit is still waiting when the pull reads the contact.
    app.ghl.failures["update_contact"] = [ConnectionFailedError("GoHighLevel answered HTTP 503")]

    run = await run_sync(app)

    merged = app.lead(lead.id).details
    assert (merged.email, merged.first_name) == ("theirs@example.com", "Ada L.")
    [conflict] = await conflicts_of(app)
    assert (conflict.fields, conflict.winners) == (("email",), {"email": "remote"})
    assert run.conflicts == 1
    [pending] = [c for c in app.changes if c.status is ChangeStatus.PENDING]
    assert pending.fields == {"first_name": "Ada L."}

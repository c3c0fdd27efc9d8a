"""CreateLead: a lead made by a platform service, written here first and pushed to the CRM."""

from __future__ import annotations

from dataclasses import dataclass

from application.dto import LeadView
from application.lead_sync import LeadSync
from application.ports import Clock, IdGenerator, UnitOfWorkFactory
from application.record_access import writable_integration
from application.sync_records import (
    ChangeOperation,
    LocalChange,
    RecordKind,
    contact_match_keys,
    lead_values,
)
from domain.errors import FieldViolation, InvalidArgumentError, NotFoundError
from domain.lead import ContactDetails
from domain.values import Principal

_REQUEST_ID_MAX = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateLeadCommand:
    actor: Principal
    integration_id: str
    details: ContactDetails
    assigned_user_id: str | None = None
    strategy_id: str | None = None
    request_id: str | None = None


class CreateLead:
    """Rules: admins and services only, on an integration they can see that is switched on and
    connected; the lead needs an email or a phone (the CRM's upsert finds a contact by them, which
    makes the push safe to repeat); it is written here with a provisional external id and a
    pending contact upsert, which PushPendingChanges delivers; a request id already used in the
    integration answers the lead it created. Assignment and timezone as for a captured contact,
    unless the caller assigned it; the CRM is asked for its account's timezone (when the details
    tell none) only for a caller who may create the lead, and with no transaction open."""

    def __init__(
        self, *, uow: UnitOfWorkFactory, leads: LeadSync, ids: IdGenerator, clock: Clock
    ) -> None:
        self._uow = uow
        self._leads = leads
        self._ids = ids
        self._clock = clock

    async def execute(self, cmd: CreateLeadCommand) -> LeadView:
        if cmd.request_id is not None and len(cmd.request_id) > _REQUEST_ID_MAX:
            raise InvalidArgumentError(
                "the request id is not valid",
                (FieldViolation("request_id", f"must be at most {_REQUEST_ID_MAX} characters"),),
            )
        if not cmd.details.email and not cmd.details.phone:
            raise InvalidArgumentError(
                "a lead needs an email or a phone",
                (
                    FieldViolation("email", "an email or a phone is required"),
                    FieldViolation("phone", "an email or a phone is required"),
                ),
            )
        timezone = self._leads.detect_timezone(cmd.details)
        if timezone is None:
            async with self._uow() as uow:
                integration = await writable_integration(
                    uow, cmd.actor, cmd.integration_id, "creating a lead"
                )
                access = await self._leads.account_access(uow, integration)
            timezone = await self._leads.account_timezone(access) if access is not None else None
        async with self._uow() as uow:
            integration = await writable_integration(
                uow, cmd.actor, cmd.integration_id, "creating a lead"
            )
            if cmd.request_id:
                earlier = await uow.sync.find_change_by_request_id(integration.id, cmd.request_id)
                if earlier is not None:
                    lead = await uow.leads.get(earlier.record_id)
                    if lead is None:
                        raise NotFoundError("lead", earlier.record_id)
                    return LeadView.of(lead)
            lead = await self._leads.capture_local(
                uow,
                integration_id=integration.id,
                sub_account_id=integration.sub_account_id,
                details=cmd.details,
                timezone=timezone,
                assigned_user_id=cmd.assigned_user_id,
                strategy_id=cmd.strategy_id,
            )
            keys = contact_match_keys(cmd.details.email, cmd.details.phone)
            await uow.sync.add_change(
                LocalChange.new(
                    id=self._ids.new_id(),
                    integration_id=integration.id,
                    sub_account_id=integration.sub_account_id,
                    record_kind=RecordKind.LEAD,
                    record_id=lead.id,
                    operation=ChangeOperation.CREATE_CONTACT,
                    fields=lead_values(lead.details),
                    base={},
                    now=self._clock.now(),
                    match_key=keys[0],
                    request_id=cmd.request_id or None,
                )
            )
            await uow.commit()
        return LeadView.of(lead)

"""UpdateLead: a platform service changes a lead's details or status here, then the CRM's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from application.dto import LeadView
from application.ports import Clock, IdGenerator, UnitOfWorkFactory
from application.record_access import writable_integration
from application.sync_records import (
    LEAD_FIELDS,
    ChangeOperation,
    LocalChange,
    RecordKind,
    lead_values,
    status_values,
    with_values,
)
from domain.errors import ConcurrencyError, FieldViolation, InvalidArgumentError, NotFoundError
from domain.lead import LeadStatus
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateLeadCommand:
    actor: Principal
    integration_id: str
    lead_id: str
    changes: Mapping[str, Any]
    """field → new value, for the fields of application.sync_records.LEAD_FIELDS named in the mask, and
    ``status`` (a LeadStatus)."""
    expected_version: int | None = None


class UpdateLead:
    """Rules: admins and services only, on an operational integration they can see; only the
    contact's details (LEAD_FIELDS) and the lead's status (``status``, a LeadStatus) change; a
    deleted lead cannot be changed; `expected_version` (the etag) must match, else ABORTED; the
    change is written here and a pending change records each changed field with the value it
    replaces (a contact update; for the status, an update of the lead's opportunity), so that a
    concurrent change at the CRM is merged field by field (the newer wins) when the push or a pull
    meets it. A change that changes nothing records nothing."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        crm_templates: frozenset[str],
    ) -> None:
        """`crm_templates`: the templates whose leads live in a CRM, where changes are pushed;
        a lead of another (a form's lead at an ad platform) changes here only."""
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._crm_templates = crm_templates

    async def execute(self, cmd: UpdateLeadCommand) -> LeadView:
        unknown = sorted(set(cmd.changes) - {*LEAD_FIELDS, _STATUS})
        if unknown:
            raise InvalidArgumentError(
                "only a lead's contact details and status can be changed",
                tuple(FieldViolation(f, "cannot be changed") for f in unknown),
            )
        if "tags" in cmd.changes and not all(isinstance(t, str) for t in cmd.changes["tags"]):
            raise InvalidArgumentError(
                "tags must be strings", (FieldViolation("tags", "must be strings"),)
            )
        status = cmd.changes.get(_STATUS)
        if _STATUS in cmd.changes and not isinstance(status, LeadStatus):
            raise InvalidArgumentError(
                "the status is not valid", (FieldViolation(_STATUS, "must be a lead status"),)
            )
        contact = {k: v for k, v in cmd.changes.items() if k != _STATUS}
        async with self._uow() as uow:
            integration = await writable_integration(
                uow, cmd.actor, cmd.integration_id, "changing a lead"
            )
            lead = await uow.leads.get(cmd.lead_id)
            if lead is None or lead.integration_id != integration.id:
                raise NotFoundError("lead", cmd.lead_id)
            if cmd.expected_version is not None and cmd.expected_version != lead.version:
                raise ConcurrencyError(
                    f"lead {lead.id!r} changed since it was read",
                    metadata={"resource": "lead", "id": lead.id},
                )
            now = self._clock.now()
            changes: list[LocalChange] = []

            def pending(
                operation: ChangeOperation, fields: dict[str, Any], base: dict[str, Any]
            ) -> None:
                changes.append(
                    LocalChange.new(
                        id=self._ids.new_id(),
                        integration_id=integration.id,
                        sub_account_id=integration.sub_account_id,
                        record_kind=RecordKind.LEAD,
                        record_id=lead.id,
                        operation=operation,
                        fields=fields,
                        base=base,
                        now=now,
                    )
                )

            before = lead_values(lead.details)
            changed = lead.edit(with_values(lead.details, contact), now=now) if contact else ()
            if changed:
                after = lead_values(lead.details)
                pending(
                    ChangeOperation.UPDATE_CONTACT,
                    {f: after[f] for f in changed},
                    {f: before[f] for f in changed},
                )
            previous = status_values(lead.status)
            if isinstance(status, LeadStatus) and lead.set_status(status, now=now):
                pending(
                    ChangeOperation.UPDATE_OPPORTUNITY_STATUS,
                    status_values(lead.status),
                    previous,
                )
            if changes:
                await uow.leads.update(lead)
                if integration.template_name in self._crm_templates:
                    for change in changes:
                        await uow.sync.add_change(change)
                await uow.commit()
        return LeadView.of(lead)


_STATUS = "status"

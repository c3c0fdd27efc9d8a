"""UpdateLead: a platform service changes a lead's details here; the change is pushed to GHL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from application.dto import LeadView
from application.ports import Clock, IdGenerator, UnitOfWorkFactory
from application.sync import (
    LEAD_FIELDS,
    ChangeOperation,
    LocalChange,
    RecordKind,
    lead_values,
    with_values,
)
from application.sync_access import writable_integration
from domain.errors import ConcurrencyError, FieldViolation, InvalidArgumentError, NotFoundError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateLeadCommand:
    actor: Principal
    integration_id: str
    lead_id: str
    changes: Mapping[str, Any]
    """field → new value, for the fields of application.sync.LEAD_FIELDS named in the mask."""
    expected_version: int | None = None


class UpdateLead:
    """Rules: admins and services only, on an operational integration they can see; only the
    contact's details change (LEAD_FIELDS); a deleted lead cannot be changed; `expected_version`
    (the etag) must match, else ABORTED; the change is written here and a pending contact
    update records each changed field with the value it replaces, so that a concurrent change
    at GHL is merged field by field (the newer wins) when the push or a pull meets it. A change
    that changes nothing records nothing."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    async def execute(self, cmd: UpdateLeadCommand) -> LeadView:
        unknown = sorted(set(cmd.changes) - set(LEAD_FIELDS))
        if unknown:
            raise InvalidArgumentError(
                "only a lead's contact details can be changed",
                tuple(FieldViolation(f, "cannot be changed") for f in unknown),
            )
        if "tags" in cmd.changes and not all(isinstance(t, str) for t in cmd.changes["tags"]):
            raise InvalidArgumentError(
                "tags must be strings", (FieldViolation("tags", "must be strings"),)
            )
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
            before = lead_values(lead.details)
            changed = lead.edit(with_values(lead.details, cmd.changes), now=now)
            if changed:
                after = lead_values(lead.details)
                await uow.leads.update(lead)
                await uow.sync.add_change(
                    LocalChange.new(
                        id=self._ids.new_id(),
                        integration_id=integration.id,
                        sub_account_id=integration.sub_account_id,
                        record_kind=RecordKind.LEAD,
                        record_id=lead.id,
                        operation=ChangeOperation.UPDATE_CONTACT,
                        fields={f: after[f] for f in changed},
                        base={f: before[f] for f in changed},
                        now=now,
                    )
                )
                await uow.commit()
        return LeadView.of(lead)

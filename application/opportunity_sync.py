"""A lead's status from what the CRM says about one of its contact's opportunities."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports import Clock, IdGenerator, UnitOfWork
from application.ports.crm import CrmOpportunity, CrmReader
from application.reconcile import reconcile
from application.sync_records import (
    ChangeOperation,
    RecordKind,
    fingerprint,
    pending_changes,
    status_values,
)
from domain.lead import Lead, LeadStatus


@dataclass(frozen=True, slots=True)
class OpportunityApplied:
    """What applying an opportunity did to its contact's lead (None: the service has no lead
    for it, or the opportunity carries no usable status)."""

    lead: Lead | None
    written: bool
    changed: bool = False
    """The lead's status changed."""
    echo: bool = False
    """The opportunity is this service's own write coming back: nothing was done."""
    conflicts: int = 0


@dataclass(frozen=True, slots=True)
class OpportunitySync:
    """Sets a lead's status from its contact's opportunities (by webhook, by pull, or in answer
    to a push). The lead follows the last status change of any of them: a change older than
    the lead's last one is ignored, and the lead remembers the opportunity of the change it
    took (where its own status changes are pushed). The echo of this service's own status write
    changes nothing; a status set here and not pushed yet is merged with the provider's (the
    newer change wins, the conflict is recorded: application.reconcile)."""

    ids: IdGenerator
    clock: Clock
    reader: CrmReader

    async def apply(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        opportunity: CrmOpportunity,
        lead: Lead | None = None,
        unpushed: set[str] | None = None,
    ) -> OpportunityApplied:
        """`lead`: the contact's lead when the caller has it; `unpushed`: the ids of the leads
        with local changes not pushed yet, when the caller knows them (only those are read)."""
        status = self.reader.lead_status(opportunity.status)
        if status is None or opportunity.contact_id is None:
            return OpportunityApplied(None, written=False)
        if lead is None:
            lead = await uow.leads.get_by_external_id(integration_id, opportunity.contact_id)
        if lead is None:
            return OpportunityApplied(None, written=False)
        now = self.clock.now()
        values = status_values(status)
        if status is lead.status and await uow.sync.take_own_write(
            integration_id,
            RecordKind.OPPORTUNITY,
            opportunity.id,
            fingerprint(values),
            now=now,
            keep=True,  # the CRM announces a status change twice (and the pull reads it again)
        ):
            return OpportunityApplied(lead, written=False, echo=True)
        changed_at = opportunity.updated_at
        conflicts = 0
        if (
            not lead.deleted
            and not lead.is_status_older(changed_at)
            and (unpushed is None or lead.id in unpushed)
        ):
            pending = await pending_changes(
                uow.sync, RecordKind.LEAD, lead.id, ChangeOperation.UPDATE_OPPORTUNITY_STATUS
            )
            if pending:
                merged = await reconcile(
                    uow,
                    self.ids,
                    record_kind=RecordKind.LEAD,
                    record_id=lead.id,
                    external_id=opportunity.id,
                    integration_id=integration_id,
                    sub_account_id=lead.sub_account_id,
                    local=status_values(lead.status),
                    remote=values,
                    remote_changed_at=changed_at,
                    changes=pending,
                    now=now,
                )
                status = LeadStatus(merged.values["status"])
                conflicts = len(merged.conflicts)
        before = lead.status
        written = lead.change_status(
            status, now=now, changed_at=changed_at, opportunity_id=opportunity.id
        )
        if written:
            await uow.leads.update(lead)
        return OpportunityApplied(
            lead, written=written, changed=before is not lead.status, conflicts=conflicts
        )

"""Creating or updating a lead from what GoHighLevel says about a contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from application import ghl_webhooks
from application.ghl import GhlApi, GhlContact, Priority
from application.integration_auth import ghl_auth
from application.ports import (
    Cipher,
    Clock,
    IdGenerator,
    TenantDirectory,
    TimezoneHints,
    TimezoneResolver,
    UnitOfWork,
)
from domain.errors import DomainError
from domain.lead import Lead


@dataclass(frozen=True, slots=True)
class LeadSync:
    """Upserts leads by (integration, GHL contact id).

    A new lead goes to the sub-account's first assignable user, with that user's strategy. Its
    timezone is the contact's own (when GHL has one), else detected from the address, else from
    the phone number, else the GHL location's; when that too is unknown (or GHL cannot be
    asked), the lead has none: a timezone never fails a delivery. An update re-detects the
    timezone from the contact and keeps the lead's when nothing is detected.
    """

    directory: TenantDirectory
    timezones: TimezoneResolver
    ghl: GhlApi
    cipher: Cipher
    ids: IdGenerator
    clock: Clock

    async def upsert(
        self,
        uow: UnitOfWork,
        *,
        integration_id: str,
        sub_account_id: str,
        contact: GhlContact,
        changed_at: datetime | None,
    ) -> tuple[Lead, bool]:
        """The contact's lead, and whether this call wrote it (a change older than the lead's,
        or identical to it, writes nothing)."""
        details = ghl_webhooks.contact_details(contact)
        timezone = _zone(contact.timezone) or self.timezones.resolve(
            TimezoneHints(
                postal_code=details.postal_code,
                state=details.state,
                city=details.city,
                country=details.country,
                phone=details.phone,
            )
        )
        now = self.clock.now()
        lead = await uow.leads.get_by_external_id(integration_id, contact.id)
        if lead is not None:
            written = lead.sync(
                details=details, timezone=timezone, external_updated_at=changed_at, now=now
            )
            if written:
                await uow.leads.update(lead)
            return lead, written
        if timezone is None:
            timezone = await self._location_timezone(uow, integration_id)
        assigned = await self.directory.first_assignable_user(sub_account_id)
        lead = Lead.capture(
            id=self.ids.new_id(),
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            external_id=contact.id,
            details=details,
            timezone=timezone,
            assigned_user_id=assigned.user_id if assigned else None,
            strategy_id=assigned.strategy_id if assigned else None,
            external_updated_at=changed_at,
            now=now,
        )
        await uow.leads.add(lead)
        return lead, True

    async def delete(
        self, uow: UnitOfWork, *, integration_id: str, sub_account_id: str, contact: GhlContact
    ) -> bool:
        """Mark the contact's lead deleted; returns whether this call wrote it. A delete that
        arrives before its create leaves a deleted lead behind, so the late create changes
        nothing (GHL never reuses a contact id)."""
        now = self.clock.now()
        lead = await uow.leads.get_by_external_id(integration_id, contact.id)
        if lead is not None:
            if not lead.mark_deleted(now=now):
                return False
            await uow.leads.update(lead)
            return True
        lead = Lead.capture(
            id=self.ids.new_id(),
            sub_account_id=sub_account_id,
            integration_id=integration_id,
            external_id=contact.id,
            details=ghl_webhooks.contact_details(contact),
            now=now,
        )
        lead.mark_deleted(now=now)
        await uow.leads.add(lead)
        return True

    async def _location_timezone(self, uow: UnitOfWork, integration_id: str) -> str | None:
        integration = await uow.integrations.get(integration_id)
        if integration is None:
            return None
        try:
            auth = await ghl_auth(uow, self.cipher, integration, priority=Priority.LIVE)
            location = await self.ghl.get_location(auth)
        except DomainError:
            return None
        return _zone(location.timezone)


def _zone(name: str | None) -> str | None:
    """`name` if it is an IANA zone this machine knows."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name

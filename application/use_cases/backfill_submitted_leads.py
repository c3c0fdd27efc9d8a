"""BackfillSubmittedLeads: the leads submitted on an integration's account since its last
backfill, captured when their deliveries were lost (a lead already captured is left alone)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from application.lead_sync import LeadSync
from application.ports import Cipher, Clock, LeadBackfill, UnitOfWorkFactory
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from application.record_access import check_operational
from application.sync_records import SyncCursor, SyncResource
from application.use_cases.capture_submitted_lead import capture_submitted
from domain.errors import NotFoundError, ProviderNotSupportedError

DEFAULT_OVERLAP = timedelta(hours=1)
"""Read again before the last lead seen: a lead submitted just before a backfill may show only
after it (the provider's clocks and indexes lag)."""
DEFAULT_FIRST_WINDOW = timedelta(days=2)
"""How far back the first backfill of an integration looks."""


class BackfillSubmittedLeads:
    """Rules: the provider is read with no transaction open; leads are captured as a delivery
    would capture them (CaptureSubmittedLead), once per provider id; the cursor is the newest
    submission seen, so that the next backfill reads from a little before it."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        cipher: Cipher,
        leads: LeadSync,
        sources: Callable[[str], LeadBackfill | None],
        clock: Clock,
        overlap: timedelta = DEFAULT_OVERLAP,
        first_window: timedelta = DEFAULT_FIRST_WINDOW,
    ) -> None:
        self._uow = uow
        self._cipher = cipher
        self._leads = leads
        self._sources = sources
        self._clock = clock
        self._overlap = overlap
        self._first_window = first_window

    async def execute(self, integration_id: str) -> int:
        """Returns how many leads it captured."""
        now = self._clock.now()
        async with self._uow() as uow:
            integration = await uow.integrations.get(integration_id)
            if integration is None:
                raise NotFoundError("integration", integration_id)
            source = self._sources(integration.template_name)
            if source is None:
                raise ProviderNotSupportedError(
                    f"the {integration.template_name} provider lists no submitted leads"
                )
            check_operational(integration)
            cursor = await uow.sync.get_cursor(integration_id, SyncResource.SUBMITTED_LEADS)
            call = await provider_call(uow, self._cipher, integration, priority=Priority.BACKGROUND)
        since = (
            now - self._first_window
            if cursor is None or cursor.position is None
            else cursor.position - self._overlap
        )
        submitted = await source.submitted_since(call, since)
        captured = 0
        async with self._uow() as uow:
            for lead in submitted:
                captured += await capture_submitted(
                    uow,
                    self._leads,
                    integration_id=integration.id,
                    sub_account_id=integration.sub_account_id,
                    submitted=lead,
                )
            newest = max((lead.submitted_at for lead in submitted), default=None)
            position = max(
                (p for p in (newest, cursor.position if cursor else None) if p is not None),
                default=None,
            )
            await uow.sync.save_cursor(
                SyncCursor(
                    integration_id=integration.id,
                    resource=SyncResource.SUBMITTED_LEADS,
                    position=position,
                    first_synced_at=cursor.first_synced_at if cursor else now,
                    updated_at=now,
                )
            )
            await uow.commit()
        return captured

"""SyncIntegration: one integration's two-way sync with the CRM, on demand or on schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from application.access import visible_integration
from application.booking_sync import BookingSync
from application.dto import IntegrationView
from application.lead_sync import LeadBatch, LeadSync
from application.opportunity_sync import OpportunitySync
from application.ports import Cipher, Clock, IdGenerator, UnitOfWorkFactory
from application.ports.crm import ContactPage, CrmApi, CrmAppointment, CrmContact, CrmOpportunity
from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from application.record_access import check_operational
from application.sync_records import (
    RecordKind,
    RunTrigger,
    SyncCursor,
    SyncLeases,
    SyncResource,
    SyncRun,
)
from application.use_cases.push_changes import PushPendingChanges, PushResult
from domain.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    ConfigSchemaInvalidError,
    ConnectionFailedError,
    DomainError,
    ErrorCode,
    InvalidArgumentError,
    InvalidCredentialsError,
    NotFoundError,
    ProviderNotSupportedError,
    RateLimitExceededError,
    SecretUnreadableError,
    StorageUnavailableError,
)
from domain.integration import Integration
from domain.values import Principal

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PAGE_ATTEMPTS = 3
_RECORD_ATTEMPTS = 5

# Failures worth another attempt of the run, and those only a person can fix.
_TRANSIENT = (ConnectionFailedError, RateLimitExceededError, StorageUnavailableError)
_NEEDS_A_PERSON = (InvalidCredentialsError, ConfigSchemaInvalidError, SecretUnreadableError)


class SyncInProgressError(ConcurrencyError):
    """Another run (on this copy or another) holds the integration's sync lease."""


@dataclass(frozen=True, slots=True)
class SyncPolicy:
    page_size: int = 500
    """Contacts per search page (the CRM's maximum)."""
    opportunity_page_size: int = 100
    """Opportunities per search page (the CRM's maximum)."""
    overlap: timedelta = timedelta(minutes=2)
    """How far before its cursor the contact pull starts again: the CRM's search index lags a few
    seconds behind its writes, and upserts are idempotent, so re-reading costs little."""
    webhook_grace: timedelta = timedelta(minutes=1)
    """A change this recent may still be on its way by webhook: not counted as missed."""
    lookback: timedelta = timedelta(days=7)
    lookahead: timedelta = timedelta(days=90)
    """The appointments pulled: those starting in [start of run - lookback, + lookahead]."""
    attempts: int = 3
    retry_delay: timedelta = timedelta(seconds=2)
    """A transient failure retries the run after this delay, doubled each time."""
    lease_ttl: timedelta = timedelta(minutes=5)
    """Renewed after every page: another copy takes over only when this one stopped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncIntegrationCommand:
    integration_id: str
    actor: Principal | None = None
    """Who asked; None for the scheduler."""
    trigger: RunTrigger = RunTrigger.MANUAL


@dataclass(frozen=True, slots=True)
class SyncIntegrationResult:
    run: SyncRun
    integration: IntegrationView


@dataclass(slots=True)
class _Counts:
    pulled: int = 0
    conflicts: int = 0
    failures: int = 0
    missed: int = 0

    def add_to(self, run: SyncRun) -> None:
        run.pulled += self.pulled
        run.conflicts += self.conflicts
        run.failures += self.failures
        run.missed_by_webhooks += self.missed


class SyncIntegration:
    """Rules:
    - only a switched-on, connected integration (active or error) is synced: else
      INTEGRATION_NOT_ACTIVE; one run at a time per integration, across copies (a lease);
    - a run pushes the due local changes (PushPendingChanges), then pulls the contacts the CRM
      changed since the contact cursor (least recently changed first, from a little before the
      cursor), then the appointments of the integration's calendars (its configured
      ``calendarId``, else all of the location's) in a window around now, then every
      opportunity of the location (the CRM's search takes no "changed since": all are read, so a
      missed status change is always caught); each page is applied and the cursor saved in
      one transaction, so a failed run resumes where it stopped;
    - pulled records go through the webhook handlers' logic (LeadSync, BookingSync,
      OpportunitySync): upserts are idempotent, older changes never overwrite newer ones,
      unpushed local changes are merged field by field, the echoes of the service's own writes
      change nothing; an opportunity whose contact has no lead here is skipped;
    - a pulled record that was new or changed, and whose change is older than
      `webhook_grace` and newer than the first sync, was missed by webhooks (counted);
    - every run is recorded (``sync_runs``); a transient failure (the CRM unreachable or rate
      limiting, the database busy) retries the run with backoff before it counts; success
      moves `last_sync_at` and the status to active; a failure a person must fix (credentials,
      config, secrets) or the CRM unreachable through every attempt moves it to error with the
      code and message; any other failure is recorded and leaves the status alone.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        crm: CrmApi,
        cipher: Cipher,
        leads: LeadSync,
        bookings: BookingSync,
        opportunities: OpportunitySync,
        push: PushPendingChanges,
        leases: SyncLeases,
        ids: IdGenerator,
        clock: Clock,
        crm_templates: frozenset[str],
        policy: SyncPolicy = SyncPolicy(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._uow = uow
        self._crm = crm
        self._cipher = cipher
        self._leads = leads
        self._bookings = bookings
        self._opportunities = opportunities
        self._push = push
        self._leases = leases
        self._ids = ids
        self._clock = clock
        self._policy = policy
        self._sleep = sleep
        self._crm_templates = crm_templates

    async def execute(self, cmd: SyncIntegrationCommand) -> SyncIntegrationResult:
        async with self._uow() as uow:
            found = await uow.integrations.get(cmd.integration_id)
            if cmd.actor is not None:
                found = visible_integration(cmd.actor, found, cmd.integration_id)
            if found is None:
                raise NotFoundError("integration", cmd.integration_id)
        integration = found
        if integration.template_name not in self._crm_templates:
            raise ProviderNotSupportedError(
                f"the {integration.template_name} provider keeps no contacts or appointments "
                "to sync"
            )
        check_operational(integration)
        run = SyncRun(
            id=self._ids.new_id(),
            integration_id=integration.id,
            sub_account_id=integration.sub_account_id,
            trigger=cmd.trigger,
            started_at=self._clock.now(),
        )
        if not await self._leases.acquire(
            integration.id, holder=run.id, now=run.started_at, ttl=self._policy.lease_ttl
        ):
            raise SyncInProgressError(f"integration {integration.id!r} is being synced already")
        try:
            async with self._uow() as uow:
                await uow.sync.add_run(run)
                await uow.commit()
            error = await self._attempts(integration, run)
            return await self._finish(integration.id, run, error)
        finally:
            await self._leases.release(integration.id, holder=run.id)

    async def _attempts(self, integration: Integration, run: SyncRun) -> DomainError | None:
        delay = self._policy.retry_delay
        for attempt in range(1, self._policy.attempts + 1):
            run.attempts = attempt
            try:
                await self._run_once(integration.id, run)
            except _TRANSIENT as err:
                if attempt == self._policy.attempts:
                    return err
                wait = max(delay.total_seconds(), getattr(err, "retry_after_seconds", 0.0))
                await self._sleep(wait)
                delay *= 2
            except DomainError as err:
                return err
            else:
                return None
        raise AssertionError("unreachable")

    async def _run_once(self, integration_id: str, run: SyncRun) -> None:
        async with self._uow() as uow:
            integration = await uow.integrations.get(integration_id)
            if integration is None:
                raise NotFoundError("integration", integration_id)
            check_operational(integration)
            call = await provider_call(uow, self._cipher, integration, priority=Priority.BACKGROUND)
        pushed = PushResult()
        try:
            await self._push.push(integration, call, pushed)
        finally:  # what landed counts, even when the CRM stopped taking more
            run.pushed += pushed.pushed
            run.conflicts += pushed.conflicts
            run.failures += pushed.failures
        await self._pull_contacts(integration, call, run)
        await self._pull_appointments(integration, call, run)
        await self._pull_opportunities(integration, call, run)

    # --- contacts ----------------------------------------------------------------------------

    async def _pull_contacts(
        self, integration: Integration, call: ProviderCall, run: SyncRun
    ) -> None:
        async with self._uow() as uow:
            cursor = await uow.sync.get_cursor(integration.id, SyncResource.CONTACTS)
        position = cursor.position if cursor else None
        first = cursor.first_synced_at if cursor else run.started_at
        horizon = cursor.first_synced_at if cursor else None
        since = position - self._policy.overlap if position else _EPOCH
        batch = LeadBatch()

        def fetch(page_cursor: str | None) -> asyncio.Task[ContactPage]:
            return asyncio.create_task(
                self._crm.search_contacts(
                    call, page_size=self._policy.page_size, cursor=page_cursor, updated_since=since
                )
            )

        next_page = fetch(None)
        try:
            while True:
                page = await next_page
                if page.next_cursor is not None:
                    # the CRM serves the next page while this one is stored; the cursor still moves
                    # only with a stored page, so a failed run resumes after the last one.
                    next_page = fetch(page.next_cursor)
                await self._leads.prepare(batch, call, page.contacts)
                position = await self._apply_contacts(
                    integration,
                    page.contacts,
                    run,
                    batch,
                    horizon=horizon,
                    position=position,
                    first=first,
                )
                await self._renew(integration.id, run)
                if page.next_cursor is None:
                    return
        finally:
            next_page.cancel()  # a page fetched ahead of a failure is not needed
            await asyncio.gather(next_page, return_exceptions=True)

    async def _apply_contacts(
        self,
        integration: Integration,
        contacts: Sequence[CrmContact],
        run: SyncRun,
        batch: LeadBatch,
        *,
        horizon: datetime | None,
        position: datetime | None,
        first: datetime,
    ) -> datetime | None:
        """Apply a page and save the contact cursor after it, in one transaction; returns the
        cursor's new position."""
        for attempt in range(_PAGE_ATTEMPTS):
            counts = _Counts()
            newest = position
            try:
                async with self._uow() as uow:
                    await self._leads.prefetch(
                        uow,
                        integration_id=integration.id,
                        contact_ids=[c.id for c in contacts],
                        batch=batch,
                    )
                    for contact in contacts:
                        counts.pulled += 1
                        try:
                            applied = await self._leads.apply(
                                uow,
                                integration_id=integration.id,
                                sub_account_id=integration.sub_account_id,
                                contact=contact,
                                changed_at=contact.date_updated,
                                batch=batch,
                            )
                        except InvalidArgumentError:
                            counts.failures += 1  # unusable as a lead (an id too long)
                            continue
                        counts.conflicts += applied.conflicts
                        changed_at = contact.date_updated or contact.date_added
                        counts.missed += self._missed(
                            applied.changed and not applied.echo, changed_at, horizon, run
                        )
                        if contact.date_updated and (
                            newest is None or contact.date_updated > newest
                        ):
                            newest = contact.date_updated
                    await self._leads.store(uow, batch)
                    await uow.sync.save_cursor(
                        self._cursor(integration, SyncResource.CONTACTS, newest, first)
                    )
                    await uow.commit()
            except (ConcurrencyError, AlreadyExistsError):
                # A webhook wrote one of these records meanwhile: apply the page afresh.
                if attempt == _PAGE_ATTEMPTS - 1:
                    raise
                continue
            counts.add_to(run)
            return newest
        raise AssertionError("unreachable")

    # --- appointments ------------------------------------------------------------------------

    async def _pull_appointments(
        self, integration: Integration, call: ProviderCall, run: SyncRun
    ) -> None:
        async with self._uow() as uow:
            cursor = await uow.sync.get_cursor(integration.id, SyncResource.APPOINTMENTS)
        first = cursor.first_synced_at if cursor else run.started_at
        horizon = cursor.first_synced_at if cursor else None
        configured = integration.config.get("calendarId")
        if isinstance(configured, str) and configured:
            calendars = [configured]
        else:
            calendars = [c.id for c in await self._crm.list_calendars(call) if c.is_active]
        start = run.started_at - self._policy.lookback
        end = run.started_at + self._policy.lookahead
        for calendar_id in calendars:
            appointments = await self._crm.list_appointments(
                call, calendar_id, start=start, end=end
            )
            await self._apply_appointments(integration, appointments, run, horizon=horizon)
            await self._renew(integration.id, run)
        await self._save_cursor(integration, SyncResource.APPOINTMENTS, run.started_at, first)

    async def _apply_appointments(
        self,
        integration: Integration,
        appointments: Sequence[CrmAppointment],
        run: SyncRun,
        *,
        horizon: datetime | None,
    ) -> None:
        for attempt in range(_PAGE_ATTEMPTS):
            counts = _Counts()
            try:
                async with self._uow() as uow:
                    for appointment in appointments:
                        counts.pulled += 1
                        applied = await self._bookings.apply(
                            uow,
                            integration_id=integration.id,
                            sub_account_id=integration.sub_account_id,
                            appointment=appointment,
                            changed_at=appointment.date_updated,
                        )
                        if applied.booking is None:
                            counts.failures += 1  # no calendar, contact or start
                            continue
                        counts.conflicts += applied.conflicts
                        changed_at = appointment.date_updated or appointment.date_added
                        counts.missed += self._missed(
                            applied.changed and not applied.echo, changed_at, horizon, run
                        )
                    await uow.commit()
            except (ConcurrencyError, AlreadyExistsError):
                if attempt == _PAGE_ATTEMPTS - 1:
                    raise
                continue
            counts.add_to(run)
            return

    # --- opportunities -----------------------------------------------------------------------

    async def _pull_opportunities(
        self, integration: Integration, call: ProviderCall, run: SyncRun
    ) -> None:
        async with self._uow() as uow:
            cursor = await uow.sync.get_cursor(integration.id, SyncResource.OPPORTUNITIES)
        position = cursor.position if cursor else None
        first = cursor.first_synced_at if cursor else run.started_at
        horizon = cursor.first_synced_at if cursor else None
        page_cursor: str | None = None
        while True:
            page = await self._crm.search_opportunities(
                call, page_size=self._policy.opportunity_page_size, cursor=page_cursor
            )
            position = await self._apply_opportunities(
                integration,
                page.opportunities,
                run,
                horizon=horizon,
                position=position,
                first=first,
            )
            await self._renew(integration.id, run)
            if page.next_cursor is None:
                return
            page_cursor = page.next_cursor

    async def _apply_opportunities(
        self,
        integration: Integration,
        opportunities: Sequence[CrmOpportunity],
        run: SyncRun,
        *,
        horizon: datetime | None,
        position: datetime | None,
        first: datetime,
    ) -> datetime | None:
        """Apply a page and save the opportunity cursor (the newest status change read) after
        it, in one transaction; returns the cursor's new position."""
        contact_ids = list(dict.fromkeys(o.contact_id for o in opportunities if o.contact_id))
        for attempt in range(_PAGE_ATTEMPTS):
            counts = _Counts()
            newest = position
            try:
                async with self._uow() as uow:
                    leads = await uow.leads.get_many_by_external_id(integration.id, contact_ids)
                    unpushed = await uow.sync.pending_record_ids(integration.id, RecordKind.LEAD)
                    for opportunity in opportunities:
                        changed_at = opportunity.updated_at
                        if changed_at and (newest is None or changed_at > newest):
                            newest = changed_at
                        lead = leads.get(opportunity.contact_id or "")
                        if lead is None:
                            continue  # not a contact the service has a lead for
                        counts.pulled += 1
                        applied = await self._opportunities.apply(
                            uow,
                            integration_id=integration.id,
                            opportunity=opportunity,
                            lead=lead,
                            unpushed=unpushed,
                        )
                        counts.conflicts += applied.conflicts
                        counts.missed += self._missed(
                            applied.changed and not applied.echo, changed_at, horizon, run
                        )
                    await uow.sync.save_cursor(
                        self._cursor(integration, SyncResource.OPPORTUNITIES, newest, first)
                    )
                    await uow.commit()
            except ConcurrencyError:
                # A webhook wrote one of these leads meanwhile: apply the page afresh.
                if attempt == _PAGE_ATTEMPTS - 1:
                    raise
                continue
            counts.add_to(run)
            return newest
        raise AssertionError("unreachable")

    # --- bookkeeping -------------------------------------------------------------------------

    def _missed(
        self, changed: bool, changed_at: datetime | None, horizon: datetime | None, run: SyncRun
    ) -> bool:
        """Whether a webhook should have told the service of this change before the pull."""
        return (
            changed
            and horizon is not None
            and changed_at is not None
            and horizon < changed_at <= run.started_at - self._policy.webhook_grace
        )

    async def _save_cursor(
        self,
        integration: Integration,
        resource: SyncResource,
        position: datetime | None,
        first: datetime,
    ) -> None:
        async with self._uow() as uow:
            await uow.sync.save_cursor(self._cursor(integration, resource, position, first))
            await uow.commit()

    def _cursor(
        self,
        integration: Integration,
        resource: SyncResource,
        position: datetime | None,
        first: datetime,
    ) -> SyncCursor:
        return SyncCursor(
            integration_id=integration.id,
            resource=resource,
            position=position,
            first_synced_at=first,
            updated_at=self._clock.now(),
        )

    async def _renew(self, integration_id: str, run: SyncRun) -> None:
        if not await self._leases.renew(
            integration_id, holder=run.id, now=self._clock.now(), ttl=self._policy.lease_ttl
        ):
            raise SyncInProgressError(f"the sync lease of {integration_id!r} was lost")

    async def _finish(
        self, integration_id: str, run: SyncRun, error: DomainError | None
    ) -> SyncIntegrationResult:
        for attempt in range(_RECORD_ATTEMPTS):
            try:
                async with self._uow() as uow:
                    integration = await uow.integrations.get(integration_id)
                    if integration is None:
                        raise NotFoundError("integration", integration_id)
                    now = self._clock.now()
                    if error is None:
                        run.finish(now=now)
                    else:
                        run.finish(now=now, error_code=str(error.code), error=error.message)
                    if integration.is_operational:
                        _record_status(integration, run, error, now)
                        await uow.integrations.update(integration)
                    await uow.sync.update_run(run)
                    await uow.sync.purge_own_writes(expired_before=now)
                    await uow.commit()
                    return SyncIntegrationResult(run, IntegrationView.of(integration))
            except ConcurrencyError:
                if attempt == _RECORD_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


def _record_status(
    integration: Integration, run: SyncRun, error: DomainError | None, now: datetime
) -> None:
    """The seed's updateSyncStatus: success → active; a failure a person must fix, or the CRM
    unreachable through every attempt → error with code and message; otherwise unchanged."""
    if error is None:
        integration.mark_synced(
            pulled=run.pulled,
            pushed=run.pushed,
            conflicts=run.conflicts,
            failures=run.failures,
            now=now,
        )
    elif isinstance(error, _NEEDS_A_PERSON):
        integration.fail(code=error.code, message=error.message, now=now)
    elif isinstance(error, ConnectionFailedError):
        # Not its subclasses' codes: the CRM was unreachable, whatever the last answer said.
        integration.fail(code=ErrorCode.CONNECTION_FAILED, message=error.message, now=now)

"""The lead funnel sent out: steps of leads read from the outbox (captured, booked, won, lost),
queued for every integration of the sub-account whose provider takes them, then sent to each
integration's funnel sink in batches, at least once, each integration on its own."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from application.delivery_policy import BackoffPolicy, error_text
from application.ports import (
    Cipher,
    Clock,
    FunnelEvent,
    FunnelQueue,
    FunnelSink,
    FunnelStage,
    FunnelTarget,
    LeadOrigin,
    OutboxReader,
    OutboxRecord,
    QueuedFunnelEvent,
    UnitOfWorkFactory,
)
from application.ports.rate_limits import Priority
from application.provider_calls import provider_call
from domain.errors import (
    InvalidCredentialsError,
    RateLimitExceededError,
)
from domain.lead import LeadStatus

DEFAULT_PAGE_SIZE = 500
DEFAULT_LEASE = timedelta(minutes=2)
INACTIVE_RECHECK = timedelta(minutes=5)
"""How long the events of an integration that is switched off or failing wait before they are
looked at again (they are kept, not sent, until it takes them again or they go stale)."""


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """A lead's step read off one outbox event."""

    lead_id: str
    stage: FunnelStage
    reason: str | None = None


_LOST = {LeadStatus.LOST.value, LeadStatus.ABANDONED.value}


def funnel_step(record: OutboxRecord) -> FunnelStep | None:
    """The funnel step an outbox event is, if any: a lead captured, a booking made for a lead,
    a lead won, lost or abandoned."""
    payload = record.payload
    if record.event_type == "LeadCaptured":
        return FunnelStep(record.aggregate_id, FunnelStage.LEAD_CAPTURED)
    if record.event_type == "BookingCreated":
        lead_id = payload.get("lead_id")
        return FunnelStep(lead_id, FunnelStage.BOOKED) if isinstance(lead_id, str) else None
    if record.event_type == "LeadStatusChanged":
        status = payload.get("status")
        if status == LeadStatus.WON.value:
            return FunnelStep(record.aggregate_id, FunnelStage.WON)
        if status in _LOST:
            return FunnelStep(record.aggregate_id, FunnelStage.LOST, reason=str(status))
    return None


class DispatchFunnelEvents:
    """Reads the outbox from the dispatcher's cursor and queues each funnel step for every
    integration of the lead's sub-account whose template has a funnel sink (`funnel_templates`),
    moving the cursor in the same transaction: each step is queued once per integration, even
    when copies of the service dispatch at the same time."""

    def __init__(
        self,
        *,
        outbox: OutboxReader,
        queue: FunnelQueue,
        funnel_templates: frozenset[str],
        clock: Clock,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self._outbox = outbox
        self._queue = queue
        self._templates = funnel_templates
        self._clock = clock
        self._page_size = page_size

    async def run_once(self) -> int:
        """Dispatch one page of the outbox; returns how many outbox events it read."""
        after = await self._queue.cursor()
        records = await self._outbox.read(after_sequence=after, limit=self._page_size)
        if not records:
            return 0
        steps = [
            (record, step)
            for record in records
            if record.sub_account_id is not None
            for step in (funnel_step(record),)
            if step is not None
        ]
        queued: list[tuple[str, FunnelEvent]] = []
        if steps and self._templates:
            origins = await self._queue.origins(sorted({step.lead_id for _, step in steps}))
            targets: dict[str, list[FunnelTarget]] = {}
            for record, step in steps:
                origin = origins.get(step.lead_id)
                sub_account_id = record.sub_account_id
                if origin is None or sub_account_id is None:
                    continue
                if sub_account_id not in targets:
                    targets[sub_account_id] = await self._queue.targets(
                        sub_account_id, self._templates
                    )
                event = _event(record, step, origin, sub_account_id)
                queued.extend((target.integration_id, event) for target in targets[sub_account_id])
        await self._queue.enqueue(
            queued, after=after, cursor=records[-1].sequence, now=self._clock.now()
        )
        return len(records)


def _event(
    record: OutboxRecord, step: FunnelStep, origin: LeadOrigin, sub_account_id: str
) -> FunnelEvent:
    return FunnelEvent(
        id=record.event_id,
        stage=step.stage,
        sub_account_id=sub_account_id,
        lead_id=step.lead_id,
        occurred_at=record.occurred_at,
        source_integration_id=origin.integration_id,
        source_template=origin.template_name,
        source_external_id=origin.external_id,
        reason=step.reason,
    )


@dataclass(frozen=True, slots=True)
class SendResult:
    template: str = ""
    """The integration's template (for metrics); empty when nothing was claimed."""
    sent: int = 0
    dropped: int = 0
    skipped: int = 0
    failed: int = 0
    resume_at: datetime | None = None
    """Set when the provider throttled the integration: nothing of it is due before then."""


class SendFunnelEvents:
    """Sends one integration's due funnel events to its sink, in batches of the sink's size.

    Rules: the provider call is made with no transaction open. Events the sink does not want
    are settled as skipped; events it refuses to send (stale, invalid) as dropped, never
    retried. A throttled batch is handed back uncounted, due when the provider says; refused
    credentials put the integration in error (its events wait, uncounted, for it to be fixed);
    other failures are retried with backoff, then dead-lettered. The events of an integration
    that is switched off or failing wait too."""

    def __init__(
        self,
        *,
        queue: FunnelQueue,
        uow: UnitOfWorkFactory,
        cipher: Cipher,
        sinks: Callable[[str], FunnelSink | None],
        clock: Clock,
        backoff: BackoffPolicy | None = None,
        credentials_refused: Callable[[str, InvalidCredentialsError], Awaitable[None]],
        lease: timedelta = DEFAULT_LEASE,
        rng: random.Random | None = None,
    ) -> None:
        """`credentials_refused(integration_id, error)`: the provider refused the integration's
        credentials (ConnectionTester.credentials_refused puts it in error, as a failed test
        would)."""
        self._credentials_refused = credentials_refused
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._queue = queue
        self._uow = uow
        self._cipher = cipher
        self._sinks = sinks
        self._clock = clock
        self._backoff = backoff or BackoffPolicy()
        self._lease = lease

    async def execute(self, integration_id: str) -> SendResult:
        now = self._clock.now()
        async with self._uow() as uow:
            integration = await uow.integrations.get(integration_id)
            template = "" if integration is None else integration.template_name
            sink = self._sinks(template) if template else None
            call = None
            if integration is not None and sink is not None and integration.is_operational:
                call = await provider_call(
                    uow, self._cipher, integration, priority=Priority.BACKGROUND
                )
        claims = await self._queue.claim(
            integration_id,
            now=now,
            limit=sink.max_batch if sink is not None else DEFAULT_PAGE_SIZE,
            lease_until=now + self._lease,
        )
        if not claims:
            return SendResult()
        if sink is None or call is None:
            await self._queue.retry(
                claims,
                error="the integration does not take funnel events now",
                retry_at=now + INACTIVE_RECHECK,
                count_attempt=False,
                now=now,
            )
            return SendResult(template, failed=len(claims), resume_at=now + INACTIVE_RECHECK)
        wanted = [claim for claim in claims if sink.wants(claim.event, call)]
        skipped = [claim.event.id for claim in claims if not sink.wants(claim.event, call)]
        if not wanted:
            await self._queue.settle(claims, sent=(), dropped={}, skipped=skipped, now=now)
            return SendResult(template, skipped=len(skipped))
        try:
            outcome = await sink.send(call, [claim.event for claim in wanted])
        except RateLimitExceededError as err:
            resume_at = self._clock.now() + timedelta(seconds=err.retry_after_seconds)
            await self._queue.retry(
                wanted, error=error_text(err), retry_at=resume_at, count_attempt=False, now=now
            )
            await self._settle_skipped(claims, skipped, now)
            return SendResult(
                template, skipped=len(skipped), failed=len(wanted), resume_at=resume_at
            )
        except InvalidCredentialsError as err:
            await self._credentials_refused(integration_id, err)
            await self._queue.retry(
                wanted,
                error=error_text(err),
                retry_at=now + INACTIVE_RECHECK,
                count_attempt=False,
                now=now,
            )
            await self._settle_skipped(claims, skipped, now)
            return SendResult(template, skipped=len(skipped), failed=len(wanted))
        except Exception as err:  # every other failure: retried with backoff
            await self._retry_or_give_up(wanted, err, now)
            await self._settle_skipped(claims, skipped, now)
            return SendResult(template, skipped=len(skipped), failed=len(wanted))
        reported = set(outcome.sent) | set(outcome.dropped)
        unreported = [claim for claim in wanted if claim.event.id not in reported]
        await self._queue.settle(
            claims, sent=outcome.sent, dropped=outcome.dropped, skipped=skipped, now=now
        )
        if unreported:
            await self._retry_or_give_up(
                unreported, RuntimeError("the sink did not report the event"), now
            )
        return SendResult(
            template,
            sent=len(outcome.sent),
            dropped=len(outcome.dropped),
            skipped=len(skipped),
            failed=len(unreported),
        )

    async def _settle_skipped(
        self, claims: Sequence[QueuedFunnelEvent], skipped: list[str], now: datetime
    ) -> None:
        if skipped:
            await self._queue.settle(claims, sent=(), dropped={}, skipped=skipped, now=now)

    async def _retry_or_give_up(
        self, claims: Sequence[QueuedFunnelEvent], err: Exception, now: datetime
    ) -> None:
        error = error_text(err)
        spent = [c for c in claims if c.attempts >= self._backoff.max_attempts]
        again = [c for c in claims if c.attempts < self._backoff.max_attempts]
        if spent:
            await self._queue.dead_letter(spent, error=error, now=now)
        if again:
            attempts = max(c.attempts for c in again)
            await self._queue.retry(
                again,
                error=error,
                retry_at=now + self._backoff.delay(attempts, self._rng),
                count_attempt=True,
                now=now,
            )

"""The lead funnel sent out: what a provider that measures or optimises on a sub-account's leads
(an ad platform's conversions, an analytics property) is given, and what it answers."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from application.ports.providers import ProviderCall
from domain.values import SecretStr


class FunnelStage(StrEnum):
    """Where a lead is in the sales funnel, in the platform's words."""

    LEAD_CAPTURED = "lead_captured"
    BOOKED = "booked"
    """A booking was made for the lead."""
    WON = "won"
    LOST = "lost"
    """Lost or abandoned; `FunnelEvent.reason` says which."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FunnelEvent:
    """One step of one lead through the funnel, as every funnel sink receives it."""

    id: str
    """Unique per step and stable across retries (the domain event's id): a sink that can
    deduplicate (an event id) uses it, so that a retried batch counts once."""
    stage: FunnelStage
    sub_account_id: str
    lead_id: str
    """The platform's id of the lead: pseudonymous, never personal data."""
    occurred_at: datetime
    """When the step happened (not when it is sent)."""
    source_integration_id: str
    """The integration the lead came from."""
    source_template: str
    """That integration's template: where the lead came from (an analytics lead source)."""
    source_external_id: str
    """The lead's id at the integration it came from (a Lead Ads lead's id, a CRM contact's)."""
    reason: str | None = None
    """For LOST: ``lost`` or ``abandoned``."""
    email: SecretStr | None = field(default=None, repr=False)
    """Personal data: only for sinks that hash it for matching; never logged or sent in clear."""
    phone: SecretStr | None = field(default=None, repr=False)
    """As `email`; in international form where the lead's record has it."""
    analytics_client_id: str | None = None
    """The web analytics client id the lead carries (from a web form), when it carries one."""


@dataclass(frozen=True, slots=True)
class FunnelOutcome:
    """What became of a batch a sink was given: the events it sent and the ones it refused to
    send (stale, invalid), each with why. Refused events are recorded, never retried."""

    sent: tuple[str, ...] = ()
    dropped: Mapping[str, str] = field(default_factory=dict)


class FunnelSink(Protocol):
    """A provider capability: takes a sub-account's funnel events for one integration."""

    @property
    def max_batch(self) -> int:
        """The most events one `send` may be given."""
        ...

    def wants(self, event: FunnelEvent, call: ProviderCall) -> bool:
        """Whether the integration of `call` is sent this event at all (an ad platform only
        hears of the leads its own forms captured; an analytics property of every lead)."""
        ...

    async def send(self, call: ProviderCall, events: Sequence[FunnelEvent]) -> FunnelOutcome:
        """Send the events (at most `max_batch`), validating them first: one the provider would
        refuse or silently drop is left out and reported in `dropped`. When the batch could not
        be sent, raises RateLimitExceededError (the provider throttles: try again after its
        `retry_after_seconds`), InvalidCredentialsError (the credentials died: the integration
        goes to error), ConnectionFailedError (transient: retried with backoff) or another
        ProviderError (the provider refused the batch as a whole)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FunnelTarget:
    """An integration of a sub-account whose provider takes funnel events."""

    integration_id: str
    template_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadOrigin:
    """Where a lead came from, for its funnel events."""

    lead_id: str
    integration_id: str
    template_name: str
    external_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedFunnelEvent:
    """A funnel event claimed for sending to one integration: `event` carries the lead's
    personal data, read when it was claimed."""

    id: str
    integration_id: str
    event: FunnelEvent
    attempts: int
    """Including this one."""
    claim_token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunnelActivity:
    """One integration's funnel events, for health: the newest sent, and counts since a moment."""

    last_sent_at: datetime | None
    sent: int
    dropped: int
    """Refused before sending (stale, invalid), since the moment asked."""
    dead_lettered: int
    """Given up on after their last attempt, since the moment asked."""
    backlog: int
    """Waiting to be sent (due, retrying or in hand)."""
    oldest_due_at: datetime | None
    """When the longest-waiting event due now became due; None when none is due."""


class FunnelQueue(Protocol):
    """Funnel events waiting to be sent, one row per (integration, event), and the outbox
    cursor of the dispatcher that writes them. Each call is its own transaction."""

    async def cursor(self) -> int:
        """The outbox sequence up to which every event has been dispatched (0 at first)."""
        ...

    async def targets(self, sub_account_id: str, templates: frozenset[str]) -> list[FunnelTarget]:
        """The sub-account's integrations of `templates` that take deliveries (switched on and
        not disconnected)."""
        ...

    async def origins(self, lead_ids: Sequence[str]) -> dict[str, LeadOrigin]:
        """Where each lead came from; a lead no longer here is left out."""
        ...

    async def enqueue(
        self,
        events: Sequence[tuple[str, FunnelEvent]],
        *,
        after: int,
        cursor: int,
        now: datetime,
    ) -> bool:
        """Queue each (integration id, event) unless queued already, and move the cursor from
        `after` to `cursor`, in one transaction; False (nothing written) when the cursor was no
        longer at `after` (another copy dispatched the same page first)."""
        ...

    async def due_integrations(self, *, now: datetime, limit: int) -> list[str]:
        """Integrations with events due, the longest waiting first."""
        ...

    async def claim(
        self, integration_id: str, *, now: datetime, limit: int, lease_until: datetime
    ) -> list[QueuedFunnelEvent]:
        """Claim up to `limit` of the integration's due events, oldest first, until
        `lease_until`, counting an attempt for each; concurrent claimers never share one."""
        ...

    async def settle(
        self,
        claims: Sequence[QueuedFunnelEvent],
        *,
        sent: Collection[str],
        dropped: Mapping[str, str],
        skipped: Collection[str],
        now: datetime,
    ) -> None:
        """Settle claimed events by event id: sent, dropped (with why), or skipped (the sink
        does not want it); a claim no longer held is left alone."""
        ...

    async def retry(
        self,
        claims: Sequence[QueuedFunnelEvent],
        *,
        error: str,
        retry_at: datetime,
        count_attempt: bool,
        now: datetime,
    ) -> None:
        """Hand claimed events back, due again at `retry_at`; their attempt uncounted unless
        `count_attempt`."""
        ...

    async def dead_letter(
        self, claims: Sequence[QueuedFunnelEvent], *, error: str, now: datetime
    ) -> None:
        """Give up on claimed events, keeping the error."""
        ...

    async def activity(
        self, integration_id: str, *, since: datetime, now: datetime
    ) -> FunnelActivity: ...

    async def counts(self) -> Mapping[str, int]:
        """How many events are in each status (for metrics and health)."""
        ...

"""The webhook inbox's ports: finding and verifying the integrations a delivery is for, storing
it (the ingest path's one write), and the worker's claims and settlements."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from application.ports.paging import Page, PageRequest
from domain.errors import ConcurrencyError
from domain.integration import IntegrationStatus
from domain.values import EncryptedSecret, ProviderAccount, SecretStr
from domain.webhook_delivery import DeliveryStatus, EventKind, WebhookDelivery


class SignatureScheme(StrEnum):
    """How a sender proved a delivery is theirs."""

    PUBLISHED_ED25519 = "published-ed25519"
    """Ed25519 with the sender's published key (one for every tenant)."""
    PUBLISHED_RSA_SHA256 = "published-rsa-sha256"
    """RSA-SHA256 with the sender's published key (one for every tenant)."""
    HMAC_SHA256 = "hmac-sha256"
    """``x-webhook-signature``: hex HMAC-SHA256 with the integration's ``webhookSecret``."""
    STANDARD_WEBHOOKS = "standard-webhooks"
    """``webhook-id``/``webhook-timestamp``/``webhook-signature`` with a ``whsec_`` secret."""
    APP_HMAC_SHA256 = "app-hmac-sha256"
    """HMAC-SHA256 of the body with the platform's app secret at the sender (one secret for
    every tenant), ``sha256=``-prefixed hex."""


_LIFECYCLE_KINDS = frozenset({EventKind.APP_INSTALLED, EventKind.APP_UNINSTALLED})


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookTarget:
    """The integration a delivery is for, as far as receiving it needs."""

    integration_id: str
    sub_account_id: str
    template_name: str
    is_active: bool
    status: IntegrationStatus
    config: Mapping[str, Any]
    webhook_secret: EncryptedSecret | None = field(default=None, repr=False)

    def accepts(self, kind: EventKind) -> bool:
        return accepts_deliveries(kind, is_active=self.is_active, status=self.status)


def accepts_deliveries(kind: EventKind, *, is_active: bool, status: IntegrationStatus) -> bool:
    """Deliveries are refused while the admin has switched the integration off or it is
    disconnected, except the app's own install/uninstall, which are what reconnect it. Checked
    when a delivery arrives and again when it is processed, so that one stored before a
    switch-off reached every copy changes nothing once the switch-off has committed."""
    if kind in _LIFECYCLE_KINDS:
        return True
    return is_active and status is not IntegrationStatus.DISCONNECTED


WEBHOOK_SECRET_FIELD = "webhookSecret"  # noqa: S105 - a field name, not a secret
"""The config field holding an integration's own webhook signing secret, for the schemes that
need one (HMAC, Standard Webhooks)."""


# Not frozen, like NewDelivery: built for every delivery on the ingest path, where a frozen
# dataclass sets each field through object.__setattr__. Nothing changes one once built.
@dataclass(slots=True, kw_only=True)
class DeliveryFacts:
    """What a provider reads off a delivery's body before anyone has verified it."""

    event_type: str
    """The sender's own name for the event (``ContactCreate``, ``leadgen``)."""
    kind: EventKind
    account: ProviderAccount | None
    """The account it is for; None when it is the platform's (an agency's app install, a test
    payload): then only the provider's own signatures can vouch for it."""
    delivery_id: str | None = None
    """The sender's own id for the delivery, when the body carries one."""
    sent_at: datetime | None = None
    """When the sender says it sent it, when the body says so."""
    platform_if_unowned: bool = False
    """Kept as the platform's, rather than refused, when no integration owns `account` (an
    agency's app install: only integrations connected through that install own the agency)."""


class WebhookSender(Protocol):
    """A provider's webhooks as receiving them needs: its route, what a body is and whom it is
    for, and which signature schemes vouch for a delivery."""

    @property
    def name(self) -> str:
        """The provider's part of the route (``POST /webhooks/{name}``), and the sender of its
        deliveries of the platform."""
        ...

    @property
    def platform_schemes(self) -> frozenset[SignatureScheme]:
        """The schemes that vouch for a delivery naming no account (no integration's secret)."""
        ...

    def split(self, payload: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        """The deliveries one verified body carries, each stored, deduplicated, routed and
        processed on its own (a sender that batches changes of several accounts into one POST);
        ``[payload]`` for a sender that sends one per request. Never raises."""
        ...

    def read(self, payload: Mapping[str, Any], *, route_event: str | None) -> DeliveryFacts:
        """The facts of a parsed body; `route_event` is the event named by the route, where the
        sender's routes name one. Never raises: what it cannot read it leaves out."""
        ...

    def accepted_schemes(
        self, target: WebhookTarget, *, routed: bool
    ) -> frozenset[SignatureScheme]:
        """The schemes that may vouch for a delivery to `target` (empty: none can); `routed`
        when it came on a route that names its event."""
        ...


class WebhookHandshake(Protocol):
    """A sender that checks an endpoint before sending to it: a GET carrying a challenge that
    must be echoed (``GET /webhooks/{name}``)."""

    def answer(self, query: Mapping[str, str]) -> str | None:
        """The body to answer the check with, verbatim as plain text; None to refuse it (403)."""
        ...


class WebhookTargets(Protocol):
    """Finds the integrations a provider account's webhooks are for."""

    async def find_owners(self, account: ProviderAccount) -> Sequence[WebhookTarget]:
        """The integrations that have proven they own `account` (IntegrationRepository.
        set_accounts), oldest first; none when nobody has. An implementation that caches hands
        out the same objects while its entry lives: the secret of a target is decrypted once per
        object (ReceiveWebhook)."""
        ...


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    scheme: SignatureScheme
    sent_at: datetime | None = None
    """The signed send time, where the scheme signs one (Standard Webhooks)."""
    message_id: str | None = None
    """The signed message id, where the scheme signs one (Standard Webhooks)."""


class SignatureVerifier(Protocol):
    """Checks a delivery's signature over its raw bytes, in constant time."""

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        schemes: frozenset[SignatureScheme],
        secret: SecretStr | None,
    ) -> VerifiedSignature:
        """Verify with the first of `schemes` whose header is present (Ed25519, RSA, app HMAC,
        Standard Webhooks, HMAC, in that order): a present but wrong signature is final, never a reason
        to try another. `headers` are keyed by lower-case name; `secret` is the integration's
        own, for the HMAC and Standard Webhooks schemes. Raises WebhookSignatureInvalidError,
        WebhookUnsignedError when no header of `schemes` is present."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundEvent:
    """A stored delivery, as a handler sees it."""

    delivery_id: str
    integration_id: str
    sub_account_id: str
    kind: EventKind
    event_type: str
    """The sender's own name for it (``ContactCreate``, ``contact.created``, ``INSTALL``)."""
    payload: dict[str, Any] = field(repr=False)
    received_at: datetime
    fetched: object = field(default=None, repr=False)
    """What the handler's `prepare` fetched from the provider for it (PreparingHandler)."""


# Not frozen, like the command and result below: built for every delivery on the ingest path,
# where a frozen dataclass sets each field through object.__setattr__ (~0.1 us a field,
# docs/performance.md). Nothing changes one once built.
@dataclass(slots=True, kw_only=True)
class NewDelivery:
    id: str
    """Our id for the row (time-ordered); the sender's is `delivery_id`."""
    integration_id: str
    sub_account_id: str
    delivery_id: str
    event_type: str
    kind: EventKind
    signature_scheme: SignatureScheme
    payload: dict[str, Any] = field(repr=False)
    received_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    last_error: str | None = None
    raw_payload: bytes | None = field(default=None, repr=False)
    """The body `payload` was parsed from: what a writer stores (its JSON text as it is, or
    read again exactly), since `payload` may hold large integers as floats (`parse_payload`)."""


@dataclass(slots=True, kw_only=True)  # not frozen: see NewDelivery
class PlatformDelivery:
    """A verified delivery that names no account an integration could own: an agency's app
    install or uninstall, an account created, a provider's test payload."""

    id: str
    sender: str
    """Who sent it (the sender's name): delivery ids are unique per sender."""
    delivery_id: str
    event_type: str
    kind: EventKind
    signature_scheme: SignatureScheme
    payload: dict[str, Any] = field(repr=False)
    received_at: datetime


class PlatformDeliveries(Protocol):
    """Deliveries of the platform rather than of an integration, kept (and recorded as ignored
    until a flow needs them, such as the Marketplace app's agency installs) so that none is
    answered 404 and lost."""

    async def record(self, delivery: PlatformDelivery) -> bool:
        """Durably store the delivery unless one with the same (sender, delivery id) is stored;
        returns whether it was new. Raises StorageUnavailableError when the database cannot
        take it."""
        ...


class InboxWriter(Protocol):
    """The ingest path's one write. Kept to one method, so that batching concurrent deliveries
    into one statement and one commit (group commit) can be added behind it."""

    async def store(self, delivery: NewDelivery) -> bool:
        """Durably store the delivery unless one with the same (integration, delivery id) is
        stored already; returns whether it was new. Returns only after the commit. Raises
        StorageUnavailableError when the database cannot take it."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedDelivery:
    """A delivery a worker holds until `claimed_until`; `claim_token` proves the claim."""

    id: str
    integration_id: str
    sub_account_id: str
    template_name: str
    """The integration's template: whose handlers apply it."""
    delivery_id: str
    event_type: str
    kind: EventKind
    payload: dict[str, Any] = field(repr=False)
    attempts: int
    """Including this one."""
    received_at: datetime
    claim_token: str
    claimed_until: datetime
    integration_accepts: bool = True
    """Whether the integration took deliveries of this kind when the claim was made
    (`accepts_deliveries`); one that no longer does settles the delivery as rejected."""
    unreadable: str | None = None
    """Why the stored payload could not be read back (then `payload` is empty): the delivery
    can never be processed."""
    trace_context: str | None = None
    """Opaque to the core: the trace context of the request that stored the delivery (a W3C
    traceparent), when it was traced; the worker links the delivery's processing to it."""

    def dead_lettered(self, *, error: str, now: datetime) -> WebhookDelivery:
        """The delivery as given up on, recording WebhookDeadLettered."""
        return WebhookDelivery.dead_lettered(
            id=self.id,
            sub_account_id=self.sub_account_id,
            integration_id=self.integration_id,
            delivery_id=self.delivery_id,
            event_type=self.event_type,
            kind=self.kind,
            attempts=self.attempts,
            error=error,
            now=now,
        )

    def to_event(self) -> InboundEvent:
        return InboundEvent(
            delivery_id=self.delivery_id,
            integration_id=self.integration_id,
            sub_account_id=self.sub_account_id,
            kind=self.kind,
            event_type=self.event_type,
            payload=self.payload,
            received_at=self.received_at,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDeliveryView:
    """A delivery as operators see it: its history, never its payload."""

    id: str
    integration_id: str
    sub_account_id: str
    delivery_id: str
    event_type: str
    kind: EventKind
    status: DeliveryStatus
    signature_scheme: SignatureScheme
    attempts: int
    last_error: str | None
    received_at: datetime
    next_attempt_at: datetime | None
    processed_at: datetime | None
    updated_at: datetime
    payload_purged: bool


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """Which deliveries to list; None and empty mean any."""

    sub_account_id: str | None = None
    integration_id: str | None = None
    statuses: frozenset[DeliveryStatus] = frozenset()
    event_type: str | None = None
    kind: EventKind | None = None


class ClaimLostError(ConcurrencyError):
    """The claim's lease ended and another worker claimed the delivery: this one must not
    settle it."""


class Inbox(Protocol):
    """Stored deliveries, in the unit of work's transaction (`uow.inbox`), so that a delivery is
    settled in the same commit as its handler's changes."""

    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        exclude: Collection[str] = (),
        per_integration: int | None = None,
    ) -> list[ClaimedDelivery]:
        """Claim up to `limit` deliveries that are due (pending, failed and due for a retry, or
        processing under an expired lease), counting an attempt for each; they stay claimed
        until `now + lease`. Fair across integrations: the oldest due delivery of each
        integration first, then the second of each, and so on, so that one integration's
        backlog never crowds out another's; at most `per_integration` of any one integration
        (None: no bound), and none of the integrations in `exclude`. Returned in that order. Concurrent workers never claim the same delivery. A payload that cannot be read
        back fails that claim alone (`ClaimedDelivery.unreadable`). Commit right after, to
        publish the claim."""
        ...

    async def mark_done(self, claim: ClaimedDelivery, *, now: datetime) -> None:
        """Settle a claimed delivery as applied, clearing the error of any earlier attempt;
        ClaimLostError if the claim is no longer held."""
        ...

    async def mark_ignored(self, claim: ClaimedDelivery, *, now: datetime) -> None:
        """Settle a claimed delivery as ignored, clearing any earlier error; ClaimLostError as
        mark_done."""
        ...

    async def mark_failed(
        self, claim: ClaimedDelivery, *, error: str, retry_at: datetime, now: datetime
    ) -> None:
        """Record a failed attempt; the delivery is due again at `retry_at`."""
        ...

    async def dead_letter(self, claim: ClaimedDelivery, *, error: str, now: datetime) -> None:
        """Give up on a delivery, keeping the last error; records WebhookDeadLettered."""
        ...

    async def mark_rejected(self, claim: ClaimedDelivery, *, error: str, now: datetime) -> None:
        """Settle a claimed delivery as rejected (its integration stopped taking deliveries):
        kept, replayable; ClaimLostError as mark_done."""
        ...

    async def release(
        self, claims: Sequence[ClaimedDelivery], *, now: datetime, due_at: datetime | None = None
    ) -> None:
        """Hand back claimed deliveries not attempted (a worker stopping, or an integration
        waiting on its provider's rate limit): due again at `due_at` (default: at once), their
        attempt not counted."""
        ...

    async def get(self, id: str) -> WebhookDeliveryView | None: ...

    async def list_page(
        self, filter: DeliveryFilter, page: PageRequest
    ) -> Page[WebhookDeliveryView]:
        """Deliveries matching `filter`, ordered by id (arrival order)."""
        ...

    async def replay(self, id: str, *, now: datetime) -> WebhookDeliveryView:
        """Make a dead or rejected delivery pending again, with its attempts reset and its last
        error kept. NotFoundError if there is none; InvalidTransitionError if it is in another
        state or its payload was purged."""
        ...

    async def purge_payloads(self, *, processed_before: datetime) -> int:
        """Forget the payloads of deliveries settled (done, ignored, rejected) before the
        cutoff; their rows stay, so the sender's ids keep deduplicating. Returns how many."""
        ...

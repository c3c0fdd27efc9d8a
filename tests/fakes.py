"""In-memory fakes of the application ports, for unit tests of the domain and use cases."""

from __future__ import annotations

import base64
import copy
import itertools
from collections.abc import Callable, Collection, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from application.dto import IntegrationView
from application.ports import (
    WEBHOOK_SECRET_FIELD,
    AssignedUser,
    BookingFilter,
    ClaimedDelivery,
    ClaimLostError,
    ConnectionTestResult,
    DeliveryFilter,
    IntegrationFilter,
    IntegrationProvider,
    LeadFilter,
    NewDelivery,
    Page,
    PageRequest,
    PlatformDelivery,
    ProviderCall,
    ProviderContext,
    ReplyContext,
    SecretBinding,
    SignatureScheme,
    TimezoneHints,
    WebhookDeliveryView,
    WebhookTarget,
    WrappedDataKey,
    accepts_deliveries,
)
from application.ports.crm import CrmAccount, CrmContact, MessageSent, OutgoingMessage
from domain.aggregate import Aggregate
from domain.booking import Booking
from domain.connection_session import ConnectionSession
from domain.conversation import ConversationMessage, MessageDirection, MessageStatus
from domain.errors import (
    AlreadyExistsError,
    ConcurrencyError,
    InvalidTransitionError,
    NotFoundError,
    SecretUnreadableError,
)
from domain.events import DomainEvent
from domain.integration import Integration
from domain.lead import Lead
from domain.template import IntegrationTemplate
from domain.values import EncryptedSecret, ProviderAccount, SecretStr
from domain.webhook_delivery import (
    PURGEABLE,
    REPLAYABLE,
    DeliveryStatus,
    EventKind,
)
from tests.support.sync_fakes import InMemorySyncRepository, SyncStore


class FixedClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class SequentialIds:
    def __init__(self, prefix: str = "id") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._counter):06d}"


@dataclass
class _Store:
    """The 'database' shared by every FakeUnitOfWork of one factory."""

    templates: dict[str, IntegrationTemplate] = field(default_factory=dict)
    integrations: dict[str, Integration] = field(default_factory=dict)
    request_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    accounts: dict[str, frozenset[ProviderAccount]] = field(default_factory=dict)
    """Integration id -> the provider accounts it owns."""
    outbox: list[DomainEvent] = field(default_factory=list)
    deliveries: dict[str, StoredDelivery] = field(default_factory=dict)
    leads: dict[str, Lead] = field(default_factory=dict)
    bookings: dict[str, Booking] = field(default_factory=dict)
    messages: dict[str, ConversationMessage] = field(default_factory=dict)
    sync: SyncStore = field(default_factory=SyncStore)
    open_units: int = 0
    """Units of work entered and not exited yet: the transactions a real database would hold."""


def _page(items: list[Any], page: PageRequest) -> Page[Any]:
    items = sorted(items, key=lambda a: a.id)
    if page.after_id is not None:
        items = [a for a in items if a.id > page.after_id]
    more = len(items) > page.size
    items = items[: page.size]
    return Page(items, items[-1].id if more and items else None)


class _Repository:
    """Copy-on-read, copy-on-write storage with version checks, like a real database row."""

    def __init__(self, rows: dict[str, Any], seen: set[Aggregate]) -> None:
        self._rows = rows
        self._pending: dict[str, Any] = {}
        self._deleted: set[str] = set()
        self.seen = seen

    def _load(self, key: str) -> Any:
        if key in self._deleted:
            return None
        row = self._pending.get(key) or self._rows.get(key)
        if row is None:
            return None
        aggregate = copy.deepcopy(row)
        aggregate.pull_events()
        self.seen.add(aggregate)
        return aggregate

    def _stored_version(self, key: str) -> int | None:
        row = self._pending.get(key) or self._rows.get(key)
        return None if row is None or key in self._deleted else int(row.version)

    def _write(self, aggregate: Any) -> None:
        if self._stored_version(aggregate.id) != aggregate.version:
            raise ConcurrencyError("stale version")
        aggregate.version += 1
        self._pending[aggregate.id] = copy.deepcopy(aggregate)
        self.seen.add(aggregate)

    def _all(self) -> list[Any]:
        merged = {**self._rows, **self._pending}
        return [copy.deepcopy(v) for k, v in merged.items() if k not in self._deleted]

    def flush(self) -> None:
        self._rows.update(self._pending)
        for key in self._deleted:
            self._rows.pop(key, None)


class InMemoryTemplateRepository(_Repository):
    async def get(self, template_id: str) -> IntegrationTemplate | None:
        return self._load(template_id)  # type: ignore[no-any-return]

    async def get_by_name(self, name: str) -> IntegrationTemplate | None:
        for t in self._all():
            if t.name == name:
                return self._load(t.id)  # type: ignore[no-any-return]
        return None

    async def list_page(
        self, page: PageRequest, *, include_inactive: bool
    ) -> Page[IntegrationTemplate]:
        return _page([t for t in self._all() if include_inactive or t.is_active], page)

    async def add(self, template: IntegrationTemplate) -> None:
        if any(t.name == template.name for t in self._all()):
            raise AlreadyExistsError(f"template {template.name!r} already exists")
        self._pending[template.id] = copy.deepcopy(template)
        self.seen.add(template)

    async def update(self, template: IntegrationTemplate) -> None:
        self._write(template)


class InMemoryIntegrationRepository(_Repository):
    def __init__(
        self,
        rows: dict[str, Any],
        seen: set[Aggregate],
        request_ids: dict[tuple[str, str], str],
        accounts: dict[str, frozenset[ProviderAccount]] | None = None,
    ) -> None:
        super().__init__(rows, seen)
        self._request_ids = request_ids
        self._new_request_ids: dict[tuple[str, str], str] = {}
        self._accounts = accounts if accounts is not None else {}
        self._new_accounts: dict[str, frozenset[ProviderAccount]] = {}

    async def set_accounts(
        self, integration_id: str, accounts: AbstractSet[ProviderAccount]
    ) -> None:
        self._new_accounts[integration_id] = frozenset(accounts)

    async def get(self, integration_id: str) -> Integration | None:
        return self._load(integration_id)  # type: ignore[no-any-return]

    async def list_page(self, filter: IntegrationFilter, page: PageRequest) -> Page[Integration]:
        def keep(i: Integration) -> bool:
            return (
                (filter.sub_account_id is None or i.sub_account_id == filter.sub_account_id)
                and (not filter.statuses or i.status in filter.statuses)
                and (filter.template_name is None or i.template_name == filter.template_name)
            )

        return _page([i for i in self._all() if keep(i)], page)

    async def list_sub_account_ids(self) -> list[str]:
        return sorted({i.sub_account_id for i in self._all()})

    async def add(self, integration: Integration, *, request_id: str | None = None) -> None:
        if request_id is not None:
            key = (integration.sub_account_id, request_id)
            if key in self._request_ids or key in self._new_request_ids:
                raise AlreadyExistsError("request id already used")
            self._new_request_ids[key] = integration.id
        self._pending[integration.id] = copy.deepcopy(integration)
        self.seen.add(integration)

    async def update(self, integration: Integration) -> None:
        self._write(integration)

    async def delete(self, integration: Integration) -> None:
        if self._stored_version(integration.id) != integration.version:
            raise ConcurrencyError("stale version")
        self._deleted.add(integration.id)
        self.seen.add(integration)

    async def find_by_request_id(self, sub_account_id: str, request_id: str) -> Integration | None:
        key = (sub_account_id, request_id)
        integration_id = self._new_request_ids.get(key) or self._request_ids.get(key)
        return None if integration_id is None else await self.get(integration_id)

    def flush(self) -> None:
        super().flush()
        self._request_ids.update(self._new_request_ids)
        self._accounts.update(self._new_accounts)
        for integration_id in self._deleted:
            self._accounts.pop(integration_id, None)


class FakeUnitOfWork:
    def __init__(self, store: _Store, on_commit: Callable[[], None] | None = None) -> None:
        self._store = store
        self._seen: set[Aggregate] = set()
        self.templates = InMemoryTemplateRepository(store.templates, self._seen)
        self.integrations = InMemoryIntegrationRepository(
            store.integrations, self._seen, store.request_ids, store.accounts
        )
        self.inbox = InMemoryInbox(store.deliveries, self._seen, store.integrations)
        self.leads = InMemoryLeadRepository(store.leads, self._seen)
        self.bookings = InMemoryBookingRepository(store.bookings, self._seen)
        self.messages = InMemoryMessageRepository(store.messages, self._seen)
        self.sync = InMemorySyncRepository(store.sync)
        self.committed = False
        self._on_commit = on_commit

    async def __aenter__(self) -> Self:
        self._store.open_units += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._store.open_units -= 1

    async def commit(self) -> None:
        if self._on_commit is not None:
            self._on_commit()
        for aggregate in self._seen:
            self._store.outbox.extend(aggregate.pull_events())
        self.templates.flush()
        self.integrations.flush()
        self.inbox.flush()
        self.leads.flush()
        self.bookings.flush()
        self.messages.flush()
        self.sync.flush()
        self.committed = True

    async def rollback(self) -> None:
        return None


class FakeUnitOfWorkFactory:
    """Makes FakeUnitOfWorks over one shared in-memory store; records every commit."""

    def __init__(self) -> None:
        self.store = _Store()
        self.commits = 0

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store, on_commit=self._count)

    def _count(self) -> None:
        self.commits += 1

    @property
    def outbox(self) -> list[DomainEvent]:
        return self.store.outbox


class FakeIntegrationReads:
    """IntegrationReads over a FakeUnitOfWorkFactory's store: the views of what its
    repository reads."""

    def __init__(self, uow: FakeUnitOfWorkFactory) -> None:
        self._uow = uow

    async def get(self, integration_id: str) -> IntegrationView | None:
        async with self._uow() as uow:
            integration = await uow.integrations.get(integration_id)
        return None if integration is None else IntegrationView.of(integration)

    async def list_page(
        self, filter: IntegrationFilter, page: PageRequest
    ) -> Page[IntegrationView]:
        async with self._uow() as uow:
            found = await uow.integrations.list_page(filter, page)
        return Page([IntegrationView.of(i) for i in found.items], found.next_after_id)


class FakeCipher:
    """A reversible stand-in that still enforces the binding, like the AEAD associated data."""

    key_id = "fake-key"

    async def encrypt(self, binding: SecretBinding, plaintext: SecretStr) -> EncryptedSecret:
        raw = f"{binding.sub_account_id}|{binding.integration_id}|{binding.field}|{plaintext.reveal()}"
        payload = base64.urlsafe_b64encode(raw.encode()).decode()
        return EncryptedSecret(token=f"v1.{self.key_id}.{payload}", hint=plaintext.hint())

    async def decrypt(self, binding: SecretBinding, secret: EncryptedSecret) -> SecretStr:
        raw = base64.urlsafe_b64decode(secret.token.split(".", 2)[2]).decode()
        sub, integration, name, value = raw.split("|", 3)
        if (sub, integration, name) != (
            binding.sub_account_id,
            binding.integration_id,
            binding.field,
        ):
            raise SecretUnreadableError("secret is bound to another integration or field")
        return SecretStr(value)

    async def needs_reencryption(self, sub_account_id: str, secret: EncryptedSecret) -> bool:
        return secret.key_id != self.key_id


class InMemoryDataKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, WrappedDataKey] = {}

    async def newest(self, sub_account_id: str) -> WrappedDataKey | None:
        mine = [k for k in self.keys.values() if k.sub_account_id == sub_account_id]
        return max(mine, key=lambda k: (k.created_at, k.key_id), default=None)

    async def get(self, key_id: str) -> WrappedDataKey | None:
        return self.keys.get(key_id)

    async def add(self, key: WrappedDataKey) -> None:
        self.keys[key.key_id] = key

    async def list_all(self) -> list[WrappedDataKey]:
        return list(self.keys.values())

    async def rewrap(self, key_id: str, *, wrapped: bytes, master_key_id: str) -> None:
        old = self.keys[key_id]
        self.keys[key_id] = WrappedDataKey(
            key_id, old.sub_account_id, wrapped, master_key_id, old.created_at
        )

    async def delete(self, key_id: str) -> None:
        self.keys.pop(key_id, None)

    async def delete_sub_account(self, sub_account_id: str) -> int:
        doomed = [k for k, v in self.keys.items() if v.sub_account_id == sub_account_id]
        for key_id in doomed:
            del self.keys[key_id]
        return len(doomed)


class FakeProvider:
    """Answers connection tests with a scripted result and records what it was given."""

    def __init__(self, result: ConnectionTestResult | None = None) -> None:
        self.result = result or ConnectionTestResult(
            success=True, message="connected", details={"account_name": "Acme"}
        )
        self.calls: list[ProviderContext] = []

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        self.calls.append(ctx)
        return self.result


class NoPendingChanges:
    """PendingChanges with nothing to push (DeleteIntegration's, where no sync is wired)."""

    async def deliver_now(self, integration_id: str) -> str | None:
        return None


class FakeProviderRegistry:
    def __init__(self, providers: dict[str, IntegrationProvider] | None = None) -> None:
        self.providers = dict(providers or {})

    def get(self, template_name: str) -> IntegrationProvider | None:
        return self.providers.get(template_name)


# --- the webhook inbox -------------------------------------------------------------------------


@dataclass
class StoredDelivery:
    """One webhook_deliveries row, in memory."""

    id: str
    integration_id: str
    sub_account_id: str
    delivery_id: str
    event_type: str
    kind: EventKind
    status: DeliveryStatus
    signature_scheme: SignatureScheme
    payload: dict[str, Any] | None
    attempts: int
    next_attempt_at: datetime | None
    received_at: datetime
    updated_at: datetime
    claimed_until: datetime | None = None
    claim_token: str | None = None
    last_error: str | None = None
    processed_at: datetime | None = None

    def view(self) -> WebhookDeliveryView:
        waiting = self.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
        return WebhookDeliveryView(
            id=self.id,
            integration_id=self.integration_id,
            sub_account_id=self.sub_account_id,
            delivery_id=self.delivery_id,
            event_type=self.event_type,
            kind=self.kind,
            status=self.status,
            signature_scheme=self.signature_scheme,
            attempts=self.attempts,
            last_error=self.last_error,
            received_at=self.received_at,
            next_attempt_at=self.next_attempt_at if waiting else None,
            processed_at=self.processed_at,
            updated_at=self.updated_at,
            payload_purged=self.payload is None,
        )


class InMemoryInboxWriter:
    """Stores straight into the factory's store (as the real one commits at once). Set `error`
    to make every store fail with it, as a database that is down."""

    def __init__(self, uow: FakeUnitOfWorkFactory) -> None:
        self._rows = uow.store.deliveries
        self.error: Exception | None = None

    async def store(self, delivery: NewDelivery) -> bool:
        if self.error is not None:
            raise self.error
        key = (delivery.integration_id, delivery.delivery_id)
        if any((r.integration_id, r.delivery_id) == key for r in self._rows.values()):
            return False
        settled = delivery.status is not DeliveryStatus.PENDING
        self._rows[delivery.id] = StoredDelivery(
            id=delivery.id,
            integration_id=delivery.integration_id,
            sub_account_id=delivery.sub_account_id,
            delivery_id=delivery.delivery_id,
            event_type=delivery.event_type,
            kind=delivery.kind,
            status=delivery.status,
            signature_scheme=delivery.signature_scheme,
            payload=copy.deepcopy(delivery.payload),
            attempts=0,
            next_attempt_at=None if settled else delivery.received_at,
            received_at=delivery.received_at,
            updated_at=delivery.received_at,
            last_error=delivery.last_error,
            processed_at=delivery.received_at if settled else None,
        )
        return True


class InMemoryPlatformDeliveries:
    """PlatformDeliveries in a list, once per (sender, delivery id)."""

    def __init__(self) -> None:
        self.recorded: list[PlatformDelivery] = []

    async def record(self, delivery: PlatformDelivery) -> bool:
        key = (delivery.sender, delivery.delivery_id)
        if any((d.sender, d.delivery_id) == key for d in self.recorded):
            return False
        self.recorded.append(copy.deepcopy(delivery))
        return True


class InMemoryWebhookTargets:
    """WebhookTargets over the fake store's integrations and the accounts they own."""

    def __init__(self, uow: FakeUnitOfWorkFactory) -> None:
        self._integrations = uow.store.integrations
        self._accounts = uow.store.accounts

    async def find_owners(self, account: ProviderAccount) -> tuple[WebhookTarget, ...]:
        return tuple(
            WebhookTarget(
                integration_id=i.id,
                sub_account_id=i.sub_account_id,
                template_name=i.template_name,
                is_active=i.is_active,
                status=i.status,
                config=dict(i.config),
                webhook_secret=i.secrets.get(WEBHOOK_SECRET_FIELD),
            )
            for i in sorted(self._integrations.values(), key=lambda i: i.id)
            if account in self._accounts.get(i.id, frozenset())
        )


class InMemoryInbox:
    """The Inbox of one FakeUnitOfWork: changes are kept apart until commit, like a transaction."""

    def __init__(
        self,
        rows: dict[str, StoredDelivery],
        seen: set[Aggregate],
        integrations: dict[str, Integration] | None = None,
    ) -> None:
        self._rows = rows
        self._pending: dict[str, StoredDelivery] = {}
        self._seen = seen
        self._integrations = integrations if integrations is not None else {}
        self._tokens = itertools.count(1)

    def _all(self) -> list[StoredDelivery]:
        merged = {**self._rows, **self._pending}
        return [merged[k] for k in sorted(merged)]

    def _edit(self, delivery_id: str) -> StoredDelivery | None:
        if delivery_id not in self._pending:
            row = self._rows.get(delivery_id)
            if row is None:
                return None
            self._pending[delivery_id] = copy.deepcopy(row)
        return self._pending[delivery_id]

    def flush(self) -> None:
        self._rows.update(self._pending)
        self._pending.clear()

    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        exclude: Collection[str] = (),
        per_integration: int | None = None,
    ) -> list[ClaimedDelivery]:
        token = f"claim-{id(self)}-{next(self._tokens)}"
        turns: dict[str, int] = {}
        ranked: list[tuple[int, StoredDelivery]] = []
        for row in self._all():
            waiting = row.status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
            due = (waiting and row.next_attempt_at is not None and row.next_attempt_at <= now) or (
                row.status is DeliveryStatus.PROCESSING
                and row.claimed_until is not None
                and row.claimed_until <= now
            )
            if not due or row.integration_id in exclude:
                continue
            turns[row.integration_id] = turns.get(row.integration_id, 0) + 1
            if per_integration is None or turns[row.integration_id] <= per_integration:
                ranked.append((turns[row.integration_id], row))
        claimed: list[ClaimedDelivery] = []
        for _, row in sorted(ranked, key=lambda r: (r[0], r[1].id))[:limit]:
            edit = self._edit(row.id)
            assert edit is not None
            edit.status = DeliveryStatus.PROCESSING
            edit.attempts += 1
            edit.claimed_until = now + lease
            edit.claim_token = token
            edit.updated_at = now
            integration = self._integrations.get(edit.integration_id)
            claimed.append(
                ClaimedDelivery(
                    id=edit.id,
                    integration_id=edit.integration_id,
                    sub_account_id=edit.sub_account_id,
                    template_name="" if integration is None else integration.template_name,
                    delivery_id=edit.delivery_id,
                    event_type=edit.event_type,
                    kind=edit.kind,
                    payload=copy.deepcopy(edit.payload or {}),
                    attempts=edit.attempts,
                    received_at=edit.received_at,
                    claim_token=token,
                    claimed_until=now + lease,
                    integration_accepts=integration is not None
                    and accepts_deliveries(
                        edit.kind, is_active=integration.is_active, status=integration.status
                    ),
                )
            )
        return claimed

    def _held(self, claim: ClaimedDelivery) -> StoredDelivery:
        row = self._edit(claim.id)
        if (
            row is None
            or row.status is not DeliveryStatus.PROCESSING
            or row.claim_token != claim.claim_token
        ):
            raise ClaimLostError(f"the claim on delivery {claim.id!r} was lost")
        return row

    def _settle(
        self,
        claim: ClaimedDelivery,
        status: DeliveryStatus,
        now: datetime,
        *,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        row = self._held(claim)
        row.status = status
        row.claim_token = None
        row.claimed_until = None
        row.next_attempt_at = retry_at
        row.updated_at = now
        succeeded = status in (DeliveryStatus.DONE, DeliveryStatus.IGNORED)
        if succeeded or status is DeliveryStatus.REJECTED:
            row.processed_at = now
        if succeeded:
            row.last_error = None
        elif error is not None:
            row.last_error = error

    async def mark_done(self, claim: ClaimedDelivery, *, now: datetime) -> None:
        self._settle(claim, DeliveryStatus.DONE, now)

    async def mark_ignored(self, claim: ClaimedDelivery, *, now: datetime) -> None:
        self._settle(claim, DeliveryStatus.IGNORED, now)

    async def mark_failed(
        self, claim: ClaimedDelivery, *, error: str, retry_at: datetime, now: datetime
    ) -> None:
        self._settle(claim, DeliveryStatus.FAILED, now, error=error, retry_at=retry_at)

    async def dead_letter(self, claim: ClaimedDelivery, *, error: str, now: datetime) -> None:
        self._settle(claim, DeliveryStatus.DEAD, now, error=error)
        self._seen.add(claim.dead_lettered(error=error, now=now))

    async def mark_rejected(self, claim: ClaimedDelivery, *, error: str, now: datetime) -> None:
        self._settle(claim, DeliveryStatus.REJECTED, now, error=error)

    async def release(
        self, claims: Sequence[ClaimedDelivery], *, now: datetime, due_at: datetime | None = None
    ) -> None:
        for claim in claims:
            row = self._edit(claim.id)
            if row is None or row.claim_token != claim.claim_token:
                continue
            row.attempts -= 1
            row.status = DeliveryStatus.PENDING if row.attempts == 0 else DeliveryStatus.FAILED
            row.next_attempt_at = due_at or now
            row.claim_token = None
            row.claimed_until = None
            row.updated_at = now

    async def get(self, id: str) -> WebhookDeliveryView | None:
        row = self._pending.get(id) or self._rows.get(id)
        return None if row is None else row.view()

    async def list_page(
        self, filter: DeliveryFilter, page: PageRequest
    ) -> Page[WebhookDeliveryView]:
        def keep(r: StoredDelivery) -> bool:
            return (
                (filter.sub_account_id is None or r.sub_account_id == filter.sub_account_id)
                and (filter.integration_id is None or r.integration_id == filter.integration_id)
                and (not filter.statuses or r.status in filter.statuses)
                and (filter.event_type is None or r.event_type == filter.event_type)
                and (filter.kind is None or r.kind is filter.kind)
            )

        return _page([r.view() for r in self._all() if keep(r)], page)

    async def replay(self, id: str, *, now: datetime) -> WebhookDeliveryView:
        row = self._edit(id)
        if row is None:
            raise NotFoundError("webhook delivery", id)
        if row.status not in REPLAYABLE or row.payload is None:
            raise InvalidTransitionError(f"delivery {id!r} cannot be replayed")
        row.status = DeliveryStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.processed_at = None
        row.updated_at = now
        return row.view()

    async def purge_payloads(self, *, processed_before: datetime) -> int:
        purged = 0
        for row in self._all():
            if (
                row.status in PURGEABLE
                and row.processed_at is not None
                and row.processed_at < processed_before
                and row.payload is not None
            ):
                edit = self._edit(row.id)
                assert edit is not None
                edit.payload = None
                purged += 1
        return purged


# --- leads, bookings, conversations ----------------------------------------------------------


class _ExternallyKeyed(_Repository):
    """Rows unique per (integration_id, external_id), like the leads and bookings tables."""

    resource = "row"

    async def get(self, aggregate_id: str) -> Any:
        return self._load(aggregate_id)

    async def get_by_external_id(self, integration_id: str, external_id: str) -> Any:
        for row in self._all():
            if (row.integration_id, row.external_id) == (integration_id, external_id):
                return self._load(row.id)
        return None

    async def get_many_by_external_id(
        self, integration_id: str, external_ids: Sequence[str]
    ) -> dict[str, Any]:
        wanted = set(external_ids)
        return {
            row.external_id: self._load(row.id)
            for row in self._all()
            if row.integration_id == integration_id and row.external_id in wanted
        }

    async def add(self, aggregate: Any) -> None:
        key = (aggregate.integration_id, aggregate.external_id)
        if any((r.integration_id, r.external_id) == key for r in self._all()):
            raise AlreadyExistsError(f"the {self.resource} already exists")
        self._pending[aggregate.id] = copy.deepcopy(aggregate)
        self.seen.add(aggregate)

    async def update(self, aggregate: Any) -> None:
        self._write(aggregate)


class InMemoryLeadRepository(_ExternallyKeyed):
    resource = "lead"

    async def add_many(self, leads: Sequence[Lead]) -> None:
        """All or none, as one INSERT of several rows."""
        keys = [(lead.integration_id, lead.external_id) for lead in leads]
        if len(set(keys)) < len(keys) or {
            (r.integration_id, r.external_id) for r in self._all()
        }.intersection(keys):
            raise AlreadyExistsError(f"the {self.resource} already exists")
        for lead in leads:
            await self.add(lead)

    async def list_page(self, filter: LeadFilter, page: PageRequest) -> Page[Lead]:
        def keep(lead: Lead) -> bool:
            return (
                (filter.sub_account_id is None or lead.sub_account_id == filter.sub_account_id)
                and (filter.integration_id is None or lead.integration_id == filter.integration_id)
                and (filter.include_deleted or not lead.deleted)
                and (not filter.statuses or lead.status in filter.statuses)
            )

        return _page([lead for lead in self._all() if keep(lead)], page)


class InMemoryBookingRepository(_ExternallyKeyed):
    resource = "booking"

    async def list_page(self, filter: BookingFilter, page: PageRequest) -> Page[Booking]:
        def keep(b: Booking) -> bool:
            return (
                (filter.sub_account_id is None or b.sub_account_id == filter.sub_account_id)
                and (filter.integration_id is None or b.integration_id == filter.integration_id)
                and (filter.lead_id is None or b.lead_id == filter.lead_id)
                and (filter.ends_after is None or b.details.end > filter.ends_after)
                and (filter.starts_before is None or b.details.start < filter.starts_before)
            )

        return _page([b for b in self._all() if keep(b)], page)


class InMemoryMessageRepository(_Repository):
    async def get(self, message_id: str) -> ConversationMessage | None:
        return self._load(message_id)  # type: ignore[no-any-return]

    async def get_by_dedupe_key(
        self, integration_id: str, dedupe_key: str
    ) -> ConversationMessage | None:
        for m in self._all():
            if (m.integration_id, m.dedupe_key) == (integration_id, dedupe_key):
                return self._load(m.id)  # type: ignore[no-any-return]
        return None

    async def is_own_message(self, integration_id: str, external_message_id: str) -> bool:
        return any(
            m.integration_id == integration_id
            and m.external_message_id == external_message_id
            and m.direction is MessageDirection.OUTBOUND
            for m in self._all()
        )

    async def due_replies(self, *, now: datetime, limit: int) -> list[ConversationMessage]:
        due = sorted((m for m in self._all() if m.is_due(now)), key=lambda m: (m.created_at, m.id))
        return [self._load(m.id) for m in due[:limit]]

    async def stuck_replies(
        self, *, sending_since: datetime, limit: int
    ) -> list[ConversationMessage]:
        stuck = sorted(
            (
                m
                for m in self._all()
                if m.status is MessageStatus.SENDING and m.updated_at < sending_since
            ),
            key=lambda m: (m.created_at, m.id),
        )
        return [self._load(m.id) for m in stuck[:limit]]

    async def add(self, message: ConversationMessage) -> None:
        key = (message.integration_id, message.dedupe_key)
        if any((m.integration_id, m.dedupe_key) == key for m in self._all()):
            raise AlreadyExistsError("the conversation message already exists")
        self._pending[message.id] = copy.deepcopy(message)
        self.seen.add(message)

    async def update(self, message: ConversationMessage) -> None:
        self._write(message)


class FakeTenantDirectory:
    """Each sub-account's first assignable user, as configured by the test."""

    def __init__(self, users: dict[str, AssignedUser] | None = None) -> None:
        self.users = dict(users or {})
        self.asked: list[str] = []

    async def first_assignable_user(self, sub_account_id: str) -> AssignedUser | None:
        self.asked.append(sub_account_id)
        return self.users.get(sub_account_id)


class FakeTimezoneResolver:
    """Zones by country code, then by phone number; records the hints it was given."""

    def __init__(
        self, by_country: dict[str, str] | None = None, by_phone: dict[str, str] | None = None
    ) -> None:
        self.by_country = dict(by_country or {})
        self.by_phone = dict(by_phone or {})
        self.hints: list[TimezoneHints] = []

    def resolve(self, hints: TimezoneHints) -> str | None:
        self.hints.append(hints)
        return self.by_country.get(hints.country or "") or self.by_phone.get(hints.phone or "")


class FakeSalesBot:
    """Answers every message with `answer` (None: stays silent), or raises `error`."""

    def __init__(self, answer: str | None = "Thanks! When suits you for a call?") -> None:
        self.answer = answer
        self.error: Exception | None = None
        self.contexts: list[ReplyContext] = []

    async def reply(self, context: ReplyContext) -> str | None:
        self.contexts.append(context)
        if self.error is not None:
            raise self.error
        return self.answer


class FakeCrmApi:
    """The CrmApi calls the webhook handlers make, scripted: a location, contacts, and
    message sends that succeed with fresh ids or raise `send_error`."""

    def __init__(self, *, location_timezone: str | None = "America/Chicago") -> None:
        self.location_timezone = location_timezone
        self.location_error: Exception | None = None
        self.contacts: dict[str, CrmContact] = {}
        self.send_error: Exception | None = None
        self.sent: list[tuple[ProviderCall, OutgoingMessage]] = []
        self.location_calls = 0

    async def get_account(self, call: ProviderCall) -> CrmAccount:
        self.location_calls += 1
        if self.location_error is not None:
            raise self.location_error
        return CrmAccount(
            id=str(call.config["locationId"]), name="Clinic", timezone=self.location_timezone
        )

    async def get_contact(self, call: ProviderCall, contact_id: str) -> CrmContact:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise NotFoundError("contact", contact_id)
        return contact

    async def send_message(self, call: ProviderCall, message: OutgoingMessage) -> MessageSent:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append((call, message))
        n = len(self.sent)
        return MessageSent(conversation_id=f"conv-{n}", message_id=f"sent-{n}")


# --- connection sessions (OAuth sign-ins) ------------------------------------------------------


class InMemoryConnectionSessions:
    """application.ports.ConnectionSessions in memory: copies in and out, as a database would."""

    def __init__(self) -> None:
        self.sessions: dict[str, ConnectionSession] = {}

    async def add(self, session: ConnectionSession) -> None:
        if session.id in self.sessions or any(
            (s.provider, s.state_digest) == (session.provider, session.state_digest)
            for s in self.sessions.values()
        ):
            raise AlreadyExistsError("connection session exists")
        self.sessions[session.id] = copy.deepcopy(session)

    async def get(self, session_id: str) -> ConnectionSession | None:
        found = self.sessions.get(session_id)
        return None if found is None else copy.deepcopy(found)

    async def by_state(self, provider: str, state_digest: str) -> ConnectionSession | None:
        for session in self.sessions.values():
            if (session.provider, session.state_digest) == (provider, state_digest):
                return copy.deepcopy(session)
        return None

    async def save(self, session: ConnectionSession, *, expected: str) -> bool:
        stored = self.sessions.get(session.id)
        if stored is None or stored.status != expected:
            return False
        self.sessions[session.id] = copy.deepcopy(session)
        return True

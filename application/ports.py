"""Ports: what the use cases need from the outside world, one capability each."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from application.dto import IntegrationView
from domain.booking import Booking
from domain.conversation import ConversationMessage
from domain.errors import ErrorCode, FieldViolation
from domain.integration import Integration, IntegrationStatus
from domain.lead import Lead, LeadStatus
from domain.template import ConfigSchema, IntegrationTemplate
from domain.values import EncryptedSecret, ProviderAccount, SecretStr

if TYPE_CHECKING:
    # application.webhooks builds on this module; the name is needed for typing only.
    from application.sync import SyncRepository
    from application.webhooks import Inbox


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A new unique id whose string order follows creation time (UUIDv7)."""
        ...


# --- config schemas --------------------------------------------------------------------------


class ConfigValidator(Protocol):
    """Checks configs against templates' JSON schemas."""

    def check_schema(self, schema: ConfigSchema) -> list[FieldViolation]:
        """Every reason `schema` is not a valid JSON Schema (empty when it is)."""
        ...

    def validate(
        self, template: IntegrationTemplate, config: dict[str, Any]
    ) -> list[FieldViolation]:
        """Every violation of the template's schema by `config`, field paths prefixed ``config.``.
        Validators are compiled once per template id and version."""
        ...


# --- secrets ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretBinding:
    """What a ciphertext is bound to: its integration and field (the AEAD associated data),
    and the sub-account whose data key seals it."""

    sub_account_id: str
    integration_id: str
    field: str


class Cipher(Protocol):
    """Envelope encryption of secrets: one data key per sub-account, wrapped by a master key."""

    async def encrypt(self, binding: SecretBinding, plaintext: SecretStr) -> EncryptedSecret:
        """Seal under the sub-account's newest data key (created on first use)."""
        ...

    async def decrypt(self, binding: SecretBinding, secret: EncryptedSecret) -> SecretStr:
        """Open a secret; raises SecretUnreadableError if it was sealed for another binding,
        was tampered with, or its data key was shredded."""
        ...

    async def needs_reencryption(self, sub_account_id: str, secret: EncryptedSecret) -> bool:
        """Whether `secret` is sealed under a data key other than the sub-account's newest."""
        ...


@dataclass(frozen=True, slots=True)
class WrappedDataKey:
    """A sub-account's data key as stored: sealed by the master key `master_key_id`."""

    key_id: str
    sub_account_id: str
    wrapped: bytes = field(repr=False)
    master_key_id: str
    created_at: datetime


class DataKeyStore(Protocol):
    """Where wrapped data keys live (this service's database). Each call is its own transaction:
    a data key is committed before anything is sealed with it."""

    async def newest(self, sub_account_id: str) -> WrappedDataKey | None:
        """The sub-account's newest data key: the one new secrets are sealed under."""
        ...

    async def get(self, key_id: str) -> WrappedDataKey | None: ...

    async def add(self, key: WrappedDataKey) -> None: ...

    async def list_all(self) -> list[WrappedDataKey]: ...

    async def rewrap(self, key_id: str, *, wrapped: bytes, master_key_id: str) -> None:
        """Replace a key's wrapping (master-key rotation); the data key itself is unchanged."""
        ...

    async def delete(self, key_id: str) -> None: ...

    async def delete_sub_account(self, sub_account_id: str) -> int:
        """Crypto-shred: forget every data key of a sub-account; returns how many went."""
        ...


class DataKeyRotation(Protocol):
    """Sub-accounts' data keys, as re-encrypting secrets under fresh ones needs them."""

    async def create_data_key(self, sub_account_id: str) -> str:
        """Store a fresh data key; from now on it is the sub-account's newest, the one every new
        secret is sealed under. Returns its id."""
        ...

    async def delete_unused_data_keys(self, sub_account_id: str, in_use: AbstractSet[str]) -> int:
        """Delete the sub-account's data keys whose ids are not in `in_use`, never its newest;
        returns how many went. Secrets sealed under a deleted key are unreadable for good."""
        ...


# --- persistence -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Keyset pagination: at most `size` items whose id sorts after `after_id`."""

    size: int
    after_id: str | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; `next_after_id` is None on the last page."""

    items: Sequence[T]
    next_after_id: str | None


@dataclass(frozen=True, slots=True)
class IntegrationFilter:
    """Which integrations to list. `sub_account_id` None means every sub-account (admins only)."""

    sub_account_id: str | None = None
    statuses: frozenset[IntegrationStatus] = frozenset()
    template_name: str | None = None


class TemplateRepository(Protocol):
    async def get(self, template_id: str) -> IntegrationTemplate | None: ...

    async def get_by_name(self, name: str) -> IntegrationTemplate | None: ...

    async def list_page(
        self, page: PageRequest, *, include_inactive: bool
    ) -> Page[IntegrationTemplate]:
        """Templates ordered by id."""
        ...

    async def add(self, template: IntegrationTemplate) -> None:
        """Insert; raises AlreadyExistsError when the name is taken."""
        ...

    async def update(self, template: IntegrationTemplate) -> None:
        """Write the template if its stored version still equals `template.version`, then bump
        `template.version`; otherwise raise ConcurrencyError."""
        ...


class IntegrationRepository(Protocol):
    async def get(self, integration_id: str) -> Integration | None: ...

    async def list_page(self, filter: IntegrationFilter, page: PageRequest) -> Page[Integration]:
        """Integrations matching `filter`, ordered by id."""
        ...

    async def list_sub_account_ids(self) -> list[str]:
        """Every sub-account that has at least one integration."""
        ...

    async def add(self, integration: Integration, *, request_id: str | None = None) -> None:
        """Insert; `request_id` is remembered for find_by_request_id (unique per sub-account)."""
        ...

    async def update(self, integration: Integration) -> None:
        """Optimistic write, as TemplateRepository.update."""
        ...

    async def delete(self, integration: Integration) -> None:
        """Delete if the stored version still equals `integration.version`, else ConcurrencyError."""
        ...

    async def find_by_request_id(self, sub_account_id: str, request_id: str) -> Integration | None:
        """The integration created by an earlier CreateIntegration with this request id."""
        ...

    async def set_accounts(
        self, integration_id: str, accounts: AbstractSet[ProviderAccount]
    ) -> None:
        """Replace the provider accounts the integration has proven it owns (empty: none). In
        the unit of work's transaction, beside the integration's own changes."""
        ...


class IntegrationReads(Protocol):
    """Integrations as callers see them (secrets masked), read straight into views without a
    unit of work or aggregates: for queries that change nothing. Each read sees the latest
    commit."""

    async def get(self, integration_id: str) -> IntegrationView | None: ...

    async def list_page(
        self, filter: IntegrationFilter, page: PageRequest
    ) -> Page[IntegrationView]:
        """Integrations matching `filter`, ordered by id (IntegrationRepository.list_page)."""
        ...


@dataclass(frozen=True, slots=True)
class LeadFilter:
    """Which leads to list; None matches any. Deleted leads are left out unless asked for."""

    sub_account_id: str | None = None
    integration_id: str | None = None
    include_deleted: bool = False
    statuses: frozenset[LeadStatus] = frozenset()
    """Only leads in one of these statuses; empty matches any."""


class LeadRepository(Protocol):
    """Leads, unique per (integration_id, external_id). Loaded and written leads are seen by
    the unit of work, which writes their events to the outbox on commit."""

    async def get(self, lead_id: str) -> Lead | None: ...

    async def get_by_external_id(self, integration_id: str, external_id: str) -> Lead | None:
        """The lead of a provider contact, deleted or not."""
        ...

    async def get_many_by_external_id(
        self, integration_id: str, external_ids: Sequence[str]
    ) -> dict[str, Lead]:
        """The leads of these provider contacts (those it has), by contact id, in one query."""
        ...

    async def list_page(self, filter: LeadFilter, page: PageRequest) -> Page[Lead]:
        """Leads matching `filter`, ordered by id."""
        ...

    async def add(self, lead: Lead) -> None:
        """Insert; raises AlreadyExistsError when the integration already has the contact."""
        ...

    async def add_many(self, leads: Sequence[Lead]) -> None:
        """Insert them all in one statement, or none: AlreadyExistsError as `add` (also when
        two of them are the same contact)."""
        ...

    async def update(self, lead: Lead) -> None:
        """Optimistic write, as TemplateRepository.update."""
        ...


@dataclass(frozen=True, slots=True)
class BookingFilter:
    """Which bookings to list; None matches any."""

    sub_account_id: str | None = None
    integration_id: str | None = None
    lead_id: str | None = None
    ends_after: datetime | None = None
    """Only bookings whose end is after this time."""
    starts_before: datetime | None = None
    """Only bookings whose start is before this time."""


class BookingRepository(Protocol):
    """Bookings, unique per (integration_id, external_id); seen like leads."""

    async def get(self, booking_id: str) -> Booking | None: ...

    async def get_by_external_id(self, integration_id: str, external_id: str) -> Booking | None: ...

    async def list_page(self, filter: BookingFilter, page: PageRequest) -> Page[Booking]:
        """Bookings matching `filter`, ordered by id."""
        ...

    async def add(self, booking: Booking) -> None:
        """Insert; raises AlreadyExistsError when the integration already has the appointment."""
        ...

    async def update(self, booking: Booking) -> None: ...


class MessageRepository(Protocol):
    """Conversation messages received and replies sent, unique per (integration_id,
    dedupe_key); seen like leads."""

    async def get(self, message_id: str) -> ConversationMessage | None: ...

    async def get_by_dedupe_key(
        self, integration_id: str, dedupe_key: str
    ) -> ConversationMessage | None: ...

    async def is_own_message(self, integration_id: str, external_message_id: str) -> bool:
        """Whether the service sent the provider message `external_message_id` (a reply)."""
        ...

    async def due_replies(self, *, now: datetime, limit: int) -> list[ConversationMessage]:
        """Up to `limit` pending replies due at `now`, oldest first, locked for this transaction
        where the database can (rows another transaction holds are skipped)."""
        ...

    async def stuck_replies(
        self, *, sending_since: datetime, limit: int
    ) -> list[ConversationMessage]:
        """Replies still sending since before `sending_since`: their sender stopped mid-send."""
        ...

    async def add(self, message: ConversationMessage) -> None:
        """Insert; raises AlreadyExistsError when the dedupe key is taken."""
        ...

    async def update(self, message: ConversationMessage) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction. `async with uow:` opens it; `commit()` writes the events that the
    touched aggregates recorded to the outbox, then commits; leaving without commit rolls back."""

    @property
    def templates(self) -> TemplateRepository: ...

    @property
    def integrations(self) -> IntegrationRepository: ...

    @property
    def leads(self) -> LeadRepository: ...

    @property
    def bookings(self) -> BookingRepository: ...

    @property
    def messages(self) -> MessageRepository: ...

    @property
    def inbox(self) -> Inbox:
        """Webhook deliveries, settled in the same transaction as their handler's changes."""
        ...

    @property
    def sync(self) -> SyncRepository:
        """Sync's records: local changes to push, cursors, runs, conflicts, own writes."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """A domain event as stored in the outbox. `sequence` follows commit order."""

    sequence: int
    event_id: str
    event_type: str
    aggregate_id: str
    aggregate_version: int
    sub_account_id: str | None
    occurred_at: datetime
    payload: dict[str, Any]


class OutboxReader(Protocol):
    async def read(self, *, after_sequence: int, limit: int) -> list[OutboxRecord]:
        """Up to `limit` events after `after_sequence`, in sequence order. No event can commit
        later with a smaller sequence than one returned, so a reader may keep the last sequence
        it saw as its cursor."""
        ...


# --- providers -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """An integration's decrypted secrets, handed to a provider only for the call."""

    values: dict[str, SecretStr] = field(default_factory=dict, repr=False)

    def get(self, name: str) -> SecretStr | None:
        return self.values.get(name)


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """Everything a provider needs to act for one integration."""

    integration_id: str
    sub_account_id: str
    template_name: str
    config: dict[str, Any]
    credentials: Credentials
    rate_limit_per_minute: int


@dataclass(frozen=True, slots=True)
class ConnectionTestResult:
    """The seed's test result shape: success, message, details; or the error.
    `retry_after_seconds` is set when the provider would not answer now (it rate limits the
    integration): such a test concludes nothing about the credentials or the connection."""

    success: bool
    message: str
    details: dict[str, str] = field(default_factory=dict)
    error_code: ErrorCode | None = None
    latency_ms: float | None = None
    accounts: frozenset[ProviderAccount] = frozenset()
    """On success, the provider accounts the test proved the credentials reach."""
    retry_after_seconds: float | None = None

    @property
    def conclusive(self) -> bool:
        return self.retry_after_seconds is None


class IntegrationProvider(Protocol):
    """One external system (GoHighLevel, Facebook Ads, ...)."""

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        """Try the credentials against the provider. Expected failures (bad credentials, the
        provider unreachable) come back as an unsuccessful result, never as an exception."""
        ...


class ProviderRegistry(Protocol):
    def get(self, template_name: str) -> IntegrationProvider | None:
        """The provider implementing the template, or None if it is not implemented yet."""
        ...


# --- leads: assignment, timezones, replies -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssignedUser:
    """Who a new lead goes to, and the sales strategy that user follows."""

    user_id: str
    strategy_id: str | None


class TenantDirectory(Protocol):
    """The platform's sub-accounts and their users (the platform owns them)."""

    async def first_assignable_user(self, sub_account_id: str) -> AssignedUser | None:
        """The sub-account's first non-admin user in the directory's order, or None."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TimezoneHints:
    """What is known of where a contact is. Free text as the provider sent it."""

    postal_code: str | None = None
    state: str | None = None
    city: str | None = None
    country: str | None = None
    phone: str | None = None


class TimezoneResolver(Protocol):
    def resolve(self, hints: TimezoneHints) -> str | None:
        """The IANA zone the hints place the contact in: from the postal code, state, city and
        country, else the phone number; None when they are missing or ambiguous."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BotContact:
    """The contact a message came from, as the service knows it (a lead, when captured)."""

    external_id: str
    lead_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    timezone: str | None = None
    status: str | None = None
    assigned_user_id: str | None = None
    strategy_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyContext:
    """One inbound message for the sales bot to answer."""

    sub_account_id: str
    integration_id: str
    contact: BotContact
    message: str
    channel: str
    conversation_id: str | None


class SalesBot(Protocol):
    """Writes the replies to contacts' messages (the platform's bot, outside this service)."""

    async def reply(self, context: ReplyContext) -> str | None:
        """The reply to send, or None to stay silent. Raises ConnectionFailedError when the bot
        cannot be reached and ProviderError when it refuses the request: the caller retries."""
        ...

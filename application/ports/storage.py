"""Persistence: repositories, paging, the unit of work and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from application.dto import IntegrationView
from application.ports.deliveries import Inbox
from application.ports.paging import Page, PageRequest
from application.sync_records import SyncRepository
from domain.booking import Booking
from domain.conversation import ConversationMessage
from domain.integration import Integration, IntegrationStatus
from domain.lead import Lead, LeadStatus
from domain.template import IntegrationTemplate
from domain.values import ProviderAccount


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

"""Row models of the service's tables (SQLAlchemy 2.0 declarative, used through Core statements)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
"""JSON, stored as JSONB on PostgreSQL."""


def id_type() -> TypeEngine[str]:
    """Our ids (UUIDv7 strings): byte-order collation on PostgreSQL, so that keyset pagination
    sorts them as Python does whatever the database's locale (SQLite compares bytes already)."""
    return String(36).with_variant(String(36, collation="C"), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both databases. SQLite has no time zones: values are
    stored as naive UTC (fixed-width text, so they sort in time order) and loaded as aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: only timezone-aware datetimes are stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JsonType}


class TemplateRow(Base):
    __tablename__ = "integration_templates"

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    icon: Mapped[str] = mapped_column(Text)
    config_schema: Mapped[dict[str, Any]]
    """The schema as the admin wrote it (the seed's dialect); normalised again on load."""
    setup_instructions: Mapped[str] = mapped_column(Text)
    webhook_url: Mapped[str] = mapped_column(Text)
    api_version: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool]
    rate_limit_per_minute: Mapped[int]
    created_by_admin_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]


class IntegrationRow(Base):
    __tablename__ = "integrations"
    __table_args__ = (
        # NULLs are distinct in both databases: only creates that carried a request id count.
        UniqueConstraint("sub_account_id", "request_id"),
        Index(None, "sub_account_id", "id"),
        Index(None, "status", "id"),
        Index(None, "template_name", "id"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(String(128))
    template_id: Mapped[str] = mapped_column(id_type(), ForeignKey("integration_templates.id"))
    template_name: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool]
    status: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]]
    secrets: Mapped[dict[str, Any]]
    """{field: {"token": ciphertext token, "hint": mask hint}}"""
    last_sync_at: Mapped[datetime | None]
    last_tested_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_by_admin_id: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]


class IntegrationAccountRow(Base):
    """A provider account an integration has proven it owns (domain.values.ProviderAccount):
    the index that routes the account's webhooks to its owners."""

    __tablename__ = "integration_accounts"
    __table_args__ = (Index(None, "kind", "account_id"),)

    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(128), primary_key=True)


class DataKeyRow(Base):
    __tablename__ = "data_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(String(128), index=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class OutboxRow(Base):
    __tablename__ = "outbox"
    # AUTOINCREMENT: SQLite must never reuse the sequence of a row that was deleted.
    __table_args__ = {"sqlite_autoincrement": True}

    sequence: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    aggregate_id: Mapped[str] = mapped_column(id_type())
    aggregate_type: Mapped[str] = mapped_column(String(64))
    sub_account_id: Mapped[str | None] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(128))
    aggregate_version: Mapped[int]
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]


class OAuthTokenRow(Base):
    """An OAuth integration's rotated tokens. GHL refresh tokens are single-use, so the newest
    pair lives here (sealed like any secret) rather than in the admin-written config."""

    __tablename__ = "oauth_tokens"

    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    refresh_token: Mapped[str] = mapped_column(Text)
    access_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(64))
    """A digest of the configured refresh token this chain started from: when an admin
    re-authorises (a new configured token), the stored chain is stale and ignored."""
    updated_at: Mapped[datetime]


# The tables themselves, for Core statements (no identity map, no lazy loads).
TEMPLATES = cast("Table", TemplateRow.__table__)
INTEGRATIONS = cast("Table", IntegrationRow.__table__)
INTEGRATION_ACCOUNTS = cast("Table", IntegrationAccountRow.__table__)
DATA_KEYS = cast("Table", DataKeyRow.__table__)
OUTBOX = cast("Table", OutboxRow.__table__)
OAUTH_TOKENS = cast("Table", OAuthTokenRow.__table__)


class WebhookDeliveryRow(Base):
    """The webhook inbox: every verified delivery, once per (integration, sender's delivery id).
    Rows outlive their payloads (purged after the retention), so that ids keep deduplicating."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("integration_id", "delivery_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "integration_id", "id"),
        Index(None, "sub_account_id", "id"),
        Index(None, "processed_at"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    sub_account_id: Mapped[str] = mapped_column(String(128))
    delivery_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    signature_scheme: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any] | None]
    """NULL once purged (SQL NULL, not JSON null)."""
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    """When a pending or failed delivery is due."""
    claimed_until: Mapped[datetime | None]
    """When the lease of a processing delivery ends: then another worker may claim it."""
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    traceparent: Mapped[str | None] = mapped_column(String(128))
    """The W3C trace context of the request that stored it, when tracing was on."""


WEBHOOK_DELIVERIES = cast("Table", WebhookDeliveryRow.__table__)


class PlatformDeliveryRow(Base):
    """Verified deliveries that name no account an integration could own (application.webhooks.
    PlatformDelivery), once per (sender, sender's delivery id); recorded as ignored."""

    __tablename__ = "platform_deliveries"
    __table_args__ = (UniqueConstraint("sender", "delivery_id"), Index(None, "received_at"))

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    sender: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    signature_scheme: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


PLATFORM_DELIVERIES = cast("Table", PlatformDeliveryRow.__table__)


class FunnelCursorRow(Base):
    """How far the funnel dispatcher has read the outbox."""

    __tablename__ = "funnel_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger())


class FunnelDeliveryRow(Base):
    """A funnel event (application.ports.FunnelEvent, its personal data left on the lead) to
    send to one integration's funnel sink, once per (integration, event)."""

    __tablename__ = "funnel_deliveries"
    __table_args__ = (
        UniqueConstraint("integration_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    sub_account_id: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(String(36))
    stage: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[str] = mapped_column(id_type())
    occurred_at: Mapped[datetime]
    source_integration_id: Mapped[str] = mapped_column(id_type())
    source_template: Mapped[str] = mapped_column(String(128))
    source_external_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


FUNNEL_CURSOR = cast("Table", FunnelCursorRow.__table__)
FUNNEL_DELIVERIES = cast("Table", FunnelDeliveryRow.__table__)


class LeadRow(Base):
    """A synced GHL contact (domain.lead.Lead)."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("integration_id", "external_id"),
        Index(None, "integration_id", "id"),
        Index(None, "sub_account_id", "id"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(String(128))
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(128))
    first_name: Mapped[str | None] = mapped_column(Text)
    last_name: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    company: Mapped[str | None] = mapped_column(Text)
    address1: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JsonType)
    timezone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    assigned_user_id: Mapped[str | None] = mapped_column(String(128))
    strategy_id: Mapped[str | None] = mapped_column(String(128))
    external_updated_at: Mapped[datetime | None]
    status_changed_at: Mapped[datetime | None]
    opportunity_id: Mapped[str | None] = mapped_column(String(128))
    deleted: Mapped[bool]
    merged_into_id: Mapped[str | None] = mapped_column(id_type())
    attribution: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]


class BookingRow(Base):
    """A synced GHL appointment (domain.booking.Booking)."""

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("integration_id", "external_id"),
        Index(None, "integration_id", "id"),
        Index(None, "sub_account_id", "id"),
        Index(None, "lead_id", "id"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(String(128))
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(128))
    calendar_id: Mapped[str] = mapped_column(String(128))
    contact_external_id: Mapped[str] = mapped_column(String(128))
    lead_id: Mapped[str | None] = mapped_column(id_type())
    title: Mapped[str | None] = mapped_column(Text)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    assigned_user_id: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(Text)
    external_updated_at: Mapped[datetime | None]
    deleted: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]


class ConversationMessageRow(Base):
    """A contact's message, or a sales-bot reply (domain.conversation.ConversationMessage)."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        UniqueConstraint("integration_id", "dedupe_key"),
        Index(None, "integration_id", "external_message_id"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    sub_account_id: Mapped[str] = mapped_column(String(128))
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    contact_external_id: Mapped[str] = mapped_column(String(128))
    lead_id: Mapped[str | None] = mapped_column(id_type())
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    external_message_id: Mapped[str | None] = mapped_column(String(128))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    in_reply_to: Mapped[str | None] = mapped_column(id_type())
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int]
    not_before: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]


class DirectorySubAccountRow(Base):
    """The tenant directory's copy of a platform sub-account."""

    __tablename__ = "directory_sub_accounts"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class DirectoryUserRow(Base):
    """A user of a sub-account, in the order leads are assigned (`position`, then user id)."""

    __tablename__ = "directory_users"
    __table_args__ = (Index(None, "sub_account_id", "position"),)

    sub_account_id: Mapped[str] = mapped_column(
        String(128),
        ForeignKey("directory_sub_accounts.id", ondelete="CASCADE"),
        primary_key=True,
    )
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    strategy_id: Mapped[str | None] = mapped_column(String(128))
    position: Mapped[int]


LEADS = cast("Table", LeadRow.__table__)
BOOKINGS = cast("Table", BookingRow.__table__)
CONVERSATION_MESSAGES = cast("Table", ConversationMessageRow.__table__)
DIRECTORY_SUB_ACCOUNTS = cast("Table", DirectorySubAccountRow.__table__)
DIRECTORY_USERS = cast("Table", DirectoryUserRow.__table__)


# --- two-way sync ------------------------------------------------------------------------------


class SyncChangeRow(Base):
    """A local change to a lead or booking, pushed to the provider until it lands
    (application.sync_records.LocalChange)."""

    __tablename__ = "sync_changes"
    __table_args__ = (
        # NULLs are distinct in both databases: only changes that carried a request id count.
        UniqueConstraint("integration_id", "request_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "record_kind", "record_id", "created_at"),
        Index(None, "integration_id", "match_key"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    sub_account_id: Mapped[str] = mapped_column(String(128))
    record_kind: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str] = mapped_column(id_type())
    operation: Mapped[str] = mapped_column(String(32))
    fields: Mapped[dict[str, Any]]
    base: Mapped[dict[str, Any]]
    changed_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime | None]
    uncertain: Mapped[bool]
    match_key: Mapped[str | None] = mapped_column(String(400))
    external_id: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int]


class SyncCursorRow(Base):
    """How far the pull of one resource of an integration got."""

    __tablename__ = "sync_cursors"

    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    resource: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[datetime | None]
    first_synced_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SyncRunRow(Base):
    """One sync run of one integration: when, what it pulled and pushed, how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index(None, "integration_id", "started_at"),)

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    sub_account_id: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int]
    pulled: Mapped[int]
    pushed: Mapped[int]
    conflicts: Mapped[int]
    failures: Mapped[int]
    missed_by_webhooks: Mapped[int]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)


class SyncConflictRow(Base):
    """Fields both sides changed differently, with both versions and the winners."""

    __tablename__ = "sync_conflicts"
    __table_args__ = (
        Index(None, "integration_id", "detected_at"),
        Index(None, "record_kind", "record_id"),
    )

    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE")
    )
    sub_account_id: Mapped[str] = mapped_column(String(128))
    record_kind: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str] = mapped_column(id_type())
    external_id: Mapped[str] = mapped_column(String(128))
    fields: Mapped[list[str]] = mapped_column(JsonType)
    winners: Mapped[dict[str, Any]]
    local: Mapped[dict[str, Any]]
    remote: Mapped[dict[str, Any]]
    local_changed_at: Mapped[datetime]
    remote_changed_at: Mapped[datetime | None]
    detected_at: Mapped[datetime]


class SyncOwnWriteRow(Base):
    """A write this service made to the provider, to recognise its webhook echo."""

    __tablename__ = "sync_own_writes"
    __table_args__ = (Index(None, "expires_at"),)

    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    record_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    written_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SyncLeaseRow(Base):
    """Which copy syncs an integration now (`holder` until `expires_at`), and when its next
    scheduled run is due."""

    __tablename__ = "sync_leases"
    __table_args__ = (Index(None, "next_run_at"),)

    integration_id: Mapped[str] = mapped_column(
        id_type(), ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    holder: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


SYNC_CHANGES = cast("Table", SyncChangeRow.__table__)
SYNC_CURSORS = cast("Table", SyncCursorRow.__table__)
SYNC_RUNS = cast("Table", SyncRunRow.__table__)
SYNC_CONFLICTS = cast("Table", SyncConflictRow.__table__)
SYNC_OWN_WRITES = cast("Table", SyncOwnWriteRow.__table__)
SYNC_LEASES = cast("Table", SyncLeaseRow.__table__)


class ConnectionSessionRow(Base):
    """A sign-in at a provider (domain.connection_session.ConnectionSession). The state is kept
    as its digest; the PKCE verifier and the grant held while the person chooses are sealed."""

    __tablename__ = "connection_sessions"
    __table_args__ = (
        UniqueConstraint("provider", "state_digest"),
        Index(None, "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    state_digest: Mapped[str] = mapped_column(String(64))
    sub_account_id: Mapped[str] = mapped_column(String(128))
    template_name: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(255))
    return_url: Mapped[str] = mapped_column(Text)
    integration_id: Mapped[str | None] = mapped_column(id_type())
    account_ids: Mapped[list[str]] = mapped_column(JsonType)
    config: Mapped[dict[str, Any]] = mapped_column(JsonType)
    code_verifier: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    failure: Mapped[str | None] = mapped_column(String(32))
    failure_detail: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[dict[str, str]]] = mapped_column(JsonType)
    grant: Mapped[dict[str, str]] = mapped_column(JsonType)
    integration_ids: Mapped[list[str]] = mapped_column(JsonType)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


CONNECTION_SESSIONS = cast("Table", ConnectionSessionRow.__table__)


class AgencyGrantRow(Base):
    """An agency's OAuth token chain (a GoHighLevel Company install), which mints the tokens
    of the locations connected through it. Keyed by the sub-account that connected it as well
    as the agency: a sub-account's install is never reachable from another's integrations.
    Sealed like any secret, with that sub-account's key."""

    __tablename__ = "agency_grants"

    sub_account_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    refresh_token: Mapped[str] = mapped_column(Text)
    access_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(64))
    """A digest of the refresh token the install's code exchange gave: connecting a second
    location of the same install keeps the chain, which may have rotated meanwhile."""
    updated_at: Mapped[datetime]


AGENCY_GRANTS = cast("Table", AgencyGrantRow.__table__)

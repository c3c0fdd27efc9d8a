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
DATA_KEYS = cast("Table", DataKeyRow.__table__)
OUTBOX = cast("Table", OutboxRow.__table__)
OAUTH_TOKENS = cast("Table", OAuthTokenRow.__table__)

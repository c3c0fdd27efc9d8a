"""Leads, bookings, conversation messages and the tenant directory.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they are at this revision (a migration must not follow later model changes).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(36).with_variant(sa.String(36, collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _integration_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["integration_id"],
        ["integrations.id"],
        name=f"fk_{table}_integration_id_integrations",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("company", sa.Text(), nullable=True),
        sa.Column("address1", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("postal_code", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assigned_user_id", sa.String(128), nullable=True),
        sa.Column("strategy_id", sa.String(128), nullable=True),
        sa.Column("external_updated_at", TIMESTAMP, nullable=True),
        sa.Column("status_changed_at", TIMESTAMP, nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        _integration_fk("leads"),
        sa.UniqueConstraint(
            "integration_id", "external_id", name="uq_leads_integration_id_external_id"
        ),
    )
    op.create_index("ix_leads_integration_id_id", "leads", ["integration_id", "id"])
    op.create_index("ix_leads_sub_account_id_id", "leads", ["sub_account_id", "id"])

    op.create_table(
        "bookings",
        sa.Column("id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("calendar_id", sa.String(128), nullable=False),
        sa.Column("contact_external_id", sa.String(128), nullable=False),
        sa.Column("lead_id", ID, nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("start_at", TIMESTAMP, nullable=False),
        sa.Column("end_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assigned_user_id", sa.String(128), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("external_updated_at", TIMESTAMP, nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bookings"),
        _integration_fk("bookings"),
        sa.UniqueConstraint(
            "integration_id", "external_id", name="uq_bookings_integration_id_external_id"
        ),
    )
    op.create_index("ix_bookings_integration_id_id", "bookings", ["integration_id", "id"])
    op.create_index("ix_bookings_sub_account_id_id", "bookings", ["sub_account_id", "id"])
    op.create_index("ix_bookings_lead_id_id", "bookings", ["lead_id", "id"])

    op.create_table(
        "conversation_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("contact_external_id", sa.String(128), nullable=False),
        sa.Column("lead_id", ID, nullable=True),
        sa.Column("conversation_id", sa.String(128), nullable=True),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("external_message_id", sa.String(128), nullable=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("in_reply_to", ID, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_messages"),
        _integration_fk("conversation_messages"),
        sa.UniqueConstraint(
            "integration_id",
            "dedupe_key",
            name="uq_conversation_messages_integration_id_dedupe_key",
        ),
    )
    op.create_index(
        "ix_conversation_messages_integration_id_external_message_id",
        "conversation_messages",
        ["integration_id", "external_message_id"],
    )
    op.create_index(
        "ix_conversation_messages_status_created_at",
        "conversation_messages",
        ["status", "created_at"],
    )

    op.create_table(
        "directory_sub_accounts",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_directory_sub_accounts"),
    )
    op.create_table(
        "directory_users",
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("strategy_id", sa.String(128), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sub_account_id", "user_id", name="pk_directory_users"),
        sa.ForeignKeyConstraint(
            ["sub_account_id"],
            ["directory_sub_accounts.id"],
            name="fk_directory_users_sub_account_id_directory_sub_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_directory_users_sub_account_id_position",
        "directory_users",
        ["sub_account_id", "position"],
    )


def downgrade() -> None:
    op.drop_table("directory_users")
    op.drop_table("directory_sub_accounts")
    op.drop_table("conversation_messages")
    op.drop_table("bookings")
    op.drop_table("leads")

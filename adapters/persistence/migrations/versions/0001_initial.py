"""Templates, integrations, data keys and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they were at this revision (a migration must not follow later model changes).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(36).with_variant(sa.String(36, collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "integration_templates",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("icon", sa.Text(), nullable=False),
        sa.Column("config_schema", JSON, nullable=False),
        sa.Column("setup_instructions", sa.Text(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=False),
        sa.Column("api_version", sa.String(64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_by_admin_id", sa.String(128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_integration_templates"),
        sa.UniqueConstraint("name", name="uq_integration_templates_name"),
    )
    op.create_table(
        "integrations",
        sa.Column("id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("template_id", ID, nullable=False),
        sa.Column("template_name", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("secrets", JSON, nullable=False),
        sa.Column("last_sync_at", TIMESTAMP, nullable=True),
        sa.Column("last_tested_at", TIMESTAMP, nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_by_admin_id", sa.String(128), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_integrations"),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["integration_templates.id"],
            name="fk_integrations_template_id_integration_templates",
        ),
        sa.UniqueConstraint(
            "sub_account_id", "request_id", name="uq_integrations_sub_account_id_request_id"
        ),
    )
    op.create_index("ix_integrations_sub_account_id_id", "integrations", ["sub_account_id", "id"])
    op.create_index("ix_integrations_status_id", "integrations", ["status", "id"])
    op.create_index("ix_integrations_template_name_id", "integrations", ["template_name", "id"])
    op.create_table(
        "data_keys",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("master_key_id", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_data_keys"),
    )
    op.create_index("ix_data_keys_sub_account_id", "data_keys", ["sub_account_id"])
    op.create_table(
        "outbox",
        sa.Column(
            "sequence",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("aggregate_id", ID, nullable=False),
        sa.Column("aggregate_type", sa.String(64), nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=True),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("aggregate_version", sa.Integer(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_index("ix_data_keys_sub_account_id", table_name="data_keys")
    op.drop_table("data_keys")
    op.drop_index("ix_integrations_template_name_id", table_name="integrations")
    op.drop_index("ix_integrations_status_id", table_name="integrations")
    op.drop_index("ix_integrations_sub_account_id_id", table_name="integrations")
    op.drop_table("integrations")
    op.drop_table("integration_templates")

"""The webhook inbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they are at this revision (a migration must not follow later model changes).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(36).with_variant(sa.String(36, collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("delivery_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signature_scheme", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("claimed_until", TIMESTAMP, nullable=True),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_webhook_deliveries_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "integration_id",
            "delivery_id",
            name="uq_webhook_deliveries_integration_id_delivery_id",
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_integration_id_id", "webhook_deliveries", ["integration_id", "id"]
    )
    op.create_index(
        "ix_webhook_deliveries_sub_account_id_id", "webhook_deliveries", ["sub_account_id", "id"]
    )
    op.create_index("ix_webhook_deliveries_processed_at", "webhook_deliveries", ["processed_at"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")

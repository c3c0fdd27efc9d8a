"""Deliveries of the platform: verified webhooks that name no account an integration could own.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they are at this revision (a migration must not follow later model changes).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(36).with_variant(sa.String(36, collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "platform_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("delivery_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signature_scheme", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_platform_deliveries"),
        sa.UniqueConstraint(
            "sender", "delivery_id", name="uq_platform_deliveries_sender_delivery_id"
        ),
    )
    op.create_index("ix_platform_deliveries_received_at", "platform_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_table("platform_deliveries")

"""Leads' attribution; the lead funnel sent out (one row per funnel event and integration, and the outbox cursor the
dispatcher has reached); signature schemes named for what they are rather than for a provider.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 20:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they are at this revision (a migration must not follow later model changes).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(36).with_variant(sa.String(36, collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)

_SCHEMES = {"ghl-ed25519": "published-ed25519", "ghl-rsa": "published-rsa-sha256"}


def _rename_schemes(renames: dict[str, str]) -> None:
    for name in ("webhook_deliveries", "platform_deliveries"):
        table = sa.table(name, sa.column("signature_scheme", sa.String))
        for old, new in renames.items():
            op.execute(
                table.update().where(table.c.signature_scheme == old).values(signature_scheme=new)
            )


def upgrade() -> None:
    _rename_schemes(_SCHEMES)
    op.add_column("leads", sa.Column("attribution", JSON, nullable=True))
    op.create_table(
        "funnel_cursor",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_funnel_cursor"),
    )
    op.create_table(
        "funnel_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("lead_id", ID, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("source_integration_id", ID, nullable=False),
        sa.Column("source_template", sa.String(128), nullable=False),
        sa.Column("source_external_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("claimed_until", TIMESTAMP, nullable=True),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("settled_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_funnel_deliveries_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_funnel_deliveries"),
        sa.UniqueConstraint(
            "integration_id", "event_id", name="uq_funnel_deliveries_integration_id_event_id"
        ),
    )
    op.create_index(
        "ix_funnel_deliveries_status_next_attempt_at",
        "funnel_deliveries",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_column("leads", "attribution")
    op.drop_table("funnel_deliveries")
    op.drop_table("funnel_cursor")
    _rename_schemes({new: old for old, new in _SCHEMES.items()})

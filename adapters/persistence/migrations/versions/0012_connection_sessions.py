"""Connection sessions: a person's sign-in at a provider (OAuth 2.0), from the authorization
URL handed out to the integration it ends with.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they are at this revision (a migration must not follow later model changes).
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.String(36).with_variant(sa.String(36, collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connection_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("state_digest", sa.String(64), nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("template_name", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("integration_id", ID, nullable=True),
        sa.Column("account_ids", JSON, nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("code_verifier", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure", sa.String(32), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=False),
        sa.Column("choices", JSON, nullable=False),
        sa.Column("grant", JSON, nullable=False),
        sa.Column("integration_ids", JSON, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_connection_sessions"),
        sa.UniqueConstraint(
            "provider", "state_digest", name="uq_connection_sessions_provider_state_digest"
        ),
    )
    op.create_index("ix_connection_sessions_expires_at", "connection_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("connection_sessions")

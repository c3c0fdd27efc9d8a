"""Agency grants: an agency install's OAuth token chain, shared by the locations connected
through it, per sub-account and agency.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they are at this revision (a migration must not follow later model changes).
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agency_grants",
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("company_id", sa.String(128), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("sub_account_id", "company_id", name="pk_agency_grants"),
    )


def downgrade() -> None:
    op.drop_table("agency_grants")

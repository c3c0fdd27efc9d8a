"""The trace context of the request that stored a webhook delivery (W3C traceparent), when
tracing was on, so that the delivery's processing links to it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites no row, on either database.
    with op.batch_alter_table("webhook_deliveries") as table:
        table.add_column(sa.Column("traceparent", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as table:
        table.drop_column("traceparent")

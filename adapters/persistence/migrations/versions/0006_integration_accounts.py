"""Provider accounts owned by integrations: the index webhooks are routed by.

Integrations that are active today proved their GHL location by a successful connection test,
so they are recorded as its owners; the others become owners at their next successful test.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types as they are at this revision (a migration must not follow later model changes).
ID = sa.String(36).with_variant(sa.String(36, collation="C"), "postgresql")
_LOCATION_TEMPLATES = ("gohighlevel", "gohighlevel_oauth")


def upgrade() -> None:
    accounts = op.create_table(
        "integration_accounts",
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name="fk_integration_accounts_integration_id_integrations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "integration_id", "kind", "account_id", name="pk_integration_accounts"
        ),
    )
    op.create_index(
        "ix_integration_accounts_kind_account_id", "integration_accounts", ["kind", "account_id"]
    )
    integrations = sa.table(
        "integrations",
        sa.column("id", ID),
        sa.column("template_name", sa.String(64)),
        sa.column("status", sa.String(32)),
        sa.column("config", sa.JSON()),
    )
    rows = op.get_bind().execute(
        sa.select(integrations.c.id, integrations.c.config).where(
            integrations.c.status == "active",
            integrations.c.template_name.in_(_LOCATION_TEMPLATES),
        )
    )
    owned = [
        {"integration_id": row.id, "kind": "ghl.location", "account_id": location}
        for row in rows
        if isinstance(location := (row.config or {}).get("locationId"), str)
        and 0 < len(location) <= 128
    ]
    if owned:
        op.bulk_insert(accounts, owned)


def downgrade() -> None:
    op.drop_table("integration_accounts")

"""Two-way sync: local changes to push, cursors, runs, conflicts, own writes and leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
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
        "sync_changes",
        sa.Column("id", ID, nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("record_kind", sa.String(16), nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("base", JSON, nullable=False),
        sa.Column("changed_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("match_key", sa.String(400), nullable=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_changes"),
        _integration_fk("sync_changes"),
        sa.UniqueConstraint(
            "integration_id", "request_id", name="uq_sync_changes_integration_id_request_id"
        ),
    )
    op.create_index(
        "ix_sync_changes_status_next_attempt_at", "sync_changes", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_sync_changes_record_kind_record_id_created_at",
        "sync_changes",
        ["record_kind", "record_id", "created_at"],
    )
    op.create_index(
        "ix_sync_changes_integration_id_match_key", "sync_changes", ["integration_id", "match_key"]
    )

    op.create_table(
        "sync_cursors",
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("position", TIMESTAMP, nullable=True),
        sa.Column("first_synced_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", "resource", name="pk_sync_cursors"),
        _integration_fk("sync_cursors"),
    )

    op.create_table(
        "sync_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("pulled", sa.Integer(), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("missed_by_webhooks", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        _integration_fk("sync_runs"),
    )
    op.create_index(
        "ix_sync_runs_integration_id_started_at", "sync_runs", ["integration_id", "started_at"]
    )

    op.create_table(
        "sync_conflicts",
        sa.Column("id", ID, nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("sub_account_id", sa.String(128), nullable=False),
        sa.Column("record_kind", sa.String(16), nullable=False),
        sa.Column("record_id", ID, nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("winners", JSON, nullable=False),
        sa.Column("local", JSON, nullable=False),
        sa.Column("remote", JSON, nullable=False),
        sa.Column("local_changed_at", TIMESTAMP, nullable=False),
        sa.Column("remote_changed_at", TIMESTAMP, nullable=True),
        sa.Column("detected_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_conflicts"),
        _integration_fk("sync_conflicts"),
    )
    op.create_index(
        "ix_sync_conflicts_integration_id_detected_at",
        "sync_conflicts",
        ["integration_id", "detected_at"],
    )
    op.create_index(
        "ix_sync_conflicts_record_kind_record_id", "sync_conflicts", ["record_kind", "record_id"]
    )

    op.create_table(
        "sync_own_writes",
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("record_kind", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("written_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint(
            "integration_id",
            "record_kind",
            "external_id",
            "fingerprint",
            name="pk_sync_own_writes",
        ),
        _integration_fk("sync_own_writes"),
    )
    op.create_index("ix_sync_own_writes_expires_at", "sync_own_writes", ["expires_at"])

    op.create_table(
        "sync_leases",
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("next_run_at", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("integration_id", name="pk_sync_leases"),
        _integration_fk("sync_leases"),
    )
    op.create_index("ix_sync_leases_next_run_at", "sync_leases", ["next_run_at"])


def downgrade() -> None:
    op.drop_table("sync_leases")
    op.drop_table("sync_own_writes")
    op.drop_table("sync_conflicts")
    op.drop_table("sync_runs")
    op.drop_table("sync_cursors")
    op.drop_table("sync_changes")

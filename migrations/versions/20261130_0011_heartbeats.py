"""Heartbeat monitors: `heartbeats` (the hash of each ping URL's secret, the stored due time the
worker claims by), and `incidents.heartbeat_id` with one open incident per heartbeat held by a
partial unique index.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("grace_minutes", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ping_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("interval_minutes >= 1", name=op.f("ck_heartbeats_interval_minutes")),
        sa.CheckConstraint("grace_minutes >= 0", name=op.f("ck_heartbeats_grace_minutes")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_heartbeats_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeats")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_heartbeats_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_heartbeats_team_id", "heartbeats", ["team_id"], unique=False)
    may_miss = sa.text("incident_id IS NULL")
    op.create_index(
        "ix_heartbeats_due",
        "heartbeats",
        ["due_at", "id"],
        unique=False,
        sqlite_where=may_miss,
        postgresql_where=may_miss,
    )
    op.add_column("incidents", sa.Column("heartbeat_id", sa.Integer(), nullable=True))
    is_open = sa.text("status != 'resolved'")
    op.create_index(
        "uq_incidents_open_heartbeat_id",
        "incidents",
        ["heartbeat_id"],
        unique=True,
        sqlite_where=is_open,
        postgresql_where=is_open,
    )


def downgrade() -> None:
    op.drop_index("uq_incidents_open_heartbeat_id", table_name="incidents")
    op.drop_column("incidents", "heartbeat_id")
    op.drop_index("ix_heartbeats_due", table_name="heartbeats")
    op.drop_index("ix_heartbeats_team_id", table_name="heartbeats")
    op.drop_table("heartbeats")

"""Maintenance windows: the windows, the integrations each lists, and the alerts they suppressed.

A listed integration that is deleted leaves its windows' lists; a suppressed alert outlives its
integration (the link is cleared) and keeps its window from being deleted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres, JSON text on SQLite (as adapters.sql.tables.Json).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_maintenance_windows_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_maintenance_windows_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_maintenance_windows_created_by_id", "maintenance_windows", ["created_by_id"], unique=False
    )
    op.create_index("ix_maintenance_windows_team_id", "maintenance_windows", ["team_id"], unique=False)
    op.create_table(
        "maintenance_window_integrations",
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_maintenance_window_integrations_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["maintenance_windows.id"],
            name=op.f("fk_maintenance_window_integrations_window_id_maintenance_windows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "window_id", "integration_id", name=op.f("pk_maintenance_window_integrations")
        ),
    )
    op.create_index(
        "ix_maintenance_window_integrations_integration_id",
        "maintenance_window_integrations",
        ["integration_id"],
        unique=False,
    )
    op.create_table(
        "suppressed_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSON_DOCUMENT, nullable=False),
        sa.CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low', 'info')",
            name=op.f("ck_suppressed_alerts_severity"),
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_suppressed_alerts_integration_id_integrations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["maintenance_windows.id"],
            name=op.f("fk_suppressed_alerts_window_id_maintenance_windows"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressed_alerts")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_suppressed_alerts_integration_id", "suppressed_alerts", ["integration_id"], unique=False
    )
    op.create_index(
        "ix_suppressed_alerts_window_id_received_at",
        "suppressed_alerts",
        ["window_id", "received_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("suppressed_alerts")
    op.drop_table("maintenance_window_integrations")
    op.drop_table("maintenance_windows")

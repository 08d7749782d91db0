"""On-call schedules: schedules (their layers in a JSON document), overrides, calendar feeds.

An override goes with its schedule and keeps its user from being deleted; a calendar feed goes with
its user or its schedule and stores only the hash of its URL's secret.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 15:01:38
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres, JSON text on SQLite (as adapters.sql.tables.Json).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("layers", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_schedules_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_schedules_team_id", "schedules", ["team_id"], unique=False)
    op.create_table(
        "schedule_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_schedule_overrides_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_overrides_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_schedule_overrides_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_overrides")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_schedule_overrides_created_by_id", "schedule_overrides", ["created_by_id"], unique=False
    )
    op.create_index(
        "ix_schedule_overrides_schedule_id_end", "schedule_overrides", ["schedule_id", "end"], unique=False
    )
    op.create_index("ix_schedule_overrides_user_id", "schedule_overrides", ["user_id"], unique=False)
    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_calendar_feeds_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_calendar_feeds_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_calendar_feeds_schedule_id", "calendar_feeds", ["schedule_id"], unique=False)
    op.create_index("ix_calendar_feeds_user_id", "calendar_feeds", ["user_id"], unique=False)


def downgrade() -> None:
    # Policy steps (and incidents' policy snapshots) that target a schedule keep the target in their
    # JSON: the code before this revision cannot read that target type, so remove such targets first.
    op.drop_table("calendar_feeds")
    op.drop_table("schedule_overrides")
    op.drop_table("schedules")

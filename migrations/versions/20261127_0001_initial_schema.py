"""Initial schema: teams, users, policies, integrations, incidents and their history, the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 07:24:51.220188
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres, JSON text on SQLite (as adapters.sql.tables.Json).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "escalation_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column(
            "severities",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.Column(
            "steps",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("ack_timeout_minutes", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_escalation_policies_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_policies")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_escalation_policies_team_id", "escalation_policies", ["team_id"], unique=False)
    op.create_table(
        "integrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_integrations_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("key", name=op.f("uq_integrations_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_integrations_team_id", "integrations", ["team_id"], unique=False)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credentials_version", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "role IN ('user', 'oncall_engineer', 'team_lead', 'manager', 'vp', 'cto', 'admin')",
            name=op.f("ck_users_role"),
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_users_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sqlite_autoincrement=True,
    )
    # Emails are unique whatever their case.
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.create_index("ix_users_role", "users", ["role"], unique=False)
    op.create_index("ix_users_team_id", "users", ["team_id"], unique=False)
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("dedup_key", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_policy_id", sa.Integer(), nullable=True),
        sa.Column(
            "policy_snapshot",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.Column("esc_phase", sa.String(length=32), nullable=True),
        sa.Column("esc_cycle", sa.Integer(), server_default="0", nullable=False),
        sa.Column("esc_next_step", sa.Integer(), server_default="0", nullable=False),
        sa.Column("esc_loop", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "esc_phase IS NULL OR esc_phase IN ('active', 'exhausted', 'acknowledged', 'snoozed', 'resolved')",
            name=op.f("ck_incidents_esc_phase"),
        ),
        sa.CheckConstraint(
            "severity IN ('critical', 'high', 'medium', 'low', 'info')", name=op.f("ck_incidents_severity")
        ),
        sa.CheckConstraint(
            "status IN ('triggered', 'acknowledged', 'resolved')", name=op.f("ck_incidents_status")
        ),
        sa.ForeignKeyConstraint(["assignee_id"], ["users.id"], name=op.f("fk_incidents_assignee_id_users")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_incidents_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_incidents_integration_id_integrations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_incidents_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_incidents_assignee_id_created_at", "incidents", ["assignee_id", "created_at", "id"], unique=False
    )
    op.create_index("ix_incidents_created_at", "incidents", ["created_at", "id"], unique=False)
    op.create_index("ix_incidents_created_by_id", "incidents", ["created_by_id"], unique=False)
    op.create_index(
        "ix_incidents_escalation_due",
        "incidents",
        ["next_escalation_at", "id"],
        unique=False,
        sqlite_where=sa.text("status != 'resolved' AND next_escalation_at IS NOT NULL"),
        postgresql_where=sa.text("status != 'resolved' AND next_escalation_at IS NOT NULL"),
    )
    op.create_index(
        "ix_incidents_severity_created_at", "incidents", ["severity", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_incidents_status_created_at", "incidents", ["status", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_incidents_team_id_created_at", "incidents", ["team_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "uq_incidents_open_dedup_key",
        "incidents",
        ["integration_id", "dedup_key"],
        unique=True,
        sqlite_where=sa.text("status != 'resolved'"),
        postgresql_where=sa.text("status != 'resolved'"),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("min_severity", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'slack', 'webhook', 'apprise')",
            name=op.f("ck_notification_preferences_channel"),
        ),
        sa.CheckConstraint(
            "min_severity IS NULL OR min_severity IN ('critical', 'high', 'medium', 'low', 'info')",
            name=op.f("ck_notification_preferences_min_severity"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "channel", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "password_reset_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_reset_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_reset_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_password_reset_tokens_token_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_password_reset_tokens_user_id", "password_reset_tokens", ["user_id"], unique=False)
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_comments_author_id_users")),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_comments_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_comments_author_id", "comments", ["author_id"], unique=False)
    op.create_index(
        "ix_comments_incident_id_created_at", "comments", ["incident_id", "created_at", "id"], unique=False
    )
    op.create_table(
        "escalation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("loop", sa.Integer(), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "notified_user_ids",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('fired', 'manual', 'acknowledged', 'snoozed', 'retriggered', 'stopped')",
            name=op.f("ck_escalation_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_escalation_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_escalation_events_incident_id_created_at",
        "escalation_events",
        ["incident_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'slack', 'webhook', 'apprise')",
            name=op.f("ck_notifications_channel"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'retrying', 'failed')",
            name=op.f("ck_notifications_status"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_notifications_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notifications_idempotency_key")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at", "id"],
        unique=False,
        sqlite_where=sa.text("status IN ('pending', 'retrying', 'sending')"),
        postgresql_where=sa.text("status IN ('pending', 'retrying', 'sending')"),
    )
    op.create_index(
        "ix_notifications_incident_id_created_at",
        "notifications",
        ["incident_id", "created_at", "id"],
        unique=False,
    )
    op.create_index("ix_notifications_user_id", "notifications", ["user_id"], unique=False)
    op.create_table(
        "timeline_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("data", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('created', 'updated', 'acknowledged', 'resolved', 'snoozed', 'assigned', 'commented', 'escalated', 'notified', 'notification_failed', 'retriggered', 'alert')",
            name=op.f("ck_timeline_events_kind"),
        ),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_timeline_events_actor_id_users")),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_timeline_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_timeline_events_actor_id", "timeline_events", ["actor_id"], unique=False)
    op.create_index(
        "ix_timeline_events_incident_id_created_at",
        "timeline_events",
        ["incident_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    # Indexes go with their tables; children before parents.
    for table in (
        "timeline_events",
        "notifications",
        "escalation_events",
        "comments",
        "password_reset_tokens",
        "notification_preferences",
        "incidents",
        "users",
        "integrations",
        "escalation_policies",
        "teams",
    ):
        op.drop_table(table)

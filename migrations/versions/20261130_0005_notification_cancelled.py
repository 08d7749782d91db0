"""Cancelled pages apart from failed ones: notification status `cancelled` with its reason, the
escalation events name whose pages they cancelled, and the timeline has `notification_cancelled`.

Pages withdrawn because the incident was acknowledged, snoozed or resolved were stored as `failed`
with the withdrawal as their error; they become `cancelled`, with that text as their reason.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on Postgres, JSON text on SQLite (as adapters.sql.tables.Json).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

STATUSES_BEFORE = "status IN ('pending', 'sending', 'sent', 'retrying', 'failed')"
STATUSES_AFTER = "status IN ('pending', 'sending', 'sent', 'retrying', 'failed', 'cancelled')"
KINDS_BEFORE = (
    "kind IN ('created', 'updated', 'acknowledged', 'resolved', 'snoozed', 'assigned', 'commented', "
    "'escalated', 'notified', 'notification_failed', 'retriggered', 'alert')"
)
KINDS_AFTER = (
    "kind IN ('created', 'updated', 'acknowledged', 'resolved', 'snoozed', 'assigned', 'commented', "
    "'escalated', 'notified', 'notification_failed', 'notification_cancelled', 'retriggered', 'alert')"
)
# SQLite alters by copying the table; the copy must keep never reusing ids, as the original does.
COPY_OPTIONS = {"table_kwargs": {"sqlite_autoincrement": True}}


def upgrade() -> None:
    with op.batch_alter_table("timeline_events", **COPY_OPTIONS) as timeline_events:
        timeline_events.drop_constraint(op.f("ck_timeline_events_kind"), type_="check")
        timeline_events.create_check_constraint(op.f("ck_timeline_events_kind"), KINDS_AFTER)
    with op.batch_alter_table("notifications", **COPY_OPTIONS) as notifications:
        notifications.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        notifications.drop_constraint(op.f("ck_notifications_status"), type_="check")
        notifications.create_check_constraint(op.f("ck_notifications_status"), STATUSES_AFTER)
    # the errors the Pager gave withdrawn pages before they had a status of their own
    op.execute(
        "UPDATE notifications SET status = 'cancelled', cancel_reason = last_error, last_error = NULL "
        "WHERE status = 'failed' "
        "AND last_error IN ('incident acknowledged', 'incident snoozed', 'incident resolved')"
    )
    # NULL on the events recorded before: whose pages they cancelled was not recorded then.
    op.add_column("escalation_events", sa.Column("cancelled_user_ids", JSON_DOCUMENT, nullable=True))
    op.add_column("escalation_events", sa.Column("cancel_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("escalation_events", **COPY_OPTIONS) as escalation_events:
        escalation_events.drop_column("cancel_reason")
        escalation_events.drop_column("cancelled_user_ids")
    op.execute("DELETE FROM timeline_events WHERE kind = 'notification_cancelled'")
    with op.batch_alter_table("timeline_events", **COPY_OPTIONS) as timeline_events:
        timeline_events.drop_constraint(op.f("ck_timeline_events_kind"), type_="check")
        timeline_events.create_check_constraint(op.f("ck_timeline_events_kind"), KINDS_BEFORE)
    op.execute(
        "UPDATE notifications SET status = 'failed', last_error = cancel_reason, next_attempt_at = NULL "
        "WHERE status = 'cancelled'"
    )
    with op.batch_alter_table("notifications", **COPY_OPTIONS) as notifications:
        notifications.drop_constraint(op.f("ck_notifications_status"), type_="check")
        notifications.create_check_constraint(op.f("ck_notifications_status"), STATUSES_BEFORE)
        notifications.drop_column("cancel_reason")

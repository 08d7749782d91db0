"""Notifications: urgency (the paging incident's severity) and destination (the host of a user-chosen
address), so that the dispatcher sends the most urgent pages first and can pass over a destination
that already has its share of sends in flight.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT_STATUSES = ("pending", "retrying", "sending")
UNSENT = "status IN ('pending', 'retrying', 'sending')"  # the due index's predicate
# Severity, most severe first (incidentcore.model.Severity.urgency), frozen as of this revision.
SEVERITY_URGENCY = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
USER_CHOSEN_CHANNELS = ("webhook", "slack", "apprise")


def upgrade() -> None:
    op.add_column("notifications", sa.Column("urgency", sa.Integer(), server_default="0", nullable=False))
    op.add_column("notifications", sa.Column("destination", sa.Text(), nullable=True))
    _fill_unsent_rows()
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["urgency", "next_attempt_at", "id"],
        unique=False,
        sqlite_where=sa.text(UNSENT),
        postgresql_where=sa.text(UNSENT),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.create_index(
        "ix_notifications_due",
        "notifications",
        ["next_attempt_at", "id"],
        unique=False,
        sqlite_where=sa.text(UNSENT),
        postgresql_where=sa.text(UNSENT),
    )
    op.drop_column("notifications", "destination")
    op.drop_column("notifications", "urgency")


def _fill_unsent_rows() -> None:
    """Pages still waiting get their incident's urgency and their destination; sent and failed rows
    are never claimed again, so they keep the defaults."""
    notifications = sa.table(
        "notifications",
        *(
            sa.column(name)
            for name in ("id", "incident_id", "status", "channel", "address", "urgency", "destination")
        ),
    )
    incidents = sa.table("incidents", sa.column("id"), sa.column("severity"))
    unsent = notifications.c.status.in_(UNSENT_STATUSES)
    urgency = sa.case(SEVERITY_URGENCY, value=incidents.c.severity, else_=0)
    bind = op.get_bind()
    bind.execute(
        sa.update(notifications)
        .where(unsent, notifications.c.incident_id.is_not(None))
        .values(
            urgency=sa.select(urgency).where(incidents.c.id == notifications.c.incident_id).scalar_subquery()
        )
    )
    rows = bind.execute(
        sa.select(notifications.c.id, notifications.c.address).where(
            unsent, notifications.c.channel.in_(USER_CHOSEN_CHANNELS)
        )
    ).all()
    destinations = [{"row_id": row_id, "host": host} for row_id, address in rows if (host := _host(address))]
    if destinations:
        bind.execute(
            sa.update(notifications)
            .where(notifications.c.id == sa.bindparam("row_id"))
            .values(destination=sa.bindparam("host")),
            destinations,
        )


def _host(address: str | None) -> str | None:
    """As incidentcore.model.Notification.destination, frozen as of this revision."""
    try:
        return urlsplit((address or "").strip()).hostname or None
    except ValueError:
        return None

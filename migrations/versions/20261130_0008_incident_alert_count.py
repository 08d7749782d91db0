"""Incidents count their alerts: `alert_count`.

Until now every alert was recorded on the timeline, so an incident's count is the number of its
`alert` timeline events (0 for incidents people opened).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incidents", sa.Column("alert_count", sa.Integer(), server_default="0", nullable=False))
    incidents = sa.table("incidents", sa.column("id"), sa.column("alert_count"))
    timeline_events = sa.table("timeline_events", sa.column("incident_id"), sa.column("kind"))
    alerts = (
        sa.select(sa.func.count())
        .select_from(timeline_events)
        .where(timeline_events.c.incident_id == incidents.c.id, timeline_events.c.kind == "alert")
        .scalar_subquery()
    )
    op.get_bind().execute(sa.update(incidents).values(alert_count=alerts))


def downgrade() -> None:
    op.drop_column("incidents", "alert_count")

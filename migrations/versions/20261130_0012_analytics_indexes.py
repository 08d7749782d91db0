"""What the incident report reads, indexed: each incident's acknowledgements (the first one and who made
it) and its escalations past the first step, as partial indexes by incident.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACKNOWLEDGED = "kind = 'acknowledged'"
ESCALATED = "kind IN ('fired', 'manual') AND step_index >= 1"


def upgrade() -> None:
    op.create_index(
        "ix_timeline_events_acknowledged",
        "timeline_events",
        ["incident_id", "created_at", "actor_id"],
        unique=False,
        sqlite_where=sa.text(ACKNOWLEDGED),
        postgresql_where=sa.text(ACKNOWLEDGED),
    )
    op.create_index(
        "ix_escalation_events_escalated",
        "escalation_events",
        ["incident_id"],
        unique=False,
        sqlite_where=sa.text(ESCALATED),
        postgresql_where=sa.text(ESCALATED),
    )


def downgrade() -> None:
    op.drop_index("ix_escalation_events_escalated", table_name="escalation_events")
    op.drop_index("ix_timeline_events_acknowledged", table_name="timeline_events")

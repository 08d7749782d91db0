"""The timeline's actor index also orders by time: counting a person's recent pages reads only those.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_timeline_events_actor_id_created_at", "timeline_events", ["actor_id", "created_at"], unique=False
    )
    op.drop_index("ix_timeline_events_actor_id", table_name="timeline_events")


def downgrade() -> None:
    op.create_index("ix_timeline_events_actor_id", "timeline_events", ["actor_id"], unique=False)
    op.drop_index("ix_timeline_events_actor_id_created_at", table_name="timeline_events")

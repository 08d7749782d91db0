"""Elastic dedup keys escape `\\` and `:` in the rule id, so that no two (rule, alert) pairs share one.

Only keys that could be ambiguous change (a second `:`, or a `\\`): their rule and alert ids are read
back from the incident's first alert on the timeline. A key whose alert was stored truncated cannot
be recovered and stays as it was; so does one whose new spelling an open incident already holds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

incidents = sa.table(
    "incidents",
    sa.column("id", sa.Integer),
    sa.column("source", sa.Text),
    sa.column("integration_id", sa.Integer),
    sa.column("dedup_key", sa.Text),
    sa.column("status", sa.Text),
)
timeline_events = sa.table(
    "timeline_events",
    sa.column("id", sa.Integer),
    sa.column("incident_id", sa.Integer),
    sa.column("kind", sa.Text),
    sa.column("data", JSON_DOCUMENT),
    sa.column("created_at", sa.DateTime),
)


def escaped_key(rule_id: str, alert_id: str) -> str:
    """As `incidentcore.services.integrations.elastic_dedup_key` was at this revision."""
    return rule_id.replace("\\", "\\\\").replace(":", "\\:") + ":" + alert_id


def plain_key(key: str) -> str:
    """The unescaped `<rule.id>:<alert.id>` of an escaped key."""
    rule: list[str] = []
    index = 0
    while index < len(key) and key[index] != ":":
        if key[index] == "\\" and index + 1 < len(key):
            index += 1
        rule.append(key[index])
        index += 1
    return "".join(rule) + key[index:]


def _ids(data: Any) -> tuple[str, str] | None:
    try:
        rule_id, alert_id = data["alert"]["rule"]["id"], data["alert"]["alert"]["id"]
    except (KeyError, TypeError):
        return None  # stored truncated, or not an Elastic body
    return (rule_id, alert_id) if isinstance(rule_id, str) and isinstance(alert_id, str) else None


def _rekey(new_key_of: Any) -> None:
    connection = op.get_bind()
    candidates = connection.execute(
        sa.select(incidents.c.id, incidents.c.integration_id, incidents.c.dedup_key, incidents.c.status).where(
            incidents.c.source == "elastic",
            sa.or_(incidents.c.dedup_key.like("%:%:%"), incidents.c.dedup_key.contains("\\", autoescape=True)),
        )
    ).all()
    for incident_id, integration_id, key, status in candidates:
        new_key = new_key_of(incident_id, key)
        if new_key is None or new_key == key:
            continue
        if status != "resolved":
            taken = connection.execute(
                sa.select(incidents.c.id).where(
                    incidents.c.integration_id == integration_id,
                    incidents.c.dedup_key == new_key,
                    incidents.c.status != "resolved",
                )
            ).first()
            if taken is not None:
                continue
        connection.execute(sa.update(incidents).where(incidents.c.id == incident_id).values(dedup_key=new_key))


def upgrade() -> None:
    connection = op.get_bind()

    def from_first_alert(incident_id: int, key: str) -> str | None:
        data = connection.execute(
            sa.select(timeline_events.c.data)
            .where(timeline_events.c.incident_id == incident_id, timeline_events.c.kind == "alert")
            .order_by(timeline_events.c.created_at, timeline_events.c.id)
            .limit(1)
        ).scalar()
        ids = _ids(data)
        if ids is None or f"{ids[0]}:{ids[1]}" != key:
            return None
        return escaped_key(*ids)

    _rekey(from_first_alert)


def downgrade() -> None:
    _rekey(lambda incident_id, key: plain_key(key))

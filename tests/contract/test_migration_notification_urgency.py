"""The notification urgency migration fills the pages still waiting: their incident's severity, and the
host of a user-chosen address; sent and failed pages keep the defaults. Downgrading drops both."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy

from adapters.sql.engine import normalise_database_url
from adapters.sql.migrate import downgrade_async, upgrade_async
from conftest import PostgresSchema

pytestmark = pytest.mark.anyio

BEFORE = "0003"
REVISION = "0004"


@pytest.fixture
def empty_url(sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if sql_backend == "sqlite":
        return f"sqlite:///{tmp_path / 'upgrade.db'}"
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    return schema.url


def sync_engine(url: str) -> sqlalchemy.Engine:
    parsed = sqlalchemy.make_url(normalise_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    return sqlalchemy.create_engine(parsed)


ROWS = [
    # key, incident, channel, address, status
    ("critical-webhook", 1, "webhook", "https://Hooks.Example.com:8443/x?k=1", "pending"),
    ("critical-slack", 1, "slack", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F", "retrying"),
    ("low-email", 2, "email", "ann@example.com", "sending"),
    ("low-sent", 2, "webhook", "https://done.example.com/", "sent"),
    ("reset-email", None, "email", "bob@example.com", "pending"),
]


async def test_waiting_pages_get_their_urgency_and_destination(empty_url: str) -> None:
    await upgrade_async(empty_url, BEFORE)
    engine = sync_engine(empty_url)
    try:
        with engine.begin() as connection:
            for incident_id, severity in ((1, "critical"), (2, "low")):
                connection.execute(
                    sqlalchemy.text(
                        "INSERT INTO incidents (id, title, status, severity, created_at, policy_snapshot) "
                        "VALUES (:id, 't', 'triggered', :severity, :now, '{}')"
                    ),
                    {"id": incident_id, "severity": severity, "now": "2026-11-01T00:00:00+00:00"},
                )
            for key, incident, channel, address, status in ROWS:
                connection.execute(
                    sqlalchemy.text(
                        "INSERT INTO notifications (incident_id, channel, address, subject, body, "
                        "idempotency_key, status, attempts, created_at, next_attempt_at, version) "
                        "VALUES (:incident, :channel, :address, 's', 'b', :key, :status, 0, :now, :now, 0)"
                    ),
                    {
                        "incident": incident,
                        "channel": channel,
                        "address": address,
                        "key": key,
                        "status": status,
                        "now": "2026-11-01T00:00:00+00:00",
                    },
                )
        await upgrade_async(empty_url, REVISION)
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text("SELECT idempotency_key, urgency, destination FROM notifications")
            ).all()
        assert {key: (urgency, destination) for key, urgency, destination in rows} == {
            "critical-webhook": (0, "hooks.example.com"),
            "critical-slack": (0, "t1jj3t3l2"),
            "low-email": (3, None),
            "low-sent": (0, None),  # never claimed again
            "reset-email": (0, None),
        }

        await downgrade_async(empty_url, BEFORE)
        columns = {c["name"] for c in sqlalchemy.inspect(engine).get_columns("notifications")}
        assert not {"urgency", "destination"} & columns
    finally:
        engine.dispose()

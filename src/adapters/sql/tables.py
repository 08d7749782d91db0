"""The schema: SQLAlchemy Core tables on one MetaData, the single source the migrations render from.

Integrity lives in the database, not only in code: foreign keys, unique names, keys and emails
(case-insensitively), one open incident per (integration, dedup key), and CHECK constraints on every
enum column. Every list filter of the API and every worker query has an index.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    and_,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from incidentcore.escalation import EffectKind, EscalationStep, Phase, PolicySnapshot
from incidentcore.model import (
    Channel,
    IncidentStatus,
    NotificationStatus,
    Role,
    Severity,
    TimelineKind,
)
from incidentcore.schedules import Layer

# Stable constraint names, so migrations can address them and Postgres errors name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every engine.

    SQLite has no timezone type: it stores the UTC wall time as text (fixed width, so it still sorts
    and compares correctly) and hands back naive values, which are UTC by construction here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the domain keeps timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on Postgres (indexable, compact); JSON text elsewhere.
Json = JSON().with_variant(JSONB(), "postgresql")


class Document(TypeDecorator[Any]):
    """A domain value of `value_type` (dataclasses, tuples, sets, enums) in a JSON document, JSONB on
    Postgres as with `Json`; msgspec converts it both ways. Sets are stored sorted, so that equal sets
    are stored alike. `if_null` makes the value read from SQL NULL (rows older than the column)."""

    impl = JSON
    cache_ok = True

    def __init__(self, value_type: Any, *, if_null: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.value_type = value_type
        self.if_null = if_null

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return msgspec.to_builtins(value, order="deterministic")

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return self.if_null() if self.if_null else None
        return msgspec.convert(value, self.value_type)


def _enum_values(values: type[StrEnum]) -> list[str]:
    return [member.value for member in values]


def enum_column(
    name: str, values: type[StrEnum], *, nullable: bool = False, **kwargs: Any
) -> tuple[Column[Any], CheckConstraint]:
    """A column holding `values` members (stored as their values in VARCHAR(32)), and the CHECK named
    `ck_<table>_<column>` that the database holds it to: spread both into the table."""
    stored = Enum(values, native_enum=False, length=32, values_callable=_enum_values)
    allowed = ", ".join(f"'{value}'" for value in _enum_values(values))
    condition = f"{name} IN ({allowed})"
    if nullable:
        condition = f"{name} IS NULL OR {condition}"
    return Column(name, stored, nullable=nullable, **kwargs), CheckConstraint(condition, name=name)


def id_column() -> Column[int]:
    return Column("id", Integer, primary_key=True)


# Ids are never reused after a delete (as with Postgres sequences): a stale id in a token, a link or a
# log line can never come to mean another row.
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}

teams = Table(
    "teams",
    metadata,
    id_column(),
    Column("name", Text, nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", UtcDateTime),
    **NEVER_REUSE_IDS,
)

users = Table(
    "users",
    metadata,
    id_column(),
    Column("email", Text, nullable=False),
    Column("full_name", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    *enum_column("role", Role),
    Column("team_id", Integer, ForeignKey("teams.id"), index=True),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", UtcDateTime),
    Column("credentials_version", Integer, nullable=False, server_default="0"),
    Index("ix_users_role", "role"),
    **NEVER_REUSE_IDS,
)
Index("uq_users_email_lower", func.lower(users.c.email), unique=True)

integrations = Table(
    "integrations",
    metadata,
    id_column(),
    Column("name", Text, nullable=False),
    Column("team_id", Integer, ForeignKey("teams.id"), nullable=False, index=True),
    Column("key", Text, nullable=False, unique=True),
    Column("created_at", UtcDateTime),
    **NEVER_REUSE_IDS,
)

escalation_policies = Table(
    "escalation_policies",
    metadata,
    id_column(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("team_id", Integer, ForeignKey("teams.id"), index=True),
    Column("severities", Document(frozenset[Severity]), nullable=False),  # empty means any
    Column("steps", Document(tuple[EscalationStep, ...]), nullable=False),
    Column("repeat", Integer, nullable=False),
    Column("ack_timeout_minutes", Integer),
    Column("is_active", Boolean, nullable=False),
    Column("created_at", UtcDateTime),
    **NEVER_REUSE_IDS,
)

incidents = Table(
    "incidents",
    metadata,
    id_column(),
    Column("title", Text, nullable=False),
    Column("description", Text),
    *enum_column("severity", Severity),
    # Derived from the escalation phase; stored so lists can filter and index on it.
    *enum_column("status", IncidentStatus),
    Column("team_id", Integer, ForeignKey("teams.id")),
    Column("assignee_id", Integer, ForeignKey("users.id")),
    Column("created_by_id", Integer, ForeignKey("users.id"), index=True),
    Column("source", Text),
    # An integration's incidents outlive it; only the dedup link goes.
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="SET NULL")),
    Column("dedup_key", Text),
    # No foreign key: a heartbeat's incidents outlive it (its ids are never reused).
    Column("heartbeat_id", Integer),
    Column("alert_count", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime),
    Column("acknowledged_at", UtcDateTime),
    Column("resolved_at", UtcDateTime),
    # No foreign key: the incident follows its policy snapshot, and the policy may be deleted.
    Column("escalation_policy_id", Integer),
    Column("policy_snapshot", Document(PolicySnapshot), nullable=False),
    # The escalation state; esc_phase NULL means the incident has not triggered yet.
    *enum_column("esc_phase", Phase, nullable=True),
    Column("esc_cycle", Integer, nullable=False, server_default="0"),
    Column("esc_next_step", Integer, nullable=False, server_default="0"),
    Column("esc_loop", Integer, nullable=False, server_default="0"),
    Column("next_escalation_at", UtcDateTime),
    Column("escalation_level", Integer),  # the last step fired
    Column("version", Integer, nullable=False, server_default="0"),
    **NEVER_REUSE_IDS,
)

# Written as a literal, not a bound parameter, so the planners (Postgres and SQLite alike) can match
# queries that repeat it against the partial indexes below.
incident_is_open = incidents.c.status != literal_column(f"'{IncidentStatus.RESOLVED.value}'")

Index("ix_incidents_created_at", incidents.c.created_at, incidents.c.id)
for _filter in ("team_id", "status", "severity", "assignee_id"):
    Index(f"ix_incidents_{_filter}_created_at", incidents.c[_filter], incidents.c.created_at, incidents.c.id)
Index(
    "uq_incidents_open_dedup_key",
    incidents.c.integration_id,
    incidents.c.dedup_key,
    unique=True,
    sqlite_where=incident_is_open,
    postgresql_where=incident_is_open,
)
# One open incident per heartbeat, held by the database whatever the workers do (NULLs are distinct:
# incidents no heartbeat opened are not constrained).
Index(
    "uq_incidents_open_heartbeat_id",
    incidents.c.heartbeat_id,
    unique=True,
    sqlite_where=incident_is_open,
    postgresql_where=incident_is_open,
)
_escalation_due = and_(incident_is_open, incidents.c.next_escalation_at.is_not(None))
Index(
    "ix_incidents_escalation_due",
    incidents.c.next_escalation_at,
    incidents.c.id,
    sqlite_where=_escalation_due,
    postgresql_where=_escalation_due,
)

comments = Table(
    "comments",
    metadata,
    id_column(),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=False),
    Column("author_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_comments_incident_id_created_at", "incident_id", "created_at", "id"),
    **NEVER_REUSE_IDS,
)

timeline_events = Table(
    "timeline_events",
    metadata,
    id_column(),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=False),
    *enum_column("kind", TimelineKind),
    Column("actor_id", Integer, ForeignKey("users.id")),
    Column("data", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_timeline_events_incident_id_created_at", "incident_id", "created_at", "id"),
    # A person's recent actions, newest first (the manual-page limits); also serves the foreign key.
    Index("ix_timeline_events_actor_id_created_at", "actor_id", "created_at"),
    **NEVER_REUSE_IDS,
)

escalation_events = Table(
    "escalation_events",
    metadata,
    id_column(),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=False),
    Column("policy_id", Integer),  # no foreign key: history outlives a deleted policy
    *enum_column("kind", EffectKind),
    Column("cycle", Integer, nullable=False),
    Column("step_index", Integer),
    Column("loop", Integer),
    Column("scheduled_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("notified_user_ids", Json, nullable=False),
    # NULL on events recorded before cancellations were recorded apart
    Column("cancelled_user_ids", Document(list[int], if_null=list)),
    Column("cancel_reason", Text),
    Index("ix_escalation_events_incident_id_created_at", "incident_id", "created_at", "id"),
    **NEVER_REUSE_IDS,
)

# What the incident report reads (adapters/sql/analytics.py): the first acknowledgement of each incident
# and who made it, and whether it escalated past its first step. Literals, as for `incident_is_open`.
timeline_acknowledged = timeline_events.c.kind == literal_column(f"'{TimelineKind.ACKNOWLEDGED.value}'")
Index(
    "ix_timeline_events_acknowledged",
    timeline_events.c.incident_id,
    timeline_events.c.created_at,
    timeline_events.c.actor_id,
    sqlite_where=timeline_acknowledged,
    postgresql_where=timeline_acknowledged,
)
escalation_fire_past_first_step = and_(
    escalation_events.c.kind.in_([literal_column(f"'{k.value}'") for k in (EffectKind.FIRED, EffectKind.MANUAL)]),
    escalation_events.c.step_index >= literal_column("1"),
)
Index(
    "ix_escalation_events_escalated",
    escalation_events.c.incident_id,
    sqlite_where=escalation_fire_past_first_step,
    postgresql_where=escalation_fire_past_first_step,
)

notification_preferences = Table(
    "notification_preferences",
    metadata,
    # A user's preferences go with the user.
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    *enum_column("channel", Channel, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("address", Text),
    *enum_column("min_severity", Severity, nullable=True),
)

notifications = Table(
    "notifications",
    metadata,
    id_column(),
    Column("incident_id", Integer, ForeignKey("incidents.id")),
    Column("user_id", Integer, ForeignKey("users.id"), index=True),
    *enum_column("channel", Channel),
    Column("address", Text),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False, unique=True),
    *enum_column("status", NotificationStatus),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("next_attempt_at", UtcDateTime),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("urgency", Integer, nullable=False, server_default="0"),
    # Notification.destination, stored so that a claim can pass over destinations at their limit.
    Column("destination", Text),
    Column("cancel_reason", Text),
    Index("ix_notifications_incident_id_created_at", "incident_id", "created_at", "id"),
    **NEVER_REUSE_IDS,
)

UNSENT_STATUSES = (NotificationStatus.PENDING, NotificationStatus.RETRYING, NotificationStatus.SENDING)
# Literal for the same reason as `incident_is_open`.
notification_is_unsent = notifications.c.status.in_(
    [literal_column(f"'{status.value}'") for status in UNSENT_STATUSES]
)
# A row being sent holds its lease's end in `next_attempt_at` (see Notification.claim), so one index
# finds both due retries and expired leases, in the order they are claimed (most urgent first).
Index(
    "ix_notifications_due",
    notifications.c.urgency,
    notifications.c.next_attempt_at,
    notifications.c.id,
    sqlite_where=notification_is_unsent,
    postgresql_where=notification_is_unsent,
)

password_reset_tokens = Table(
    "password_reset_tokens",
    metadata,
    id_column(),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    # -1: issued before versions were recorded; such a token matches no user, so it is never used.
    Column("credentials_version", Integer, nullable=False, server_default="-1"),
    **NEVER_REUSE_IDS,
)

schedules = Table(
    "schedules",
    metadata,
    id_column(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("team_id", Integer, ForeignKey("teams.id"), index=True),
    Column("time_zone", Text, nullable=False),  # an IANA name, checked by Schedule.validate
    Column("layers", Document(tuple[Layer, ...]), nullable=False),
    Column("created_at", UtcDateTime),
    **NEVER_REUSE_IDS,
)

schedule_overrides = Table(
    "schedule_overrides",
    metadata,
    id_column(),
    Column("schedule_id", Integer, ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("start", UtcDateTime, nullable=False),
    Column("end", UtcDateTime, nullable=False),
    Column("created_by_id", Integer, ForeignKey("users.id"), index=True),
    Column("created_at", UtcDateTime, nullable=False),
    # What on-call look-ups ask: a schedule's overrides that end after an instant.
    Index("ix_schedule_overrides_schedule_id_end", "schedule_id", "end"),
    **NEVER_REUSE_IDS,
)

calendar_feeds = Table(
    "calendar_feeds",
    metadata,
    id_column(),
    # A user's feeds go with the user, a schedule's with the schedule.
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("schedule_id", Integer, ForeignKey("schedules.id", ondelete="CASCADE"), index=True),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    **NEVER_REUSE_IDS,
)

maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    id_column(),
    Column("description", Text, nullable=False),
    Column("start", UtcDateTime, nullable=False),
    Column("end", UtcDateTime, nullable=False),
    Column("team_id", Integer, ForeignKey("teams.id"), index=True),
    Column("created_by_id", Integer, ForeignKey("users.id"), index=True),
    Column("created_at", UtcDateTime),
    **NEVER_REUSE_IDS,
)

# The integrations a window lists: a deleted integration leaves its windows' lists.
maintenance_window_integrations = Table(
    "maintenance_window_integrations",
    metadata,
    Column("window_id", Integer, ForeignKey("maintenance_windows.id", ondelete="CASCADE"), primary_key=True),
    # The coverage check at alert ingestion looks windows up by integration.
    Column(
        "integration_id",
        Integer,
        ForeignKey("integrations.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

# Alerts a window kept from opening incidents. They keep their window from being deleted, and outlive
# their integration (as incidents do).
suppressed_alerts = Table(
    "suppressed_alerts",
    metadata,
    id_column(),
    Column("window_id", Integer, ForeignKey("maintenance_windows.id"), nullable=False),
    Column("integration_id", Integer, ForeignKey("integrations.id", ondelete="SET NULL"), index=True),
    Column("dedup_key", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("title", Text, nullable=False),
    *enum_column("severity", Severity),
    Column("received_at", UtcDateTime, nullable=False),
    Column("data", Json, nullable=False),
    Index("ix_suppressed_alerts_window_id_received_at", "window_id", "received_at", "id"),
    **NEVER_REUSE_IDS,
)

heartbeats = Table(
    "heartbeats",
    metadata,
    id_column(),
    Column("name", Text, nullable=False),
    Column("team_id", Integer, ForeignKey("teams.id"), nullable=False, index=True),
    Column("interval_minutes", Integer, nullable=False),
    Column("grace_minutes", Integer, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_ping_at", UtcDateTime),
    # Heartbeat.due_at, stored so that the worker's claim is an index range scan.
    Column("due_at", UtcDateTime, nullable=False),
    # The incident its miss opened, until the next ping. No foreign key: incidents are never deleted.
    Column("incident_id", Integer),
    Column("version", Integer, nullable=False, server_default="0"),
    CheckConstraint("interval_minutes >= 1", name="interval_minutes"),
    CheckConstraint("grace_minutes >= 0", name="grace_minutes"),
    **NEVER_REUSE_IDS,
)
# Only a heartbeat with no incident recorded since its last ping can miss; the claim spells it so.
heartbeat_may_miss = heartbeats.c.incident_id.is_(None)
Index(
    "ix_heartbeats_due",
    heartbeats.c.due_at,
    heartbeats.c.id,
    sqlite_where=heartbeat_may_miss,
    postgresql_where=heartbeat_may_miss,
)

# The web UI's sessions (Litestar's server-side session store): the SHA-256 of the cookie's session id,
# never the id itself, the session's data, and when it lapses.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("key_hash", Text, primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("expires_at", UtcDateTime, index=True),
)

"""The repositories: each port of `incidentcore.ports` on SQLAlchemy Core, for SQLite and Postgres.

Every repository works in its unit of work's session (one transaction); nothing commits here. Lists
run at most two statements (the page, and a count only when the page does not tell the total).
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    CursorResult,
    Integer,
    Row,
    Select,
    Table,
    UnaryExpression,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.expression import Executable

from adapters.sql import direct, mapping
from adapters.sql.integrity import conflicts
from adapters.sql.tables import (
    UNSENT_STATUSES,
    calendar_feeds,
    comments,
    escalation_events,
    escalation_policies,
    heartbeat_may_miss,
    heartbeats,
    incident_is_open,
    incidents,
    integrations,
    maintenance_window_integrations,
    maintenance_windows,
    notification_is_unsent,
    notification_preferences,
    notifications,
    password_reset_tokens,
    schedule_overrides,
    schedules,
    suppressed_alerts,
    teams,
    timeline_events,
    users,
)
from incidentcore.errors import NotFound, StaleState
from incidentcore.escalation import EffectKind
from incidentcore.heartbeats import Heartbeat
from incidentcore.maintenance import MaintenanceWindow, SuppressedAlert
from incidentcore.model import (
    Comment,
    EscalationEvent,
    EscalationPolicy,
    Incident,
    Integration,
    Notification,
    NotificationPreference,
    NotificationStatus,
    PasswordResetToken,
    Role,
    Team,
    TimelineEvent,
    TimelineKind,
    User,
)
from incidentcore.ports import (
    CalendarFeedRepository,
    CommentRepository,
    DestinationLimit,
    EscalationEventRepository,
    HeartbeatRepository,
    IncidentFilter,
    IncidentRepository,
    IntegrationRepository,
    MaintenanceWindowFilter,
    MaintenanceWindowRepository,
    NotificationRepository,
    OverrideRepository,
    Page,
    Paged,
    PasswordResetTokenRepository,
    PolicyRepository,
    PreferenceRepository,
    ScheduleRepository,
    SuppressedAlertRepository,
    TeamRepository,
    TimelineRepository,
    UserFilter,
    UserRepository,
)
from incidentcore.schedules import CalendarFeed, Override, Schedule

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    class Stored(DataclassInstance, Protocol):
        id: int


E = TypeVar("E", bound="Stored")


class SessionSource(Protocol):
    """What a repository needs from its unit of work: the current session, and which engine it is."""

    @property
    def session(self) -> AsyncSession: ...

    @property
    def dialect_name(self) -> str: ...

    @property
    def runs_direct_statements(self) -> bool: ...

    async def connection(self) -> AsyncConnection: ...


class _SqlRepository:
    def __init__(self, source: SessionSource) -> None:
        self._source = source

    @property
    def _session(self) -> AsyncSession:
        return self._source.session

    @property
    def _on_postgres(self) -> bool:
        """Postgres locks rows (FOR UPDATE [SKIP LOCKED]). SQLite needs not: every transaction there
        holds the database's write lock from its BEGIN IMMEDIATE."""
        return self._source.dialect_name == "postgresql"

    async def _execute(self, statement: Executable, parameters: Mapping[str, Any]) -> direct.Outcome:
        """Runs a statement built once (module-level or cached: it is compiled once per statement and
        parameter names): on Postgres directly on psycopg (`direct`), elsewhere through the session."""
        if self._source.runs_direct_statements:
            connection, compiled = await self._compiled(statement, tuple(parameters))
            return await direct.run(connection, compiled, parameters)
        result = cast(CursorResult[Any], await self._session.execute(statement, dict(parameters)))
        rows = [dict(row._mapping) for row in result] if result.returns_rows else []
        return direct.Outcome(rows, result.rowcount)

    async def _execute_many(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> direct.Outcome:
        """Runs a statement built once for each of `rows` (all naming the same columns), in one round
        trip; on Postgres directly on psycopg, elsewhere through the session."""
        if self._source.runs_direct_statements:
            names = tuple(rows[0])
            if any(tuple(row) != names for row in rows):
                raise ValueError("rows sent together must name the same columns")
            connection, compiled = await self._compiled(statement, names)
            return await direct.run_many(connection, compiled, rows)
        result = cast(CursorResult[Any], await self._session.execute(statement, [dict(row) for row in rows]))
        returned = [dict(row._mapping) for row in result] if result.returns_rows else []
        return direct.Outcome(returned, result.rowcount)

    async def _compiled(
        self, statement: Executable, names: tuple[str, ...]
    ) -> tuple[AsyncConnection, direct.DirectStatement]:
        connection = await self._source.connection()
        return connection, direct.compiled_for(connection.dialect, (statement, names), lambda: statement, names)

    async def _insert(self, table: Table, values: Mapping[str, Any]) -> int:
        """Inserts one row; returns its id."""
        outcome = await self._execute(_inserting(table, ordered=False), values)
        return int(outcome.rows[0]["id"])

    async def _insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> builtins.list[int]:
        """Inserts rows in one statement; returns their ids in the order of `rows`."""
        if not rows:
            return []
        if self._source.runs_direct_statements:  # one INSERT per row, pipelined: RETURNING in order
            outcome = await self._execute_many(_inserting(table, ordered=False), rows)
            return [int(row["id"]) for row in outcome.rows]
        ordered = self._on_postgres  # SQLAlchemy pairs RETURNING rows with their parameters itself
        ids = builtins.list((await self._session.execute(_inserting(table, ordered=ordered), rows)).scalars())
        if not ordered:
            # SQLite: RETURNING order is not guaranteed, and asking SQLAlchemy to keep it would cost one
            # INSERT per row. AUTOINCREMENT ids grow in insertion order, and nobody else inserts while
            # this transaction holds the write lock, so sorting them restores the parameter order.
            ids.sort()
        return ids

    async def _all(self, query: Select[Any]) -> builtins.list[Row[Any]]:
        return builtins.list((await self._session.execute(query)).all())

    async def _changed(self, statement: Any) -> int:
        """Runs an UPDATE or DELETE; returns how many rows it matched."""
        result = cast(CursorResult[Any], await self._session.execute(statement))
        return result.rowcount

    @staticmethod
    def _locking(query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        """FOR NO KEY UPDATE: we never change keys, so inserts of rows referring to the locked ones
        (timeline events, pages of a locked incident) need not wait for it, nor deadlock with it."""
        return query.with_for_update(key_share=True, skip_locked=skip_locked)

    def _upsert_statement(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """INSERT that can take ON CONFLICT clauses, in the engine's dialect."""
        return postgresql.insert(table) if self._on_postgres else sqlite.insert(table)


_ONE_ROW_BY: dict[tuple[str, str, bool], Select[Any]] = {}
_NTH_NEWEST: dict[tuple[str, Hashable], Select[Any]] = {}  # keyed by table and a fixed set of kinds
_NEW_PAGES: dict[str, Any] = {}  # the pages' INSERT ... ON CONFLICT DO NOTHING, per dialect
_ACTIVE_POLICIES = (
    select(escalation_policies)
    .where(escalation_policies.c.is_active == true())
    .order_by(escalation_policies.c.id)
)
# Postgres only (`= ANY(array)`): one statement whatever the number of ids, so it compiles once and
# psycopg prepares it, where an IN list is a new statement for every length.
_IDS = postgresql.ARRAY(Integer)
_USERS_OR_TEAMS = (
    select(users)
    .where(
        users.c.is_active == true(),
        or_(
            users.c.id == any_(bindparam("user_ids", type_=_IDS)),
            users.c.team_id == any_(bindparam("team_ids", type_=_IDS)),
        ),
    )
    .order_by(users.c.id)
)
_PREFERENCES_OF = (
    select(notification_preferences)
    .where(notification_preferences.c.user_id == any_(bindparam("user_ids", type_=_IDS)))
    .order_by(notification_preferences.c.user_id, notification_preferences.c.channel)
)
_MANY_BY_ID: dict[str, Select[Any]] = {}  # by table
_INSERTS: dict[tuple[str, bool], Any] = {}
# The SET clause comes from the parameters' column names; the fence from these two.
_FENCED_INCIDENT_UPDATE = update(incidents).where(
    incidents.c.id == bindparam("fenced_id"), incidents.c.version == bindparam("fenced_version")
)
# Ingestion's dedup: the open incident of an integration's alert, locked on Postgres.
_OPEN_BY_DEDUP_KEY = select(incidents).where(
    incidents.c.integration_id == bindparam("integration_id"),
    incidents.c.dedup_key == bindparam("dedup_key"),
    incident_is_open,
)
_OPEN_BY_DEDUP_KEY_LOCKED = _SqlRepository._locking(_OPEN_BY_DEDUP_KEY)


def _inserting(table: Table, *, ordered: bool) -> Any:
    """INSERT ... RETURNING id for `table`, built once (`ordered`: RETURNING in parameter order)."""
    key = (table.name, ordered)
    statement = _INSERTS.get(key)
    if statement is None:
        statement = _INSERTS[key] = insert(table).returning(table.c.id, sort_by_parameter_order=ordered)
    return statement


class _EntityRepository(_SqlRepository, Generic[E]):
    """The entities of one table, with a generated `id`, mapped by `mapping.values` and `from_row`.

    `writing` arguments turn the constraint violations a write can cause into Conflicts (`conflicts`).
    """

    _table: Table
    _entity: type[E]
    _noun: str  # for "<noun> <id> does not exist", where `_update` or `_delete` may say it

    def _values(self, entity: E) -> mapping.Values:
        return mapping.values(self._table, entity)

    def _from_row(self, row: mapping.Columns) -> E:
        return mapping.from_row(self._entity, row)

    async def _add(self, entity: E, writing: AbstractContextManager[None] | None = None) -> E:
        with writing or nullcontext():
            entity.id = await self._insert(self._table, self._values(entity))
        return entity

    async def _get(self, *where: ColumnElement[bool]) -> E | None:
        row = (await self._session.execute(select(self._table).where(*where))).first()
        return self._from_row(row._mapping) if row else None

    async def _get_by(self, column: Column[Any], value: object, *, for_update: bool = False) -> E | None:
        """The row whose `column` equals `value`, by a statement built once per (column, locking):
        building and keying a SELECT costs more than running it on the hot paths (every request
        loads its actor, most load an incident)."""
        locking = for_update and self._on_postgres
        key = (column.table.name, column.name, locking)
        query = _ONE_ROW_BY.get(key)
        if query is None:
            query = select(self._table).where(column == bindparam("value"))
            _ONE_ROW_BY[key] = query = self._locking(query) if locking else query
        rows = (await self._execute(query, {"value": value})).rows
        return self._from_row(rows[0]) if rows else None

    async def _entities(self, query: Executable, values: Mapping[str, Any]) -> builtins.list[E]:
        """The entities of the rows a statement built once returns (see `_execute`)."""
        return [self._from_row(row) for row in (await self._execute(query, values)).rows]

    async def _get_many(self, ids: Sequence[int]) -> builtins.list[E]:
        """The rows with these ids, in id order; on Postgres by one fixed `= ANY(array)` statement."""
        if not ids:
            return []
        id_column = self._table.c.id
        if self._source.runs_direct_statements:
            query = _MANY_BY_ID.get(self._table.name)
            if query is None:
                query = select(self._table).where(id_column == any_(bindparam("ids", type_=_IDS)))
                query = _MANY_BY_ID[self._table.name] = query.order_by(id_column)
            return await self._entities(query, {"ids": sorted(set(ids))})
        return await self._select(select(self._table).where(id_column.in_(set(ids))).order_by(id_column))

    async def _select(self, query: Select[Any]) -> builtins.list[E]:
        return [self._from_row(row._mapping) for row in await self._all(query)]

    async def _page(
        self,
        where: Sequence[ColumnElement[bool]],
        order_by: Sequence[UnaryExpression[Any] | ColumnElement[Any]],
        page: Page,
    ) -> Paged[E]:
        if page.limit < 0 or page.offset < 0:
            raise ValueError("limit and offset must not be negative")
        table = self._table
        rows: builtins.list[Row[Any]] = []
        if page.limit > 0:
            query = select(table).where(*where).order_by(*order_by).limit(page.limit).offset(page.offset)
            rows = await self._all(query)
        if 0 < len(rows) < page.limit or (page.offset == 0 and page.limit > 0 and not rows):
            total = page.offset + len(rows)  # a short page ends the list: no count needed
        else:
            counted = await self._session.scalar(select(func.count()).select_from(table).where(*where))
            total = int(counted or 0)
        return Paged(items=[self._from_row(row._mapping) for row in rows], total=total, page=page)

    async def _update(self, entity: E, writing: AbstractContextManager[None] | None = None) -> None:
        statement = update(self._table).where(self._table.c.id == entity.id).values(self._values(entity))
        with writing or nullcontext():
            changed = await self._changed(statement)
        if not changed:
            raise NotFound(f"{self._noun} {entity.id} does not exist")

    async def _delete(self, entity_id: int, writing: AbstractContextManager[None] | None = None) -> None:
        with writing or nullcontext():
            deleted = await self._changed(delete(self._table).where(self._table.c.id == entity_id))
        if not deleted:
            raise NotFound(f"{self._noun} {entity_id} does not exist")


class _IncidentHistory(_EntityRepository[E]):
    """Rows that make up an incident's history, listed with it."""

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[E]:
        columns = self._table.c
        oldest_first = [columns.created_at, columns.id]
        return await self._page([columns.incident_id == incident_id], oldest_first, page)

    async def _add_many(self, entities: Sequence[E], writing: AbstractContextManager[None]) -> None:
        with writing:
            ids = await self._insert_many(self._table, [self._values(e) for e in entities])
        for entity, entity_id in zip(entities, ids, strict=True):
            entity.id = entity_id

    async def _nth_newest(
        self,
        key: Hashable,
        where: Callable[[], Sequence[ColumnElement[bool]]],
        values: Mapping[str, Any],
        since: datetime,
        n: int,
    ) -> datetime | None:
        """When the `n`-th newest row matching `where()` (its parameters in `values`) created since
        `since` was created: one row sent whatever `n` (the index walks the `n` newest); the statement
        is built once per `key`."""
        if n < 1:
            raise ValueError("n counts from 1")
        query = _NTH_NEWEST.get((self._table.name, key))
        if query is None:
            created_at = self._table.c.created_at
            query = select(created_at).where(*where(), created_at >= bindparam("since"))
            query = query.order_by(created_at.desc()).offset(bindparam("skipped", type_=Integer)).limit(1)
            _NTH_NEWEST[(self._table.name, key)] = query
        rows = (await self._execute(query, {**values, "since": since, "skipped": n - 1})).rows
        return rows[0]["created_at"] if rows else None


class SqlUserRepository(_EntityRepository[User], UserRepository):
    _table, _entity, _noun = users, User, "user"

    async def add(self, user: User) -> User:
        return await self._add(user, self._writing(user))

    async def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        return await self._get_by(users.c.id, user_id, for_update=for_update)

    async def get_by_email(self, email: str) -> User | None:
        return await self._get(func.lower(users.c.email) == email.lower())

    async def get_many(self, user_ids: Sequence[int]) -> builtins.list[User]:
        return await self._get_many(user_ids)

    async def list(self, where: UserFilter, page: Page) -> Paged[User]:
        conditions: builtins.list[ColumnElement[bool]] = []
        if where.team_id is not None:
            conditions.append(users.c.team_id == where.team_id)
        if where.role is not None:
            conditions.append(users.c.role == where.role)
        if where.q is not None:
            q = where.q.lower()
            conditions.append(
                or_(
                    func.lower(users.c.email).contains(q, autoescape=True),
                    func.lower(users.c.full_name).contains(q, autoescape=True),
                )
            )
        return await self._page(conditions, [users.c.id], page)

    async def update(self, user: User) -> None:
        await self._update(user, self._writing(user))

    async def delete(self, user_id: int) -> None:
        """Preferences, reset tokens and calendar feeds go with the user (ON DELETE CASCADE); history
        and schedule overrides block it."""
        referenced = conflicts(
            {
                "fk_incidents_assignee_id_users": "incidents still reference the user",
                "fk_incidents_created_by_id_users": "incidents still reference the user",
                "fk_comments_author_id_users": "comments still reference the user",
                "fk_timeline_events_actor_id_users": "timeline events still reference the user",
                "fk_notifications_user_id_users": "notifications still reference the user",
                "fk_schedule_overrides_user_id_users": "schedule overrides still reference the user",
                "fk_schedule_overrides_created_by_id_users": "schedule overrides still reference the user",
                "fk_maintenance_windows_created_by_id_users": "maintenance windows still reference the user",
            },
            foreign_key=(
                "incidents, comments, timeline events, notifications, schedule overrides or maintenance "
                "windows still reference the user"
            ),
        )
        await self._delete(user_id, referenced)

    async def resolve_targets(
        self, *, user_ids: Sequence[int], team_ids: Sequence[int], roles: Sequence[tuple[Role, int | None]]
    ) -> builtins.list[User]:
        if not (user_ids or team_ids or roles):
            return []
        if self._source.runs_direct_statements and not roles:  # the usual policy: one fixed statement
            given = {"user_ids": builtins.list(user_ids), "team_ids": builtins.list(team_ids)}
            return await self._entities(_USERS_OR_TEAMS, given)
        targeted: builtins.list[ColumnElement[bool]] = []
        if user_ids:
            targeted.append(users.c.id.in_(user_ids))
        if team_ids:
            targeted.append(users.c.team_id.in_(team_ids))
        for role, team_id in roles:
            holds_role = users.c.role == role
            targeted.append(holds_role if team_id is None else and_(holds_role, users.c.team_id == team_id))
        return await self._select(
            select(users).where(users.c.is_active == true(), or_(*targeted)).order_by(users.c.id)
        )

    @staticmethod
    def _writing(user: User) -> AbstractContextManager[None]:
        return conflicts(
            {"uq_users_email_lower": f"a user with email {user.email} already exists"},
            foreign_key=f"team {user.team_id} does not exist",
        )


_TEAM_REFERENCES = {
    "fk_users_team_id_teams": "users still belong to the team",
    "fk_incidents_team_id_teams": "incidents still reference the team",
    "fk_escalation_policies_team_id_teams": "escalation policies still reference the team",
    "fk_integrations_team_id_teams": "integrations still reference the team",
    "fk_schedules_team_id_teams": "schedules still reference the team",
    "fk_maintenance_windows_team_id_teams": "maintenance windows still reference the team",
    "fk_heartbeats_team_id_teams": "heartbeats still reference the team",
}


class SqlTeamRepository(_EntityRepository[Team], TeamRepository):
    _table, _entity, _noun = teams, Team, "team"

    async def add(self, team: Team) -> Team:
        return await self._add(team, self._writing(team))

    async def get(self, team_id: int) -> Team | None:
        return await self._get_by(teams.c.id, team_id)

    async def get_many(self, team_ids: Sequence[int]) -> builtins.list[Team]:
        return await self._get_many(team_ids)

    async def list(self, page: Page) -> Paged[Team]:
        return await self._page([], [teams.c.id], page)

    async def update(self, team: Team) -> None:
        await self._update(team, self._writing(team))

    async def delete(self, team_id: int) -> None:
        referenced = conflicts(
            _TEAM_REFERENCES,
            foreign_key=(
                "users, incidents, escalation policies, integrations, schedules, maintenance windows or "
                "heartbeats still reference the team"
            ),
        )
        await self._delete(team_id, referenced)

    @staticmethod
    def _writing(team: Team) -> AbstractContextManager[None]:
        return conflicts({"uq_teams_name": f"a team named {team.name} already exists"})


class SqlIncidentRepository(_EntityRepository[Incident], IncidentRepository):
    _table, _entity = incidents, Incident

    def _values(self, entity: Incident) -> mapping.Values:
        return mapping.incident_values(entity)

    def _from_row(self, row: mapping.Columns) -> Incident:
        return mapping.incident_from_row(row)

    async def add(self, incident: Incident) -> Incident:
        return await self._add(incident, self._writing(incident))

    async def get(self, incident_id: int, *, for_update: bool = False) -> Incident | None:
        return await self._get_by(incidents.c.id, incident_id, for_update=for_update)

    async def list(self, where: IncidentFilter, page: Page) -> Paged[Incident]:
        conditions: builtins.list[ColumnElement[bool]] = []
        if where.team_id is not None:
            conditions.append(incidents.c.team_id == where.team_id)
        if where.status is not None:
            conditions.append(incidents.c.status == where.status)
        if where.severity is not None:
            conditions.append(incidents.c.severity == where.severity)
        if where.assignee_id is not None:
            conditions.append(incidents.c.assignee_id == where.assignee_id)
        newest_first = [incidents.c.created_at.desc(), incidents.c.id.desc()]
        return await self._page(conditions, newest_first, page)

    async def update(self, incident: Incident) -> None:
        values = mapping.incident_values(incident)
        for column in (*mapping.INCIDENT_IMMUTABLE_COLUMNS, "version"):
            del values[column]
        fence = {"fenced_id": incident.id, "fenced_version": incident.version}
        with self._writing(incident):
            outcome = await self._execute(_FENCED_INCIDENT_UPDATE, {**values, "version": incident.version + 1, **fence})
            changed = outcome.rowcount
        if not changed:
            exists = await self._session.scalar(select(incidents.c.id).where(incidents.c.id == incident.id))
            if exists is None:
                raise NotFound(f"incident {incident.id} does not exist")
            raise StaleState(f"incident {incident.id} changed since it was read")
        incident.version += 1

    async def find_open_by_dedup_key(self, integration_id: int, dedup_key: str) -> Incident | None:
        query = _OPEN_BY_DEDUP_KEY_LOCKED if self._on_postgres else _OPEN_BY_DEDUP_KEY
        found = await self._entities(query, {"integration_id": integration_id, "dedup_key": dedup_key})
        return found[0] if found else None

    async def claim_due(self, now: datetime, limit: int) -> builtins.list[Incident]:
        if limit <= 0:
            return []
        query = (
            select(incidents)
            .where(incidents.c.next_escalation_at <= now, incident_is_open)
            .order_by(incidents.c.next_escalation_at, incidents.c.id)
            .limit(limit)
        )
        if self._on_postgres:
            query = self._locking(query, skip_locked=True)
        return await self._select(query)

    async def oldest_due(self, now: datetime) -> datetime | None:
        # the same conditions as the partial index ix_incidents_escalation_due: a range scan's first row
        query = select(func.min(incidents.c.next_escalation_at)).where(
            incidents.c.next_escalation_at <= now, incidents.c.next_escalation_at.is_not(None), incident_is_open
        )
        oldest: datetime | None = (await self._session.execute(query)).scalar_one()
        return oldest

    @staticmethod
    def _writing(incident: Incident) -> AbstractContextManager[None]:
        return conflicts(
            {
                "uq_incidents_open_dedup_key": f"an open incident already holds dedup key {incident.dedup_key}",
                "uq_incidents_open_heartbeat_id": f"an open incident already holds heartbeat {incident.heartbeat_id}",
            },
            foreign_key="the incident refers to a team, user or integration that does not exist",
        )


class SqlCommentRepository(_IncidentHistory[Comment], CommentRepository):
    _table, _entity = comments, Comment

    async def add(self, comment: Comment) -> Comment:
        missing = conflicts({}, foreign_key="the comment refers to an incident or author that does not exist")
        return await self._add(comment, missing)


class SqlTimelineRepository(_IncidentHistory[TimelineEvent], TimelineRepository):
    _table, _entity = timeline_events, TimelineEvent

    async def add_many(self, events: Sequence[TimelineEvent]) -> None:
        missing = "a timeline event refers to an incident or user that does not exist"
        await self._add_many(events, conflicts({}, foreign_key=missing))

    async def nth_newest_by_actor(
        self, actor_id: int, kinds: Sequence[TimelineKind], since: datetime, n: int
    ) -> datetime | None:
        columns = timeline_events.c
        kinds = tuple(kinds)
        return await self._nth_newest(
            kinds,
            lambda: [
                columns.actor_id == bindparam("actor_id"),
                columns.kind.in_(
                    [bindparam(f"kind_{n}", kind, type_=columns.kind.type) for n, kind in enumerate(kinds)]
                ),
            ],
            {"actor_id": actor_id},
            since,
            n,
        )


class SqlEscalationEventRepository(_IncidentHistory[EscalationEvent], EscalationEventRepository):
    _table, _entity = escalation_events, EscalationEvent

    async def add_many(self, events: Sequence[EscalationEvent]) -> None:
        missing = "an escalation event refers to an incident that does not exist"
        await self._add_many(events, conflicts({}, foreign_key=missing))

    async def nth_newest(self, incident_id: int, kind: EffectKind, since: datetime, n: int) -> datetime | None:
        columns = escalation_events.c
        return await self._nth_newest(
            kind,
            lambda: [columns.incident_id == bindparam("incident_id"), columns.kind == kind],
            {"incident_id": incident_id},
            since,
            n,
        )


class SqlPolicyRepository(_EntityRepository[EscalationPolicy], PolicyRepository):
    _table, _entity, _noun = escalation_policies, EscalationPolicy, "escalation policy"

    async def add(self, policy: EscalationPolicy) -> EscalationPolicy:
        return await self._add(policy, self._writing(policy))

    async def get(self, policy_id: int) -> EscalationPolicy | None:
        return await self._get_by(escalation_policies.c.id, policy_id)

    async def list(self, page: Page) -> Paged[EscalationPolicy]:
        return await self._page([], [escalation_policies.c.id], page)

    async def list_active(self) -> builtins.list[EscalationPolicy]:
        return await self._entities(_ACTIVE_POLICIES, {})

    async def list_all(self) -> builtins.list[EscalationPolicy]:
        return await self._select(select(escalation_policies).order_by(escalation_policies.c.id))

    async def update(self, policy: EscalationPolicy) -> None:
        await self._update(policy, self._writing(policy))

    async def delete(self, policy_id: int) -> None:
        """Incidents keep their policy snapshot, so nothing blocks a delete."""
        await self._delete(policy_id)

    @staticmethod
    def _writing(policy: EscalationPolicy) -> AbstractContextManager[None]:
        return conflicts({}, foreign_key=f"team {policy.team_id} does not exist")


class SqlPreferenceRepository(_SqlRepository, PreferenceRepository):
    async def list_for_users(self, user_ids: Sequence[int]) -> list[NotificationPreference]:
        if not user_ids:
            return []
        rows: Sequence[mapping.Columns]
        if self._source.runs_direct_statements:
            rows = (await self._execute(_PREFERENCES_OF, {"user_ids": builtins.list(user_ids)})).rows
        else:
            query = (
                select(notification_preferences)
                .where(notification_preferences.c.user_id.in_(user_ids))
                .order_by(notification_preferences.c.user_id, notification_preferences.c.channel)
            )
            rows = [row._mapping for row in await self._all(query)]
        return [mapping.from_row(NotificationPreference, row) for row in rows]

    async def upsert(self, preference: NotificationPreference) -> NotificationPreference:
        values = mapping.values(notification_preferences, preference)
        statement = self._upsert_statement(notification_preferences).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[notification_preferences.c.user_id, notification_preferences.c.channel],
            set_={name: statement.excluded[name] for name in ("enabled", "address", "min_severity")},
        )
        with conflicts({}, foreign_key=f"user {preference.user_id} does not exist"):
            await self._session.execute(statement)
        return replace(preference)


_WAITING_STATUSES = (NotificationStatus.PENDING, NotificationStatus.RETRYING)
# What a delivery attempt changes on an outbox row.
_DELIVERY_COLUMNS = ("status", "attempts", "last_error", "sent_at", "next_attempt_at", "cancel_reason")


class SqlNotificationRepository(_IncidentHistory[Notification], NotificationRepository):
    _table, _entity = notifications, Notification

    async def add_new(self, notifications_to_add: Sequence[Notification]) -> list[Notification]:
        fresh: dict[str, Notification] = {}
        for notification in notifications_to_add:
            fresh.setdefault(notification.idempotency_key, notification)
        if not fresh:
            return []
        statement = _NEW_PAGES.get(self._source.dialect_name)
        if statement is None:
            statement = _NEW_PAGES[self._source.dialect_name] = (
                self._upsert_statement(notifications)
                .on_conflict_do_nothing(index_elements=[notifications.c.idempotency_key])
                .returning(notifications.c.id, notifications.c.idempotency_key)
            )
        rows = [self._values(n) for n in fresh.values()]
        with conflicts({}, foreign_key="a notification refers to an incident or user that does not exist"):
            outcome = await self._execute_many(statement, rows)
        inserted_ids = {row["idempotency_key"]: row["id"] for row in outcome.rows}
        inserted: list[Notification] = []
        for key, notification in fresh.items():
            if key in inserted_ids:
                notification.id = inserted_ids[key]
                inserted.append(notification)
        return inserted

    async def was_paged(self, incident_id: int, user_id: int) -> bool:
        query = select(notifications.c.id).where(
            notifications.c.incident_id == incident_id, notifications.c.user_id == user_id
        )
        return (await self._session.execute(query.limit(1))).first() is not None

    async def claim_due(
        self, now: datetime, limit: int, lease: timedelta, destinations: DestinationLimit | None = None
    ) -> list[Notification]:
        claimed: list[Notification] = []
        full = destinations.full() if destinations is not None else set()
        per_destination: Counter[str] = Counter()
        # One query, unless a destination fills up within this claim: then again without it, so
        # the rows behind it are reached (at most once per destination that fills up).
        while len(claimed) < limit:
            wanted = limit - len(claimed)
            # a sending row is due when its sender's lease (its next_attempt_at) ran out
            query = (
                select(notifications)
                .where(notification_is_unsent, notifications.c.next_attempt_at <= now)
                .order_by(notifications.c.urgency, notifications.c.next_attempt_at, notifications.c.id)
                .limit(wanted)
            )
            if full:
                query = query.where(
                    or_(notifications.c.destination.is_(None), notifications.c.destination.not_in(full))
                )
            if claimed:
                query = query.where(notifications.c.id.not_in([n.id for n in claimed]))
            if self._on_postgres:
                query = self._locking(query, skip_locked=True)
            rows = await self._select(query)
            passed_over = False
            for notification in rows:
                destination = notification.destination
                if destinations is None or destinations.admits(destination, per_destination):
                    claimed.append(notification)
                    if destination is not None:
                        per_destination[destination] += 1
                elif destination is not None:
                    full.add(destination)
                    passed_over = True
            if len(rows) < wanted or not passed_over:
                break
        for notification in claimed:
            notification.claim(now, lease)
            notification.version += 1
        await self._save_locked(claimed)
        return claimed

    async def record(self, notification: Notification) -> bool:
        fenced = (
            update(notifications)
            .where(notifications.c.id == notification.id, notifications.c.version == notification.version)
            .values({**self._delivery_values(notification), "version": notification.version + 1})
        )
        if not await self._changed(fenced):
            return False
        notification.version += 1
        return True

    async def count_unsent(self) -> dict[NotificationStatus, int]:
        query = (
            select(notifications.c.status, func.count())
            .where(notification_is_unsent)  # spelled as the partial index ix_notifications_due is
            .group_by(notifications.c.status)
        )
        counts = {NotificationStatus(status): count for status, count in await self._session.execute(query)}
        return {status: counts.get(status, 0) for status in UNSENT_STATUSES}

    async def cancel_pending_for_incident(self, incident_id: int, reason: str) -> list[Notification]:
        query = (
            select(notifications)
            .where(notifications.c.incident_id == incident_id, notifications.c.status.in_(_WAITING_STATUSES))
            .order_by(notifications.c.id)
        )
        if self._on_postgres:
            query = self._locking(query)
        waiting = await self._select(query)
        for notification in waiting:
            notification.cancel(reason)
            notification.version += 1
        await self._save_locked(waiting)
        return waiting

    async def _save_locked(self, changed: Sequence[Notification]) -> None:
        """Writes delivery state of rows this transaction holds locked: one executemany, no fence needed."""
        if not changed:
            return
        statement = update(notifications).where(notifications.c.id == bindparam("row_id"))
        await self._session.execute(
            statement, [{"row_id": n.id, "version": n.version, **self._delivery_values(n)} for n in changed]
        )

    @staticmethod
    def _delivery_values(notification: Notification) -> mapping.Values:
        return mapping.values(notifications, notification, _DELIVERY_COLUMNS)


class SqlIntegrationRepository(_EntityRepository[Integration], IntegrationRepository):
    _table, _entity, _noun = integrations, Integration, "integration"

    async def add(self, integration: Integration) -> Integration:
        writing = conflicts(
            {"uq_integrations_key": "an integration with this key already exists"},
            foreign_key=f"team {integration.team_id} does not exist",
        )
        return await self._add(integration, writing)

    async def get(self, integration_id: int) -> Integration | None:
        return await self._get_by(integrations.c.id, integration_id)

    async def get_by_key(self, key: str) -> Integration | None:
        return await self._get_by(integrations.c.key, key)

    async def get_many(self, integration_ids: Sequence[int]) -> builtins.list[Integration]:
        return await self._get_many(integration_ids)

    async def list(self, page: Page) -> Paged[Integration]:
        return await self._page([], [integrations.c.id], page)

    async def delete(self, integration_id: int) -> None:
        """Its incidents stay; their dedup link is cleared (ON DELETE SET NULL)."""
        await self._delete(integration_id)


class SqlPasswordResetTokenRepository(_EntityRepository[PasswordResetToken], PasswordResetTokenRepository):
    _table, _entity = password_reset_tokens, PasswordResetToken

    async def add(self, token: PasswordResetToken) -> PasswordResetToken:
        writing = conflicts(
            {"uq_password_reset_tokens_token_hash": "this reset token already exists"},
            foreign_key=f"user {token.user_id} does not exist",
        )
        return await self._add(token, writing)

    async def get(self, token_hash: str) -> PasswordResetToken | None:
        return await self._get_by(password_reset_tokens.c.token_hash, token_hash)

    async def use(self, token_hash: str, now: datetime) -> PasswordResetToken | None:
        """One statement: a concurrent use of the same token waits for this one, then finds it used."""
        tokens = password_reset_tokens.c
        statement = (
            update(password_reset_tokens)
            .where(tokens.token_hash == token_hash, tokens.used_at.is_(None), tokens.expires_at > now)
            .values(used_at=now)
            .returning(*password_reset_tokens.c)
        )
        row = (await self._session.execute(statement)).one_or_none()
        return self._from_row(row._mapping) if row else None


class SqlScheduleRepository(_EntityRepository[Schedule], ScheduleRepository):
    _table, _entity, _noun = schedules, Schedule, "schedule"

    async def add(self, schedule: Schedule) -> Schedule:
        return await self._add(schedule, self._writing(schedule))

    async def get(self, schedule_id: int) -> Schedule | None:
        return await self._get(schedules.c.id == schedule_id)

    async def get_many(self, schedule_ids: Sequence[int]) -> builtins.list[Schedule]:
        return await self._get_many(schedule_ids)

    async def list(self, team_id: int | None, page: Page) -> Paged[Schedule]:
        return await self._page(self._of_team(team_id), [schedules.c.id], page)

    async def list_all(self, team_id: int | None = None) -> builtins.list[Schedule]:
        return await self._select(select(schedules).where(*self._of_team(team_id)).order_by(schedules.c.id))

    async def update(self, schedule: Schedule) -> None:
        await self._update(schedule, self._writing(schedule))

    async def delete(self, schedule_id: int) -> None:
        """Its overrides and calendar feeds go with it (ON DELETE CASCADE)."""
        await self._delete(schedule_id)

    @staticmethod
    def _of_team(team_id: int | None) -> builtins.list[ColumnElement[bool]]:
        return [] if team_id is None else [schedules.c.team_id == team_id]

    @staticmethod
    def _writing(schedule: Schedule) -> AbstractContextManager[None]:
        return conflicts({}, foreign_key=f"team {schedule.team_id} does not exist")


def _override_window(since: datetime | None, until: datetime | None) -> builtins.list[ColumnElement[bool]]:
    window: builtins.list[ColumnElement[bool]] = []
    if since is not None:
        window.append(schedule_overrides.c.end > since)
    if until is not None:
        window.append(schedule_overrides.c.start <= until)
    return window


class SqlOverrideRepository(_EntityRepository[Override], OverrideRepository):
    _table, _entity, _noun = schedule_overrides, Override, "override"

    async def add(self, override: Override) -> Override:
        missing = conflicts({}, foreign_key="the override refers to a schedule or user that does not exist")
        return await self._add(override, missing)

    async def get(self, override_id: int) -> Override | None:
        return await self._get(schedule_overrides.c.id == override_id)

    async def list(
        self, schedule_id: int, since: datetime | None, until: datetime | None, page: Page
    ) -> Paged[Override]:
        columns = schedule_overrides.c
        where = [columns.schedule_id == schedule_id, *_override_window(since, until)]
        return await self._page(where, [columns.start, columns.id], page)

    async def in_window(
        self, schedule_ids: Sequence[int], since: datetime, until: datetime | None
    ) -> builtins.list[Override]:
        if not schedule_ids:
            return []
        columns = schedule_overrides.c
        query = (
            select(schedule_overrides)
            .where(columns.schedule_id.in_(set(schedule_ids)), *_override_window(since, until))
            .order_by(columns.schedule_id, columns.start, columns.id)
        )
        return await self._select(query)

    async def delete(self, override_id: int) -> None:
        await self._delete(override_id)


class SqlCalendarFeedRepository(_EntityRepository[CalendarFeed], CalendarFeedRepository):
    _table, _entity, _noun = calendar_feeds, CalendarFeed, "calendar feed"

    async def add(self, feed: CalendarFeed) -> CalendarFeed:
        writing = conflicts(
            {"uq_calendar_feeds_token_hash": "a calendar feed with this secret already exists"},
            foreign_key="the calendar feed refers to a user or schedule that does not exist",
        )
        return await self._add(feed, writing)

    async def get(self, feed_id: int) -> CalendarFeed | None:
        return await self._get(calendar_feeds.c.id == feed_id)

    async def get_by_token_hash(self, token_hash: str) -> CalendarFeed | None:
        return await self._get(calendar_feeds.c.token_hash == token_hash)

    async def list_for_user(self, user_id: int, page: Page) -> Paged[CalendarFeed]:
        return await self._page([calendar_feeds.c.user_id == user_id], [calendar_feeds.c.id], page)

    async def delete(self, feed_id: int) -> None:
        await self._delete(feed_id)


_LISTED = maintenance_window_integrations.c
# The first window, by id, in force at :at for the team or listing the integration (ingestion's check).
_COVERING = (
    select(maintenance_windows.c.id)
    .where(
        maintenance_windows.c.start <= bindparam("at"),
        maintenance_windows.c.end > bindparam("at"),
        or_(
            maintenance_windows.c.team_id == bindparam("team_id"),
            maintenance_windows.c.id.in_(
                select(_LISTED.window_id).where(_LISTED.integration_id == bindparam("integration_id"))
            ),
        ),
    )
    .order_by(maintenance_windows.c.id)
    .limit(1)
)


def _team_wide_window_on(team_id: ColumnElement[int], at: datetime) -> ColumnElement[bool]:
    """A window of `team_id`'s own is on at `at` (`MaintenanceWindow.covers` with no integration)."""
    windows = maintenance_windows.c
    return (
        select(windows.id)
        .where(windows.team_id == team_id, windows.start <= at, windows.end > at)
        .exists()
    )


class SqlMaintenanceWindowRepository(_EntityRepository[MaintenanceWindow], MaintenanceWindowRepository):
    """A window's row, and one row per integration it lists (read back with the window)."""

    _table, _entity, _noun = maintenance_windows, MaintenanceWindow, "maintenance window"

    def _from_row(self, row: mapping.Columns) -> MaintenanceWindow:
        return mapping.from_row(MaintenanceWindow, row, integration_ids=())

    async def add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        with _references():
            window.id = await self._insert(maintenance_windows, self._values(window))
            await self._list_integrations(window)
        return window

    async def get(self, window_id: int) -> MaintenanceWindow | None:
        window = await self._get_by(maintenance_windows.c.id, window_id)
        if window is None:
            return None
        return (await self._with_integrations([window]))[0]

    async def list(self, where: MaintenanceWindowFilter, page: Page) -> Paged[MaintenanceWindow]:
        columns = maintenance_windows.c
        conditions: builtins.list[ColumnElement[bool]] = []
        if where.team_id is not None:
            conditions.append(columns.team_id == where.team_id)
        if where.active is not None and where.at is not None:
            on = and_(columns.start <= where.at, columns.end > where.at)
            conditions.append(on if where.active else ~on)
        paged = await self._page(conditions, [columns.start, columns.id], page)
        return replace(paged, items=await self._with_integrations(paged.items))

    async def update(self, window: MaintenanceWindow) -> None:
        with _references():
            await self._update(window)
            await self._session.execute(
                delete(maintenance_window_integrations).where(_LISTED.window_id == window.id)
            )
            await self._list_integrations(window)

    async def delete(self, window_id: int) -> None:
        """Its integration list goes with it (ON DELETE CASCADE); suppressed alerts block it."""
        referenced = conflicts({}, foreign_key="suppressed alerts still reference the maintenance window")
        await self._delete(window_id, referenced)

    async def covering(self, team_id: int | None, integration_id: int | None, at: datetime) -> int | None:
        if team_id is None and integration_id is None:
            return None
        # A missing team or integration is NULL, which equals nothing.
        rows = (await self._execute(_COVERING, {"team_id": team_id, "integration_id": integration_id, "at": at})).rows
        return int(rows[0]["id"]) if rows else None

    async def _list_integrations(self, window: MaintenanceWindow) -> None:
        if window.integration_ids:
            rows = [
                {"window_id": window.id, "integration_id": i} for i in sorted(set(window.integration_ids))
            ]
            await self._session.execute(insert(maintenance_window_integrations), rows)

    async def _with_integrations(
        self, windows: builtins.list[MaintenanceWindow]
    ) -> builtins.list[MaintenanceWindow]:
        """The windows with the integrations each lists, in one query for all of them."""
        if not windows:
            return windows
        query = (
            select(_LISTED.window_id, _LISTED.integration_id)
            .where(_LISTED.window_id.in_({w.id for w in windows}))
            .order_by(_LISTED.window_id, _LISTED.integration_id)
        )
        listed: dict[int, builtins.list[int]] = {}
        for row in await self._all(query):
            listed.setdefault(row.window_id, []).append(row.integration_id)
        return [replace(w, integration_ids=tuple(listed.get(w.id, ()))) for w in windows]


def _references() -> AbstractContextManager[None]:
    return conflicts(
        {}, foreign_key="the maintenance window refers to a team, user or integration that does not exist"
    )


class SqlSuppressedAlertRepository(_EntityRepository[SuppressedAlert], SuppressedAlertRepository):
    _table, _entity = suppressed_alerts, SuppressedAlert

    async def add_many(self, alerts: Sequence[SuppressedAlert]) -> None:
        with conflicts({}, foreign_key="the suppressed alert refers to a window that does not exist"):
            ids = await self._insert_many(suppressed_alerts, [self._values(a) for a in alerts])
        for alert, alert_id in zip(alerts, ids, strict=True):
            alert.id = alert_id

    async def list_for_window(self, window_id: int, page: Page) -> Paged[SuppressedAlert]:
        columns = suppressed_alerts.c
        return await self._page([columns.window_id == window_id], [columns.received_at, columns.id], page)
class SqlHeartbeatRepository(_EntityRepository[Heartbeat], HeartbeatRepository):
    _table, _entity, _noun = heartbeats, Heartbeat, "heartbeat"

    async def add(self, heartbeat: Heartbeat) -> Heartbeat:
        return await self._add(heartbeat, self._writing(heartbeat))

    async def get(self, heartbeat_id: int, *, for_update: bool = False) -> Heartbeat | None:
        return await self._get_by(heartbeats.c.id, heartbeat_id, for_update=for_update)

    async def get_by_token_hash(self, token_hash: str, *, for_update: bool = False) -> Heartbeat | None:
        return await self._get_by(heartbeats.c.token_hash, token_hash, for_update=for_update)

    async def list(self, team_id: int | None, page: Page) -> Paged[Heartbeat]:
        where = [] if team_id is None else [heartbeats.c.team_id == team_id]
        return await self._page(where, [heartbeats.c.id], page)

    async def update(self, heartbeat: Heartbeat) -> None:
        fenced = (
            update(heartbeats)
            .where(heartbeats.c.id == heartbeat.id, heartbeats.c.version == heartbeat.version)
            .values({**self._values(heartbeat), "version": heartbeat.version + 1})
        )
        with self._writing(heartbeat):
            changed = await self._changed(fenced)
        if not changed:
            exists = await self._session.scalar(select(heartbeats.c.id).where(heartbeats.c.id == heartbeat.id))
            if exists is None:
                raise NotFound(f"heartbeat {heartbeat.id} does not exist")
            raise StaleState(f"heartbeat {heartbeat.id} changed since it was read")
        heartbeat.version += 1

    async def delete(self, heartbeat_id: int) -> None:
        """Its incidents keep their `heartbeat_id` (no foreign key): they are history."""
        await self._delete(heartbeat_id)

    async def claim_missed(self, now: datetime, limit: int) -> builtins.list[Heartbeat]:
        if limit <= 0:
            return []
        query = (
            select(heartbeats)
            .where(heartbeats.c.due_at <= now, heartbeat_may_miss)  # the partial index ix_heartbeats_due
            .where(~_team_wide_window_on(heartbeats.c.team_id, now))
            .order_by(heartbeats.c.due_at, heartbeats.c.id)
            .limit(limit)
        )
        if self._on_postgres:
            query = self._locking(query, skip_locked=True)
        return await self._select(query)

    @staticmethod
    def _writing(heartbeat: Heartbeat) -> AbstractContextManager[None]:
        return conflicts(
            {"uq_heartbeats_token_hash": "a heartbeat with this secret already exists"},
            foreign_key=f"team {heartbeat.team_id} does not exist",
        )

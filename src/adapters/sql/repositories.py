"""The repositories: each port of `incidentcore.ports` on SQLAlchemy Core, for SQLite and Postgres.

Every repository works in its unit of work's session (one transaction); nothing commits here. Lists
run at most two statements (the page, and a count only when the page does not tell the total).
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    Row,
    Select,
    Table,
    UnaryExpression,
    and_,
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
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql import mapping
from adapters.sql.integrity import conflicts
from adapters.sql.tables import (
    comments,
    escalation_events,
    escalation_policies,
    incident_is_open,
    incidents,
    integrations,
    notification_is_unsent,
    notification_preferences,
    notifications,
    password_reset_tokens,
    teams,
    timeline_events,
    users,
)
from incidentcore.errors import NotFound, StaleState
from incidentcore.escalation import EffectKind
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
    CommentRepository,
    DestinationLimit,
    EscalationEventRepository,
    IncidentFilter,
    IncidentRepository,
    IntegrationRepository,
    NotificationRepository,
    Page,
    Paged,
    PasswordResetTokenRepository,
    PolicyRepository,
    PreferenceRepository,
    TeamRepository,
    TimelineRepository,
    UserFilter,
    UserRepository,
)

E = TypeVar("E")


class SessionSource(Protocol):
    """What a repository needs from its unit of work: the current session, and which engine it is."""

    @property
    def session(self) -> AsyncSession: ...

    @property
    def dialect_name(self) -> str: ...


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

    async def _insert(self, table: Table, values: Mapping[str, Any]) -> int:
        """Inserts one row; returns its id."""
        result = await self._session.execute(insert(table).values(values).returning(table.c.id))
        return int(result.scalar_one())

    async def _insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> builtins.list[int]:
        """Inserts rows in one statement; returns their ids in the order of `rows`."""
        if not rows:
            return []
        ordered = self._on_postgres  # SQLAlchemy pairs RETURNING rows with their parameters itself
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=ordered)
        ids = builtins.list((await self._session.execute(statement, rows)).scalars())
        if not ordered:
            # SQLite: RETURNING order is not guaranteed, and asking SQLAlchemy to keep it would cost one
            # INSERT per row. AUTOINCREMENT ids grow in insertion order, and nobody else inserts while
            # this transaction holds the write lock, so sorting them restores the parameter order.
            ids.sort()
        return ids

    async def _one(self, query: Select[Any]) -> Row[Any] | None:
        result: Result[Any] = await self._session.execute(query)
        return result.first()

    async def _all(self, query: Select[Any]) -> builtins.list[Row[Any]]:
        return builtins.list((await self._session.execute(query)).all())

    async def _changed(self, statement: Any) -> int:
        """Runs an UPDATE or DELETE; returns how many rows it matched."""
        result = cast(CursorResult[Any], await self._session.execute(statement))
        return result.rowcount

    async def _page(
        self,
        table: Table,
        where: Sequence[ColumnElement[bool]],
        order_by: Sequence[UnaryExpression[Any] | ColumnElement[Any]],
        page: Page,
        from_row: Callable[[Row[Any]], E],
    ) -> Paged[E]:
        if page.limit < 0 or page.offset < 0:
            raise ValueError("limit and offset must not be negative")
        rows: builtins.list[Row[Any]] = []
        if page.limit > 0:
            query = select(table).where(*where).order_by(*order_by).limit(page.limit).offset(page.offset)
            rows = await self._all(query)
        if 0 < len(rows) < page.limit or (page.offset == 0 and page.limit > 0 and not rows):
            total = page.offset + len(rows)  # a short page ends the list: no count needed
        else:
            counted = await self._session.scalar(select(func.count()).select_from(table).where(*where))
            total = int(counted or 0)
        return Paged(items=[from_row(row) for row in rows], total=total, page=page)

    @staticmethod
    def _locking(query: Select[Any], *, skip_locked: bool = False) -> Select[Any]:
        """FOR NO KEY UPDATE: we never change keys, so inserts of rows referring to the locked ones
        (timeline events, pages of a locked incident) need not wait for it, nor deadlock with it."""
        return query.with_for_update(key_share=True, skip_locked=skip_locked)

    def _upsert_statement(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """INSERT that can take ON CONFLICT clauses, in the engine's dialect."""
        return postgresql.insert(table) if self._on_postgres else sqlite.insert(table)


class SqlUserRepository(_SqlRepository, UserRepository):
    async def add(self, user: User) -> User:
        with conflicts(
            {"uq_users_email_lower": f"a user with email {user.email} already exists"},
            foreign_key=f"team {user.team_id} does not exist",
        ):
            user.id = await self._insert(users, mapping.user_values(user))
        return user

    async def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        query = select(users).where(users.c.id == user_id)
        if for_update and self._on_postgres:
            query = self._locking(query)
        row = await self._one(query)
        return mapping.user_from_row(row) if row else None

    async def get_by_email(self, email: str) -> User | None:
        row = await self._one(select(users).where(func.lower(users.c.email) == email.lower()))
        return mapping.user_from_row(row) if row else None

    async def list(self, where: UserFilter, page: Page) -> Paged[User]:
        conditions: builtins.list[ColumnElement[bool]] = []
        if where.team_id is not None:
            conditions.append(users.c.team_id == where.team_id)
        if where.role is not None:
            conditions.append(users.c.role == where.role.value)
        if where.q is not None:
            q = where.q.lower()
            conditions.append(
                or_(
                    func.lower(users.c.email).contains(q, autoescape=True),
                    func.lower(users.c.full_name).contains(q, autoescape=True),
                )
            )
        return await self._page(users, conditions, [users.c.id], page, mapping.user_from_row)

    async def update(self, user: User) -> None:
        with conflicts(
            {"uq_users_email_lower": f"a user with email {user.email} already exists"},
            foreign_key=f"team {user.team_id} does not exist",
        ):
            changed = await self._changed(
                update(users).where(users.c.id == user.id).values(mapping.user_values(user))
            )
        if not changed:
            raise NotFound(f"user {user.id} does not exist")

    async def delete(self, user_id: int) -> None:
        """Preferences and reset tokens go with the user (ON DELETE CASCADE); history blocks it."""
        with conflicts(
            {
                "fk_incidents_assignee_id_users": "incidents still reference the user",
                "fk_incidents_created_by_id_users": "incidents still reference the user",
                "fk_comments_author_id_users": "comments still reference the user",
                "fk_timeline_events_actor_id_users": "timeline events still reference the user",
                "fk_notifications_user_id_users": "notifications still reference the user",
            },
            foreign_key="incidents, comments, timeline events or notifications still reference the user",
        ):
            deleted = await self._changed(delete(users).where(users.c.id == user_id))
        if not deleted:
            raise NotFound(f"user {user_id} does not exist")

    async def resolve_targets(
        self, *, user_ids: Sequence[int], team_ids: Sequence[int], roles: Sequence[tuple[Role, int | None]]
    ) -> builtins.list[User]:
        targeted: builtins.list[ColumnElement[bool]] = []
        if user_ids:
            targeted.append(users.c.id.in_(user_ids))
        if team_ids:
            targeted.append(users.c.team_id.in_(team_ids))
        for role, team_id in roles:
            holds_role = users.c.role == role.value
            targeted.append(holds_role if team_id is None else and_(holds_role, users.c.team_id == team_id))
        if not targeted:
            return []
        query = select(users).where(users.c.is_active == true(), or_(*targeted)).order_by(users.c.id)
        return [mapping.user_from_row(row) for row in await self._all(query)]


_TEAM_REFERENCES = {
    "fk_users_team_id_teams": "users still belong to the team",
    "fk_incidents_team_id_teams": "incidents still reference the team",
    "fk_escalation_policies_team_id_teams": "escalation policies still reference the team",
    "fk_integrations_team_id_teams": "integrations still reference the team",
}


class SqlTeamRepository(_SqlRepository, TeamRepository):
    async def add(self, team: Team) -> Team:
        with conflicts({"uq_teams_name": f"a team named {team.name} already exists"}):
            team.id = await self._insert(teams, mapping.team_values(team))
        return team

    async def get(self, team_id: int) -> Team | None:
        row = await self._one(select(teams).where(teams.c.id == team_id))
        return mapping.team_from_row(row) if row else None

    async def get_many(self, team_ids: Sequence[int]) -> builtins.list[Team]:
        if not team_ids:
            return []
        rows = await self._all(select(teams).where(teams.c.id.in_(set(team_ids))).order_by(teams.c.id))
        return [mapping.team_from_row(row) for row in rows]

    async def list(self, page: Page) -> Paged[Team]:
        return await self._page(teams, [], [teams.c.id], page, mapping.team_from_row)

    async def update(self, team: Team) -> None:
        with conflicts({"uq_teams_name": f"a team named {team.name} already exists"}):
            changed = await self._changed(
                update(teams).where(teams.c.id == team.id).values(mapping.team_values(team))
            )
        if not changed:
            raise NotFound(f"team {team.id} does not exist")

    async def delete(self, team_id: int) -> None:
        with conflicts(
            _TEAM_REFERENCES,
            foreign_key="users, incidents, escalation policies or integrations still reference the team",
        ):
            deleted = await self._changed(delete(teams).where(teams.c.id == team_id))
        if not deleted:
            raise NotFound(f"team {team_id} does not exist")


class SqlIncidentRepository(_SqlRepository, IncidentRepository):
    _MISSING_REFERENCE = "the incident refers to a team, user or integration that does not exist"

    async def add(self, incident: Incident) -> Incident:
        with conflicts(
            {"uq_incidents_open_dedup_key": self._dedup_conflict(incident)},
            foreign_key=self._MISSING_REFERENCE,
        ):
            incident.id = await self._insert(incidents, mapping.incident_values(incident))
        return incident

    async def get(self, incident_id: int, *, for_update: bool = False) -> Incident | None:
        query = select(incidents).where(incidents.c.id == incident_id)
        if for_update and self._on_postgres:
            query = self._locking(query)
        row = await self._one(query)
        return mapping.incident_from_row(row) if row else None

    async def list(self, where: IncidentFilter, page: Page) -> Paged[Incident]:
        conditions: builtins.list[ColumnElement[bool]] = []
        if where.team_id is not None:
            conditions.append(incidents.c.team_id == where.team_id)
        if where.status is not None:
            conditions.append(incidents.c.status == where.status.value)
        if where.severity is not None:
            conditions.append(incidents.c.severity == where.severity.value)
        if where.assignee_id is not None:
            conditions.append(incidents.c.assignee_id == where.assignee_id)
        newest_first = [incidents.c.created_at.desc(), incidents.c.id.desc()]
        return await self._page(incidents, conditions, newest_first, page, mapping.incident_from_row)

    async def update(self, incident: Incident) -> None:
        values = mapping.incident_values(incident)
        for column in (*mapping.INCIDENT_IMMUTABLE_COLUMNS, "version"):
            del values[column]
        fenced = (
            update(incidents)
            .where(incidents.c.id == incident.id, incidents.c.version == incident.version)
            .values({**values, "version": incident.version + 1})
        )
        with conflicts(
            {"uq_incidents_open_dedup_key": self._dedup_conflict(incident)},
            foreign_key=self._MISSING_REFERENCE,
        ):
            changed = await self._changed(fenced)
        if not changed:
            exists = await self._session.scalar(select(incidents.c.id).where(incidents.c.id == incident.id))
            if exists is None:
                raise NotFound(f"incident {incident.id} does not exist")
            raise StaleState(f"incident {incident.id} changed since it was read")
        incident.version += 1

    async def find_open_by_dedup_key(self, integration_id: int, dedup_key: str) -> Incident | None:
        query = select(incidents).where(
            incidents.c.integration_id == integration_id, incidents.c.dedup_key == dedup_key, incident_is_open
        )
        if self._on_postgres:
            query = self._locking(query)
        row = await self._one(query)
        return mapping.incident_from_row(row) if row else None

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
        return [mapping.incident_from_row(row) for row in await self._all(query)]

    @staticmethod
    def _dedup_conflict(incident: Incident) -> str:
        return f"an open incident already holds dedup key {incident.dedup_key}"


class SqlCommentRepository(_SqlRepository, CommentRepository):
    async def add(self, comment: Comment) -> Comment:
        with conflicts({}, foreign_key="the comment refers to an incident or author that does not exist"):
            comment.id = await self._insert(comments, mapping.comment_values(comment))
        return comment

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[Comment]:
        oldest_first = [comments.c.created_at, comments.c.id]
        where = [comments.c.incident_id == incident_id]
        return await self._page(comments, where, oldest_first, page, mapping.comment_from_row)


class SqlTimelineRepository(_SqlRepository, TimelineRepository):
    async def add_many(self, events: Sequence[TimelineEvent]) -> None:
        with conflicts({}, foreign_key="a timeline event refers to an incident or user that does not exist"):
            ids = await self._insert_many(timeline_events, [mapping.timeline_event_values(e) for e in events])
        for event, event_id in zip(events, ids, strict=True):
            event.id = event_id

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[TimelineEvent]:
        oldest_first = [timeline_events.c.created_at, timeline_events.c.id]
        where = [timeline_events.c.incident_id == incident_id]
        return await self._page(timeline_events, where, oldest_first, page, mapping.timeline_event_from_row)

    async def recent_by_actor(
        self, actor_id: int, kinds: Sequence[TimelineKind], since: datetime, limit: int
    ) -> builtins.list[datetime]:
        query = (
            select(timeline_events.c.created_at)
            .where(
                timeline_events.c.actor_id == actor_id,
                timeline_events.c.kind.in_([k.value for k in kinds]),
                timeline_events.c.created_at >= since,
            )
            .order_by(timeline_events.c.created_at.desc())
            .limit(max(limit, 0))
        )
        return builtins.list((await self._session.scalars(query)).all())


class SqlEscalationEventRepository(_SqlRepository, EscalationEventRepository):
    async def add_many(self, events: Sequence[EscalationEvent]) -> None:
        with conflicts({}, foreign_key="an escalation event refers to an incident that does not exist"):
            ids = await self._insert_many(
                escalation_events, [mapping.escalation_event_values(e) for e in events]
            )
        for event, event_id in zip(events, ids, strict=True):
            event.id = event_id

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[EscalationEvent]:
        oldest_first = [escalation_events.c.created_at, escalation_events.c.id]
        where = [escalation_events.c.incident_id == incident_id]
        return await self._page(
            escalation_events, where, oldest_first, page, mapping.escalation_event_from_row
        )

    async def recent(
        self, incident_id: int, kind: EffectKind, since: datetime, limit: int
    ) -> builtins.list[datetime]:
        query = (
            select(escalation_events.c.created_at)
            .where(
                escalation_events.c.incident_id == incident_id,
                escalation_events.c.kind == kind.value,
                escalation_events.c.created_at >= since,
            )
            .order_by(escalation_events.c.created_at.desc())
            .limit(max(limit, 0))
        )
        return builtins.list((await self._session.scalars(query)).all())


class SqlPolicyRepository(_SqlRepository, PolicyRepository):
    async def add(self, policy: EscalationPolicy) -> EscalationPolicy:
        with conflicts({}, foreign_key=f"team {policy.team_id} does not exist"):
            policy.id = await self._insert(escalation_policies, mapping.policy_values(policy))
        return policy

    async def get(self, policy_id: int) -> EscalationPolicy | None:
        row = await self._one(select(escalation_policies).where(escalation_policies.c.id == policy_id))
        return mapping.policy_from_row(row) if row else None

    async def list(self, page: Page) -> Paged[EscalationPolicy]:
        by_id = [escalation_policies.c.id]
        return await self._page(escalation_policies, [], by_id, page, mapping.policy_from_row)

    async def list_active(self) -> builtins.list[EscalationPolicy]:
        query = (
            select(escalation_policies)
            .where(escalation_policies.c.is_active == true())
            .order_by(escalation_policies.c.id)
        )
        return [mapping.policy_from_row(row) for row in await self._all(query)]

    async def list_all(self) -> builtins.list[EscalationPolicy]:
        query = select(escalation_policies).order_by(escalation_policies.c.id)
        return [mapping.policy_from_row(row) for row in await self._all(query)]

    async def update(self, policy: EscalationPolicy) -> None:
        statement = (
            update(escalation_policies)
            .where(escalation_policies.c.id == policy.id)
            .values(mapping.policy_values(policy))
        )
        with conflicts({}, foreign_key=f"team {policy.team_id} does not exist"):
            changed = await self._changed(statement)
        if not changed:
            raise NotFound(f"escalation policy {policy.id} does not exist")

    async def delete(self, policy_id: int) -> None:
        """Incidents keep their policy snapshot, so nothing blocks a delete."""
        if not await self._changed(delete(escalation_policies).where(escalation_policies.c.id == policy_id)):
            raise NotFound(f"escalation policy {policy_id} does not exist")


class SqlPreferenceRepository(_SqlRepository, PreferenceRepository):
    async def list_for_users(self, user_ids: Sequence[int]) -> list[NotificationPreference]:
        if not user_ids:
            return []
        query = (
            select(notification_preferences)
            .where(notification_preferences.c.user_id.in_(user_ids))
            .order_by(notification_preferences.c.user_id, notification_preferences.c.channel)
        )
        return [mapping.preference_from_row(row) for row in await self._all(query)]

    async def upsert(self, preference: NotificationPreference) -> NotificationPreference:
        values = mapping.preference_values(preference)
        statement = self._upsert_statement(notification_preferences).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=[notification_preferences.c.user_id, notification_preferences.c.channel],
            set_={name: statement.excluded[name] for name in ("enabled", "address", "min_severity")},
        )
        with conflicts({}, foreign_key=f"user {preference.user_id} does not exist"):
            await self._session.execute(statement)
        return replace(preference)


_WAITING_STATUSES = (NotificationStatus.PENDING.value, NotificationStatus.RETRYING.value)


class SqlNotificationRepository(_SqlRepository, NotificationRepository):
    async def add_new(self, notifications_to_add: Sequence[Notification]) -> list[Notification]:
        fresh: dict[str, Notification] = {}
        for notification in notifications_to_add:
            fresh.setdefault(notification.idempotency_key, notification)
        if not fresh:
            return []
        statement = (
            self._upsert_statement(notifications)
            .on_conflict_do_nothing(index_elements=[notifications.c.idempotency_key])
            .returning(notifications.c.id, notifications.c.idempotency_key)
        )
        rows = [mapping.notification_values(n) for n in fresh.values()]
        with conflicts({}, foreign_key="a notification refers to an incident or user that does not exist"):
            result = await self._session.execute(statement, rows)
        inserted_ids = {key: row_id for row_id, key in result.all()}
        inserted: list[Notification] = []
        for key, notification in fresh.items():
            if key in inserted_ids:
                notification.id = inserted_ids[key]
                inserted.append(notification)
        return inserted

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[Notification]:
        oldest_first = [notifications.c.created_at, notifications.c.id]
        where = [notifications.c.incident_id == incident_id]
        return await self._page(notifications, where, oldest_first, page, mapping.notification_from_row)

    async def was_paged(self, incident_id: int, user_id: int) -> bool:
        query = select(notifications.c.id).where(
            notifications.c.incident_id == incident_id, notifications.c.user_id == user_id
        )
        return await self._one(query.limit(1)) is not None

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
            rows = [mapping.notification_from_row(row) for row in await self._all(query)]
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
            .values(
                {**mapping.notification_delivery_values(notification), "version": notification.version + 1}
            )
        )
        if not await self._changed(fenced):
            return False
        notification.version += 1
        return True

    async def cancel_pending_for_incident(self, incident_id: int, reason: str) -> list[Notification]:
        query = (
            select(notifications)
            .where(notifications.c.incident_id == incident_id, notifications.c.status.in_(_WAITING_STATUSES))
            .order_by(notifications.c.id)
        )
        if self._on_postgres:
            query = self._locking(query)
        waiting = [mapping.notification_from_row(row) for row in await self._all(query)]
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
            statement,
            [
                {"row_id": n.id, "version": n.version, **mapping.notification_delivery_values(n)}
                for n in changed
            ],
        )


class SqlIntegrationRepository(_SqlRepository, IntegrationRepository):
    async def add(self, integration: Integration) -> Integration:
        with conflicts(
            {"uq_integrations_key": "an integration with this key already exists"},
            foreign_key=f"team {integration.team_id} does not exist",
        ):
            integration.id = await self._insert(integrations, mapping.integration_values(integration))
        return integration

    async def get(self, integration_id: int) -> Integration | None:
        row = await self._one(select(integrations).where(integrations.c.id == integration_id))
        return mapping.integration_from_row(row) if row else None

    async def get_by_key(self, key: str) -> Integration | None:
        row = await self._one(select(integrations).where(integrations.c.key == key))
        return mapping.integration_from_row(row) if row else None

    async def list(self, page: Page) -> Paged[Integration]:
        by_id = [integrations.c.id]
        return await self._page(integrations, [], by_id, page, mapping.integration_from_row)

    async def delete(self, integration_id: int) -> None:
        """Its incidents stay; their dedup link is cleared (ON DELETE SET NULL)."""
        if not await self._changed(delete(integrations).where(integrations.c.id == integration_id)):
            raise NotFound(f"integration {integration_id} does not exist")


class SqlPasswordResetTokenRepository(_SqlRepository, PasswordResetTokenRepository):
    async def add(self, token: PasswordResetToken) -> PasswordResetToken:
        with conflicts(
            {"uq_password_reset_tokens_token_hash": "this reset token already exists"},
            foreign_key=f"user {token.user_id} does not exist",
        ):
            token.id = await self._insert(password_reset_tokens, mapping.reset_token_values(token))
        return token

    async def get(self, token_hash: str) -> PasswordResetToken | None:
        tokens = password_reset_tokens.c
        row = await self._one(select(password_reset_tokens).where(tokens.token_hash == token_hash))
        return mapping.reset_token_from_row(row) if row else None

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
        return mapping.reset_token_from_row(row) if row else None

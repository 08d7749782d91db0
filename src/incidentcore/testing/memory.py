"""In-memory implementations of every port: the fakes unit tests run on, and the reference behaviour
the contract tests hold the SQL adapters to.

Transactions behave like Postgres at READ COMMITTED: a unit of work reads the latest committed rows
with its own uncommitted writes on top, and `commit()` merges its writes into the store row by row.
Rows a unit of work claims or writes with a fence (incidents, notifications) stay locked until it
ends: concurrent claimers skip them, like `FOR UPDATE SKIP LOCKED`. Where Postgres would make a
writer wait for such a lock the memory store cannot, so it raises StaleState instead.
"""

from __future__ import annotations

import builtins  # `list` names a method in several repositories, so annotations there spell the type out
import copy
import json
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Generic, Self, TypeVar
from urllib.parse import urlsplit

from incidentcore.analytics import IncidentReport, incident_report
from incidentcore.errors import AuthenticationFailed, Conflict, NotFound, StaleState
from incidentcore.escalation import EffectKind
from incidentcore.heartbeats import Heartbeat
from incidentcore.maintenance import MaintenanceWindow, SuppressedAlert, covering
from incidentcore.model import (
    Channel,
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
    AccessToken,
    AnalyticsQueries,
    CalendarFeedRepository,
    ChannelAddresses,
    Clock,
    CommentRepository,
    DeliveryFailed,
    DestinationLimit,
    DestinationPolicy,
    DestinationRefused,
    EscalationEventRepository,
    HeartbeatRepository,
    IncidentFilter,
    IncidentRepository,
    IntegrationRepository,
    InvalidAddress,
    MaintenanceWindowFilter,
    MaintenanceWindowRepository,
    NotificationRepository,
    Notifier,
    OutgoingMessage,
    OverrideRepository,
    Page,
    Paged,
    PasswordHasher,
    PasswordResetTokenRepository,
    PolicyRepository,
    PreferenceRepository,
    RetryPolicy,
    ScheduleRepository,
    SchedulerNudge,
    SecretGenerator,
    SuppressedAlertRepository,
    TeamRepository,
    TimelineRepository,
    TokenClaims,
    TokenService,
    UnitOfWork,
    UserFilter,
    UserRepository,
)
from incidentcore.schedules import CalendarFeed, Override, Schedule

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

PreferenceKey = tuple[int, Channel]

WAITING = (NotificationStatus.PENDING, NotificationStatus.RETRYING)


class Table(dict[K, R]):
    """The committed rows of one table by key, and which unit of work holds each locked row."""

    def __init__(self) -> None:
        super().__init__()
        self.locks: dict[K, object] = {}


class MemoryStore:
    """The committed state: one table per entity, and id sequences that, like SQL sequences, are not
    rolled back."""

    def __init__(self) -> None:
        self.users: Table[int, User] = Table()
        self.teams: Table[int, Team] = Table()
        self.incidents: Table[int, Incident] = Table()
        self.comments: Table[int, Comment] = Table()
        self.timeline: Table[int, TimelineEvent] = Table()
        self.escalation_events: Table[int, EscalationEvent] = Table()
        self.policies: Table[int, EscalationPolicy] = Table()
        self.preferences: Table[PreferenceKey, NotificationPreference] = Table()
        self.notifications: Table[int, Notification] = Table()
        self.integrations: Table[int, Integration] = Table()
        self.reset_tokens: Table[int, PasswordResetToken] = Table()
        self.schedules: Table[int, Schedule] = Table()
        self.overrides: Table[int, Override] = Table()
        self.calendar_feeds: Table[int, CalendarFeed] = Table()
        self.maintenance_windows: Table[int, MaintenanceWindow] = Table()
        self.suppressed_alerts: Table[int, SuppressedAlert] = Table()
        self.heartbeats: Table[int, Heartbeat] = Table()
        self.last_ids: dict[str, int] = {}

    def next_id(self, table: str) -> int:
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]


class TableView(Generic[K, R]):
    """One table as a transaction sees it: the committed rows with the transaction's writes on top.

    `peek` and `rows` hand out stored objects for reading only; `get` returns a copy to give away.
    """

    def __init__(self, table: Table[K, R], owner: object) -> None:
        self.table = table
        self.owner = owner
        self.writes: dict[K, R | None] = {}  # None: deleted in this transaction
        self.held: set[K] = set()

    def peek(self, key: K) -> R | None:
        if key in self.writes:
            return self.writes[key]
        return self.table.get(key)

    def get(self, key: K) -> R | None:
        return copy.deepcopy(self.peek(key))

    def rows(self) -> Iterator[R]:
        for key, row in list(self.table.items()):
            if key not in self.writes:
                yield row
        for written in self.writes.values():
            if written is not None:
                yield written

    def put(self, key: K, row: R) -> None:
        self.writes[key] = copy.deepcopy(row)

    def delete(self, key: K) -> None:
        self.writes[key] = None

    def written(self) -> list[R]:
        return [row for row in self.writes.values() if row is not None]

    def deleted(self) -> list[K]:
        return [key for key, row in self.writes.items() if row is None]

    def held_by_other(self, key: K) -> bool:
        return self.table.locks.get(key, self.owner) is not self.owner

    def lock(self, key: K) -> bool:
        """Holds the row until the transaction ends; False when another transaction holds it."""
        if self.table.locks.setdefault(key, self.owner) is not self.owner:
            return False
        self.held.add(key)
        return True

    def lock_or_fail(self, key: K) -> None:
        if not self.lock(key):
            raise StaleState("another unit of work holds this row (the memory store cannot wait for it)")

    def publish(self) -> None:
        for key, row in self.writes.items():
            if row is None:
                self.table.pop(key, None)
            else:
                self.table[key] = row
        self.writes = {}

    def release(self) -> None:
        for key in self.held:
            if self.table.locks.get(key) is self.owner:
                del self.table.locks[key]
        self.held = set()


class Transaction:
    """One transaction's view of every table."""

    def __init__(self, store: MemoryStore) -> None:
        self.users = TableView(store.users, self)
        self.teams = TableView(store.teams, self)
        self.incidents = TableView(store.incidents, self)
        self.comments = TableView(store.comments, self)
        self.timeline = TableView(store.timeline, self)
        self.escalation_events = TableView(store.escalation_events, self)
        self.policies = TableView(store.policies, self)
        self.preferences = TableView(store.preferences, self)
        self.notifications = TableView(store.notifications, self)
        self.integrations = TableView(store.integrations, self)
        self.reset_tokens = TableView(store.reset_tokens, self)
        self.schedules = TableView(store.schedules, self)
        self.overrides = TableView(store.overrides, self)
        self.calendar_feeds = TableView(store.calendar_feeds, self)
        self.maintenance_windows = TableView(store.maintenance_windows, self)
        self.suppressed_alerts = TableView(store.suppressed_alerts, self)
        self.heartbeats = TableView(store.heartbeats, self)

    def views(self) -> tuple[TableView[object, object], ...]:
        return tuple(view for view in vars(self).values() if isinstance(view, TableView))

    def publish(self) -> None:
        for view in self.views():
            view.publish()

    def release(self) -> None:
        for view in self.views():
            view.release()


def _paged(rows: list[R], page: Page) -> Paged[R]:
    """`rows` already filtered and ordered; the page's items are copies."""
    if page.limit < 0 or page.offset < 0:
        raise ValueError("limit and offset must not be negative")
    items = rows[page.offset : page.offset + page.limit]
    return Paged(items=copy.deepcopy(items), total=len(rows), page=page)


def _nth_newest(times: list[datetime], n: int) -> datetime | None:
    if n < 1:
        raise ValueError("n counts from 1")
    newest_first = sorted(times, reverse=True)
    return newest_first[n - 1] if len(newest_first) >= n else None


class _InTransaction:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _tx(self) -> Transaction:
        return self._uow.transaction


class MemoryUserRepository(_InTransaction, UserRepository):
    """`UserRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add(self, user: User) -> User:
        self._ensure_email_free(user)
        user.id = self._uow.store.next_id("users")
        self._tx.users.put(user.id, user)
        return user

    async def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        users = self._tx.users
        if for_update and users.peek(user_id) is not None:
            users.lock_or_fail(user_id)
        return users.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        wanted = email.lower()
        found = next((u for u in self._tx.users.rows() if u.email.lower() == wanted), None)
        return copy.deepcopy(found)

    async def get_many(self, user_ids: Sequence[int]) -> builtins.list[User]:
        return [user for user_id in sorted(set(user_ids)) if (user := self._tx.users.get(user_id))]

    async def list(self, where: UserFilter, page: Page) -> Paged[User]:
        q = where.q.lower() if where.q is not None else None
        rows = [
            u
            for u in self._tx.users.rows()
            if (where.team_id is None or u.team_id == where.team_id)
            and (where.role is None or u.role == where.role)
            and (q is None or q in u.email.lower() or q in u.full_name.lower())
        ]
        return _paged(sorted(rows, key=lambda u: u.id), page)

    async def update(self, user: User) -> None:
        if self._tx.users.peek(user.id) is None:
            raise NotFound(f"user {user.id} does not exist")
        self._ensure_email_free(user)
        self._tx.users.put(user.id, user)

    async def delete(self, user_id: int) -> None:
        """History (incidents, comments, timeline events, notifications, schedule overrides) blocks the
        delete; the user's own preferences, reset tokens and calendar feeds go with the user."""
        if self._tx.users.peek(user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        self._ensure_unreferenced(user_id)
        tx = self._tx
        for preference in list(tx.preferences.rows()):
            if preference.user_id == user_id:
                tx.preferences.delete((preference.user_id, preference.channel))
        for token in list(tx.reset_tokens.rows()):
            if token.user_id == user_id:
                tx.reset_tokens.delete(token.id)
        for feed in list(tx.calendar_feeds.rows()):
            if feed.user_id == user_id:
                tx.calendar_feeds.delete(feed.id)
        tx.users.delete(user_id)

    async def resolve_targets(
        self, *, user_ids: Sequence[int], team_ids: Sequence[int], roles: Sequence[tuple[Role, int | None]]
    ) -> builtins.list[User]:
        wanted_ids, wanted_teams = set(user_ids), set(team_ids)

        def targeted(user: User) -> bool:
            return (
                user.id in wanted_ids
                or (user.team_id is not None and user.team_id in wanted_teams)
                or any(user.role == role and team in (None, user.team_id) for role, team in roles)
            )

        found = [u for u in self._tx.users.rows() if u.is_active and targeted(u)]
        return copy.deepcopy(sorted(found, key=lambda u: u.id))

    def check_writes(self) -> None:
        """At commit: the constraints again, against what others committed meanwhile."""
        for user in self._tx.users.written():
            self._ensure_email_free(user)
        for user_id in self._tx.users.deleted():
            self._ensure_unreferenced(user_id)

    def _ensure_email_free(self, user: User) -> None:
        email = user.email.lower()
        if any(u.email.lower() == email and u.id != user.id for u in self._tx.users.rows()):
            raise Conflict(f"a user with email {user.email} already exists")

    def _ensure_unreferenced(self, user_id: int) -> None:
        tx = self._tx
        if any(user_id in (i.assignee_id, i.created_by_id) for i in tx.incidents.rows()):
            raise Conflict("incidents still reference the user")
        if any(c.author_id == user_id for c in tx.comments.rows()):
            raise Conflict("comments still reference the user")
        if any(e.actor_id == user_id for e in tx.timeline.rows()):
            raise Conflict("timeline events still reference the user")
        if any(n.user_id == user_id for n in tx.notifications.rows()):
            raise Conflict("notifications still reference the user")
        if any(user_id in (o.user_id, o.created_by_id) for o in tx.overrides.rows()):
            raise Conflict("schedule overrides still reference the user")
        if any(w.created_by_id == user_id for w in tx.maintenance_windows.rows()):
            raise Conflict("maintenance windows still reference the user")


class MemoryTeamRepository(_InTransaction, TeamRepository):
    """`TeamRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add(self, team: Team) -> Team:
        self._ensure_name_free(team)
        team.id = self._uow.store.next_id("teams")
        self._tx.teams.put(team.id, team)
        return team

    async def get(self, team_id: int) -> Team | None:
        return self._tx.teams.get(team_id)

    async def get_many(self, team_ids: Sequence[int]) -> builtins.list[Team]:
        return [team for team_id in sorted(set(team_ids)) if (team := self._tx.teams.get(team_id))]

    async def list(self, page: Page) -> Paged[Team]:
        return _paged(sorted(self._tx.teams.rows(), key=lambda t: t.id), page)

    async def update(self, team: Team) -> None:
        if self._tx.teams.peek(team.id) is None:
            raise NotFound(f"team {team.id} does not exist")
        self._ensure_name_free(team)
        self._tx.teams.put(team.id, team)

    async def delete(self, team_id: int) -> None:
        if self._tx.teams.peek(team_id) is None:
            raise NotFound(f"team {team_id} does not exist")
        self._ensure_unreferenced(team_id)
        self._tx.teams.delete(team_id)

    def check_writes(self) -> None:
        for team in self._tx.teams.written():
            self._ensure_name_free(team)
        for team_id in self._tx.teams.deleted():
            self._ensure_unreferenced(team_id)

    def _ensure_name_free(self, team: Team) -> None:
        if any(t.name == team.name and t.id != team.id for t in self._tx.teams.rows()):
            raise Conflict(f"a team named {team.name} already exists")

    def _ensure_unreferenced(self, team_id: int) -> None:
        tx = self._tx
        if any(u.team_id == team_id for u in tx.users.rows()):
            raise Conflict("users still belong to the team")
        if any(i.team_id == team_id for i in tx.incidents.rows()):
            raise Conflict("incidents still reference the team")
        if any(p.team_id == team_id for p in tx.policies.rows()):
            raise Conflict("escalation policies still reference the team")
        if any(i.team_id == team_id for i in tx.integrations.rows()):
            raise Conflict("integrations still reference the team")
        if any(s.team_id == team_id for s in tx.schedules.rows()):
            raise Conflict("schedules still reference the team")
        if any(w.team_id == team_id for w in tx.maintenance_windows.rows()):
            raise Conflict("maintenance windows still reference the team")
        if any(h.team_id == team_id for h in tx.heartbeats.rows()):
            raise Conflict("heartbeats still reference the team")


class MemoryIncidentRepository(_InTransaction, IncidentRepository):
    """`IncidentRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add(self, incident: Incident) -> Incident:
        self._ensure_dedup_key_free(incident)
        incident.id = self._uow.store.next_id("incidents")
        self._tx.incidents.put(incident.id, incident)
        return incident

    async def get(self, incident_id: int, *, for_update: bool = False) -> Incident | None:
        incidents = self._tx.incidents
        if for_update and incidents.peek(incident_id) is not None:
            incidents.lock_or_fail(incident_id)
        return incidents.get(incident_id)

    async def list(self, where: IncidentFilter, page: Page) -> Paged[Incident]:
        rows = [
            i
            for i in self._tx.incidents.rows()
            if (where.team_id is None or i.team_id == where.team_id)
            and (where.status is None or i.status == where.status)
            and (where.severity is None or i.severity == where.severity)
            and (where.assignee_id is None or i.assignee_id == where.assignee_id)
        ]
        return _paged(sorted(rows, key=lambda i: (i.created_at, i.id), reverse=True), page)

    async def update(self, incident: Incident) -> None:
        incidents = self._tx.incidents
        stored = incidents.peek(incident.id)
        if stored is None:
            raise NotFound(f"incident {incident.id} does not exist")
        incidents.lock_or_fail(incident.id)
        if stored.version != incident.version:
            raise StaleState(f"incident {incident.id} changed since it was read")
        self._ensure_dedup_key_free(incident)
        incident.version += 1
        incidents.put(incident.id, incident)

    async def find_open_by_dedup_key(self, integration_id: int, dedup_key: str) -> Incident | None:
        found = next(
            (
                i
                for i in self._tx.incidents.rows()
                if i.is_open and i.integration_id == integration_id and i.dedup_key == dedup_key
            ),
            None,
        )
        if found is not None:
            self._tx.incidents.lock_or_fail(found.id)
        return copy.deepcopy(found)

    async def claim_due(self, now: datetime, limit: int) -> builtins.list[Incident]:
        incidents = self._tx.incidents
        due = sorted(
            (
                i
                for i in incidents.rows()
                if i.is_open and i.next_escalation_at is not None and i.next_escalation_at <= now
            ),
            key=lambda i: (i.next_escalation_at, i.id),
        )
        claimed = [i for i in due if not incidents.held_by_other(i.id)][: max(limit, 0)]
        for incident in claimed:
            incidents.lock(incident.id)
        return copy.deepcopy(claimed)

    async def oldest_due(self, now: datetime) -> datetime | None:
        due = [
            i.next_escalation_at
            for i in self._tx.incidents.rows()
            if i.is_open and i.next_escalation_at is not None and i.next_escalation_at <= now
        ]
        return min(due, default=None)

    def check_writes(self) -> None:
        for incident in self._tx.incidents.written():
            self._ensure_dedup_key_free(incident)

    def _ensure_dedup_key_free(self, incident: Incident) -> None:
        if incident.heartbeat_id is not None and incident.is_open and any(
            i.is_open and i.id != incident.id and i.heartbeat_id == incident.heartbeat_id
            for i in self._tx.incidents.rows()
        ):
            raise Conflict(f"an open incident already holds heartbeat {incident.heartbeat_id}")
        if incident.integration_id is None or incident.dedup_key is None or not incident.is_open:
            return
        if any(
            i.is_open
            and i.id != incident.id
            and i.integration_id == incident.integration_id
            and i.dedup_key == incident.dedup_key
            for i in self._tx.incidents.rows()
        ):
            raise Conflict(f"an open incident already holds dedup key {incident.dedup_key}")


class MemoryCommentRepository(_InTransaction, CommentRepository):
    """`CommentRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add(self, comment: Comment) -> Comment:
        comment.id = self._uow.store.next_id("comments")
        self._tx.comments.put(comment.id, comment)
        return comment

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[Comment]:
        rows = [c for c in self._tx.comments.rows() if c.incident_id == incident_id]
        return _paged(sorted(rows, key=lambda c: (c.created_at, c.id)), page)


class MemoryTimelineRepository(_InTransaction, TimelineRepository):
    """`TimelineRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add_many(self, events: Sequence[TimelineEvent]) -> None:
        for event in events:
            json.dumps(event.data)  # SQL stores it as JSON: fail here as loudly as there
            event.id = self._uow.store.next_id("timeline")
            self._tx.timeline.put(event.id, event)

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[TimelineEvent]:
        rows = [e for e in self._tx.timeline.rows() if e.incident_id == incident_id]
        return _paged(sorted(rows, key=lambda e: (e.created_at, e.id)), page)

    async def nth_newest_by_actor(
        self, actor_id: int, kinds: Sequence[TimelineKind], since: datetime, n: int
    ) -> datetime | None:
        times = [
            e.created_at
            for e in self._tx.timeline.rows()
            if e.actor_id == actor_id and e.kind in kinds and e.created_at >= since
        ]
        return _nth_newest(times, n)


class MemoryEscalationEventRepository(_InTransaction, EscalationEventRepository):
    """`EscalationEventRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add_many(self, events: Sequence[EscalationEvent]) -> None:
        for event in events:
            event.id = self._uow.store.next_id("escalation_events")
            self._tx.escalation_events.put(event.id, event)

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[EscalationEvent]:
        rows = [e for e in self._tx.escalation_events.rows() if e.incident_id == incident_id]
        return _paged(sorted(rows, key=lambda e: (e.created_at, e.id)), page)

    async def nth_newest(self, incident_id: int, kind: EffectKind, since: datetime, n: int) -> datetime | None:
        times = [
            e.created_at
            for e in self._tx.escalation_events.rows()
            if e.incident_id == incident_id and e.kind is kind and e.created_at >= since
        ]
        return _nth_newest(times, n)


class MemoryPolicyRepository(_InTransaction, PolicyRepository):
    """`PolicyRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add(self, policy: EscalationPolicy) -> EscalationPolicy:
        policy.id = self._uow.store.next_id("policies")
        self._tx.policies.put(policy.id, policy)
        return policy

    async def get(self, policy_id: int) -> EscalationPolicy | None:
        return self._tx.policies.get(policy_id)

    async def list(self, page: Page) -> Paged[EscalationPolicy]:
        return _paged(sorted(self._tx.policies.rows(), key=lambda p: p.id), page)

    async def list_active(self) -> builtins.list[EscalationPolicy]:
        active = [p for p in self._tx.policies.rows() if p.is_active]
        return copy.deepcopy(sorted(active, key=lambda p: p.id))

    async def list_all(self) -> builtins.list[EscalationPolicy]:
        return copy.deepcopy(sorted(self._tx.policies.rows(), key=lambda p: p.id))

    async def update(self, policy: EscalationPolicy) -> None:
        if self._tx.policies.peek(policy.id) is None:
            raise NotFound(f"escalation policy {policy.id} does not exist")
        self._tx.policies.put(policy.id, policy)

    async def delete(self, policy_id: int) -> None:
        if self._tx.policies.peek(policy_id) is None:
            raise NotFound(f"escalation policy {policy_id} does not exist")
        self._tx.policies.delete(policy_id)


class MemoryPreferenceRepository(_InTransaction, PreferenceRepository):
    """`PreferenceRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def list_for_users(self, user_ids: Sequence[int]) -> list[NotificationPreference]:
        wanted = set(user_ids)
        found = [p for p in self._tx.preferences.rows() if p.user_id in wanted]
        return copy.deepcopy(sorted(found, key=lambda p: (p.user_id, p.channel.value)))

    async def upsert(self, preference: NotificationPreference) -> NotificationPreference:
        self._tx.preferences.put((preference.user_id, preference.channel), preference)
        return copy.deepcopy(preference)


class MemoryNotificationRepository(_InTransaction, NotificationRepository):
    """`NotificationRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add_new(self, notifications: Sequence[Notification]) -> list[Notification]:
        taken = {n.idempotency_key for n in self._tx.notifications.rows()}
        inserted: list[Notification] = []
        for notification in notifications:
            if notification.idempotency_key in taken:
                continue
            taken.add(notification.idempotency_key)
            notification.id = self._uow.store.next_id("notifications")
            self._tx.notifications.put(notification.id, notification)
            inserted.append(notification)
        return inserted

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[Notification]:
        rows = [n for n in self._tx.notifications.rows() if n.incident_id == incident_id]
        return _paged(sorted(rows, key=lambda n: (n.created_at, n.id)), page)

    async def was_paged(self, incident_id: int, user_id: int) -> bool:
        return any(n.incident_id == incident_id and n.user_id == user_id for n in self._tx.notifications.rows())

    async def claim_due(
        self, now: datetime, limit: int, lease: timedelta, destinations: DestinationLimit | None = None
    ) -> list[Notification]:
        notifications = self._tx.notifications

        def due(n: Notification) -> bool:  # a sending row is due when its sender's lease ran out
            unsent = n.status in (
                NotificationStatus.PENDING,
                NotificationStatus.RETRYING,
                NotificationStatus.SENDING,
            )
            return unsent and n.next_attempt_at is not None and n.next_attempt_at <= now

        candidates = sorted(
            (n for n in notifications.rows() if due(n) and not notifications.held_by_other(n.id)),
            key=lambda n: (n.urgency, n.next_attempt_at or now, n.id),
        )
        claimed: list[Notification] = []
        per_destination: Counter[str] = Counter()
        for stored in candidates:
            if len(claimed) >= limit:
                break
            if destinations is not None and not destinations.admits(stored.destination, per_destination):
                continue
            if stored.destination is not None:
                per_destination[stored.destination] += 1
            notification = copy.deepcopy(stored)
            notification.claim(now, lease)
            notification.version += 1
            notifications.lock(notification.id)
            notifications.put(notification.id, notification)
            claimed.append(notification)
        return claimed

    async def record(self, notification: Notification) -> bool:
        notifications = self._tx.notifications
        stored = notifications.peek(notification.id)
        if stored is None or stored.version != notification.version:
            return False
        if not notifications.lock(notification.id):  # another unit of work is claiming it right now
            return False
        notification.version += 1
        notifications.put(notification.id, notification)
        return True

    async def cancel_pending_for_incident(self, incident_id: int, reason: str) -> list[Notification]:
        notifications = self._tx.notifications
        unsent = [n for n in notifications.rows() if n.incident_id == incident_id and n.status in WAITING]
        cancelled: list[Notification] = []
        for stored in sorted(unsent, key=lambda n: n.id):
            notifications.lock_or_fail(stored.id)
            notification = copy.deepcopy(stored)
            notification.cancel(reason)
            notification.version += 1
            notifications.put(notification.id, notification)
            cancelled.append(notification)
        return cancelled

    async def count_unsent(self) -> dict[NotificationStatus, int]:
        counts = Counter(n.status for n in self._tx.notifications.rows())
        unsent = (NotificationStatus.PENDING, NotificationStatus.RETRYING, NotificationStatus.SENDING)
        return {status: counts[status] for status in unsent}

    def check_writes(self) -> None:
        notifications = self._tx.notifications
        for written in notifications.written():
            key, own_id = written.idempotency_key, written.id
            if any(n.idempotency_key == key and n.id != own_id for n in notifications.rows()):
                raise Conflict(f"notification {key} was added concurrently")


class MemoryIntegrationRepository(_InTransaction, IntegrationRepository):
    """`IntegrationRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add(self, integration: Integration) -> Integration:
        self._ensure_key_free(integration)
        integration.id = self._uow.store.next_id("integrations")
        self._tx.integrations.put(integration.id, integration)
        return integration

    async def get(self, integration_id: int) -> Integration | None:
        return self._tx.integrations.get(integration_id)

    async def get_by_key(self, key: str) -> Integration | None:
        found = next((i for i in self._tx.integrations.rows() if i.key == key), None)
        return copy.deepcopy(found)

    async def get_many(self, integration_ids: Sequence[int]) -> builtins.list[Integration]:
        tx = self._tx
        return [
            i for integration_id in sorted(set(integration_ids)) if (i := tx.integrations.get(integration_id))
        ]

    async def list(self, page: Page) -> Paged[Integration]:
        return _paged(sorted(self._tx.integrations.rows(), key=lambda i: i.id), page)

    async def delete(self, integration_id: int) -> None:
        if self._tx.integrations.peek(integration_id) is None:
            raise NotFound(f"integration {integration_id} does not exist")
        self._tx.integrations.delete(integration_id)
        for stored in self._tx.incidents.rows():  # incidents outlive their source, as in SQL
            if stored.integration_id == integration_id:
                incident = copy.deepcopy(stored)
                incident.integration_id = None
                self._tx.incidents.put(incident.id, incident)
        for stored_window in self._tx.maintenance_windows.rows():  # windows stop listing it
            if integration_id in stored_window.integration_ids:
                window = copy.deepcopy(stored_window)
                window.integration_ids = tuple(i for i in window.integration_ids if i != integration_id)
                self._tx.maintenance_windows.put(window.id, window)
        for stored_alert in self._tx.suppressed_alerts.rows():
            if stored_alert.integration_id == integration_id:
                alert = copy.deepcopy(stored_alert)
                alert.integration_id = None
                self._tx.suppressed_alerts.put(alert.id, alert)

    def check_writes(self) -> None:
        for integration in self._tx.integrations.written():
            self._ensure_key_free(integration)

    def _ensure_key_free(self, integration: Integration) -> None:
        if any(i.key == integration.key and i.id != integration.id for i in self._tx.integrations.rows()):
            raise Conflict("an integration with this key already exists")


class MemoryPasswordResetTokenRepository(_InTransaction, PasswordResetTokenRepository):
    """`PasswordResetTokenRepository` on a `MemoryStore`, inside a `MemoryUnitOfWork`'s transaction."""

    async def add(self, token: PasswordResetToken) -> PasswordResetToken:
        token.id = self._uow.store.next_id("reset_tokens")
        self._tx.reset_tokens.put(token.id, token)
        return token

    async def get(self, token_hash: str) -> PasswordResetToken | None:
        found = next((t for t in self._tx.reset_tokens.rows() if t.token_hash == token_hash), None)
        return copy.deepcopy(found)

    async def use(self, token_hash: str, now: datetime) -> PasswordResetToken | None:
        tokens = self._tx.reset_tokens
        found = next((t for t in tokens.rows() if t.token_hash == token_hash), None)
        if found is None:
            return None
        tokens.lock_or_fail(found.id)  # a use in another transaction: the one-statement UPDATE would wait
        token = copy.deepcopy(found)
        if not token.usable(now):
            return None
        token.used_at = now
        tokens.put(token.id, token)
        return copy.deepcopy(token)


class MemoryScheduleRepository(_InTransaction, ScheduleRepository):
    """`ScheduleRepository` in memory."""

    async def add(self, schedule: Schedule) -> Schedule:
        self._ensure_team_exists(schedule)
        schedule.id = self._uow.store.next_id("schedules")
        self._tx.schedules.put(schedule.id, schedule)
        return schedule

    async def get(self, schedule_id: int) -> Schedule | None:
        return self._tx.schedules.get(schedule_id)

    async def get_many(self, schedule_ids: Sequence[int]) -> builtins.list[Schedule]:
        return [s for schedule_id in sorted(set(schedule_ids)) if (s := self._tx.schedules.get(schedule_id))]

    async def list(self, team_id: int | None, page: Page) -> Paged[Schedule]:
        return _paged(self._of_team(team_id), page)

    async def list_all(self, team_id: int | None = None) -> builtins.list[Schedule]:
        return copy.deepcopy(self._of_team(team_id))

    async def update(self, schedule: Schedule) -> None:
        if self._tx.schedules.peek(schedule.id) is None:
            raise NotFound(f"schedule {schedule.id} does not exist")
        self._ensure_team_exists(schedule)
        self._tx.schedules.put(schedule.id, schedule)

    async def delete(self, schedule_id: int) -> None:
        tx = self._tx
        if tx.schedules.peek(schedule_id) is None:
            raise NotFound(f"schedule {schedule_id} does not exist")
        for override in list(tx.overrides.rows()):
            if override.schedule_id == schedule_id:
                tx.overrides.delete(override.id)
        for feed in list(tx.calendar_feeds.rows()):
            if feed.schedule_id == schedule_id:
                tx.calendar_feeds.delete(feed.id)
        tx.schedules.delete(schedule_id)

    def check_writes(self) -> None:
        for schedule in self._tx.schedules.written():
            self._ensure_team_exists(schedule)

    def _of_team(self, team_id: int | None) -> builtins.list[Schedule]:
        rows = (s for s in self._tx.schedules.rows() if team_id is None or s.team_id == team_id)
        return sorted(rows, key=lambda s: s.id)

    def _ensure_team_exists(self, schedule: Schedule) -> None:
        if schedule.team_id is not None and self._tx.teams.peek(schedule.team_id) is None:
            raise Conflict(f"team {schedule.team_id} does not exist")


def _in_window(override: Override, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or override.end > since) and (until is None or override.start <= until)


class MemoryOverrideRepository(_InTransaction, OverrideRepository):
    """`OverrideRepository` in memory."""

    async def add(self, override: Override) -> Override:
        self._ensure_references_exist(override)
        override.id = self._uow.store.next_id("overrides")
        self._tx.overrides.put(override.id, override)
        return override

    async def get(self, override_id: int) -> Override | None:
        return self._tx.overrides.get(override_id)

    async def list(
        self, schedule_id: int, since: datetime | None, until: datetime | None, page: Page
    ) -> Paged[Override]:
        rows = [o for o in self._tx.overrides.rows() if o.schedule_id == schedule_id and _in_window(o, since, until)]
        return _paged(sorted(rows, key=lambda o: (o.start, o.id)), page)

    async def in_window(
        self, schedule_ids: Sequence[int], since: datetime, until: datetime | None
    ) -> builtins.list[Override]:
        wanted = set(schedule_ids)
        rows = [o for o in self._tx.overrides.rows() if o.schedule_id in wanted and _in_window(o, since, until)]
        return copy.deepcopy(sorted(rows, key=lambda o: (o.schedule_id, o.start, o.id)))

    async def delete(self, override_id: int) -> None:
        if self._tx.overrides.peek(override_id) is None:
            raise NotFound(f"override {override_id} does not exist")
        self._tx.overrides.delete(override_id)

    def check_writes(self) -> None:
        for override in self._tx.overrides.written():
            self._ensure_references_exist(override)

    def _ensure_references_exist(self, override: Override) -> None:
        tx = self._tx
        if tx.schedules.peek(override.schedule_id) is None:
            raise Conflict(f"schedule {override.schedule_id} does not exist")
        for user_id in (override.user_id, override.created_by_id):
            if user_id is not None and tx.users.peek(user_id) is None:
                raise Conflict(f"user {user_id} does not exist")


class MemoryCalendarFeedRepository(_InTransaction, CalendarFeedRepository):
    """`CalendarFeedRepository` in memory."""

    async def add(self, feed: CalendarFeed) -> CalendarFeed:
        self._ensure_valid(feed)
        feed.id = self._uow.store.next_id("calendar_feeds")
        self._tx.calendar_feeds.put(feed.id, feed)
        return feed

    async def get(self, feed_id: int) -> CalendarFeed | None:
        return self._tx.calendar_feeds.get(feed_id)

    async def get_by_token_hash(self, token_hash: str) -> CalendarFeed | None:
        found = next((f for f in self._tx.calendar_feeds.rows() if f.token_hash == token_hash), None)
        return copy.deepcopy(found)

    async def list_for_user(self, user_id: int, page: Page) -> Paged[CalendarFeed]:
        rows = [f for f in self._tx.calendar_feeds.rows() if f.user_id == user_id]
        return _paged(sorted(rows, key=lambda f: f.id), page)

    async def delete(self, feed_id: int) -> None:
        if self._tx.calendar_feeds.peek(feed_id) is None:
            raise NotFound(f"calendar feed {feed_id} does not exist")
        self._tx.calendar_feeds.delete(feed_id)

    def check_writes(self) -> None:
        for feed in self._tx.calendar_feeds.written():
            self._ensure_valid(feed)

    def _ensure_valid(self, feed: CalendarFeed) -> None:
        tx = self._tx
        if tx.users.peek(feed.user_id) is None:
            raise Conflict(f"user {feed.user_id} does not exist")
        if feed.schedule_id is not None and tx.schedules.peek(feed.schedule_id) is None:
            raise Conflict(f"schedule {feed.schedule_id} does not exist")
        if any(f.token_hash == feed.token_hash and f.id != feed.id for f in tx.calendar_feeds.rows()):
            raise Conflict("a calendar feed with this secret already exists")


class MemoryMaintenanceWindowRepository(_InTransaction, MaintenanceWindowRepository):
    """`MaintenanceWindowRepository` in memory."""

    async def add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        self._ensure_references_exist(window)
        window.id = self._uow.store.next_id("maintenance_windows")
        self._tx.maintenance_windows.put(window.id, window)
        return window

    async def get(self, window_id: int) -> MaintenanceWindow | None:
        return self._tx.maintenance_windows.get(window_id)

    async def list(self, where: MaintenanceWindowFilter, page: Page) -> Paged[MaintenanceWindow]:
        def wanted(window: MaintenanceWindow) -> bool:
            if where.team_id is not None and window.team_id != where.team_id:
                return False
            return where.active is None or where.at is None or window.is_active(where.at) is where.active

        rows = [w for w in self._tx.maintenance_windows.rows() if wanted(w)]
        return _paged(sorted(rows, key=lambda w: (w.start, w.id)), page)

    async def update(self, window: MaintenanceWindow) -> None:
        if self._tx.maintenance_windows.peek(window.id) is None:
            raise NotFound(f"maintenance window {window.id} does not exist")
        self._ensure_references_exist(window)
        self._tx.maintenance_windows.put(window.id, window)

    async def delete(self, window_id: int) -> None:
        tx = self._tx
        if tx.maintenance_windows.peek(window_id) is None:
            raise NotFound(f"maintenance window {window_id} does not exist")
        self._ensure_unreferenced(window_id)
        tx.maintenance_windows.delete(window_id)

    async def covering(self, team_id: int | None, integration_id: int | None, at: datetime) -> int | None:
        window = covering(self._tx.maintenance_windows.rows(), team_id, integration_id, at)
        return None if window is None else window.id

    def check_writes(self) -> None:
        tx = self._tx
        for window in tx.maintenance_windows.written():
            self._ensure_references_exist(window)
        for window_id in tx.maintenance_windows.deleted():
            self._ensure_unreferenced(window_id)

    def _ensure_references_exist(self, window: MaintenanceWindow) -> None:
        tx = self._tx
        if window.team_id is not None and tx.teams.peek(window.team_id) is None:
            raise Conflict(f"team {window.team_id} does not exist")
        if window.created_by_id is not None and tx.users.peek(window.created_by_id) is None:
            raise Conflict(f"user {window.created_by_id} does not exist")
        for integration_id in window.integration_ids:
            if tx.integrations.peek(integration_id) is None:
                raise Conflict(f"integration {integration_id} does not exist")

    def _ensure_unreferenced(self, window_id: int) -> None:
        if any(a.window_id == window_id for a in self._tx.suppressed_alerts.rows()):
            raise Conflict("suppressed alerts still reference the maintenance window")


class MemorySuppressedAlertRepository(_InTransaction, SuppressedAlertRepository):
    """`SuppressedAlertRepository` in memory."""

    async def add_many(self, alerts: Sequence[SuppressedAlert]) -> None:
        for alert in alerts:
            json.dumps(alert.data)  # SQL stores it as JSON: fail here as loudly as there
            self._ensure_window_exists(alert)
            alert.id = self._uow.store.next_id("suppressed_alerts")
            self._tx.suppressed_alerts.put(alert.id, alert)

    async def list_for_window(self, window_id: int, page: Page) -> Paged[SuppressedAlert]:
        rows = [a for a in self._tx.suppressed_alerts.rows() if a.window_id == window_id]
        return _paged(sorted(rows, key=lambda a: (a.received_at, a.id)), page)

    def check_writes(self) -> None:
        for alert in self._tx.suppressed_alerts.written():
            self._ensure_window_exists(alert)

    def _ensure_window_exists(self, alert: SuppressedAlert) -> None:
        if self._tx.maintenance_windows.peek(alert.window_id) is None:
            raise Conflict(f"maintenance window {alert.window_id} does not exist")


class MemoryHeartbeatRepository(_InTransaction, HeartbeatRepository):
    """`HeartbeatRepository` in memory; claimed and updated rows stay locked like incidents."""

    async def add(self, heartbeat: Heartbeat) -> Heartbeat:
        self._ensure_valid(heartbeat)
        heartbeat.id = self._uow.store.next_id("heartbeats")
        self._tx.heartbeats.put(heartbeat.id, heartbeat)
        return heartbeat

    async def get(self, heartbeat_id: int, *, for_update: bool = False) -> Heartbeat | None:
        heartbeats = self._tx.heartbeats
        if for_update and heartbeats.peek(heartbeat_id) is not None:
            heartbeats.lock_or_fail(heartbeat_id)
        return heartbeats.get(heartbeat_id)

    async def get_by_token_hash(self, token_hash: str, *, for_update: bool = False) -> Heartbeat | None:
        found = next((h for h in self._tx.heartbeats.rows() if h.token_hash == token_hash), None)
        return await self.get(found.id, for_update=for_update) if found is not None else None

    async def list(self, team_id: int | None, page: Page) -> Paged[Heartbeat]:
        rows = [h for h in self._tx.heartbeats.rows() if team_id is None or h.team_id == team_id]
        return _paged(sorted(rows, key=lambda h: h.id), page)

    async def update(self, heartbeat: Heartbeat) -> None:
        heartbeats = self._tx.heartbeats
        stored = heartbeats.peek(heartbeat.id)
        if stored is None:
            raise NotFound(f"heartbeat {heartbeat.id} does not exist")
        heartbeats.lock_or_fail(heartbeat.id)
        if stored.version != heartbeat.version:
            raise StaleState(f"heartbeat {heartbeat.id} changed since it was read")
        self._ensure_valid(heartbeat)
        heartbeat.version += 1
        heartbeats.put(heartbeat.id, heartbeat)

    async def delete(self, heartbeat_id: int) -> None:
        if self._tx.heartbeats.peek(heartbeat_id) is None:
            raise NotFound(f"heartbeat {heartbeat_id} does not exist")
        self._tx.heartbeats.lock_or_fail(heartbeat_id)
        self._tx.heartbeats.delete(heartbeat_id)

    async def claim_missed(self, now: datetime, limit: int) -> builtins.list[Heartbeat]:
        heartbeats = self._tx.heartbeats
        windows = builtins.list(self._tx.maintenance_windows.rows())
        missed = sorted(
            (h for h in heartbeats.rows() if h.missed(now) and covering(windows, h.team_id, None, now) is None),
            key=lambda h: (h.due_at, h.id),
        )
        claimed = [h for h in missed if not heartbeats.held_by_other(h.id)][: max(limit, 0)]
        for heartbeat in claimed:
            heartbeats.lock(heartbeat.id)
        return copy.deepcopy(claimed)

    def check_writes(self) -> None:
        for heartbeat in self._tx.heartbeats.written():
            self._ensure_valid(heartbeat)

    def _ensure_valid(self, heartbeat: Heartbeat) -> None:
        tx = self._tx
        if tx.teams.peek(heartbeat.team_id) is None:
            raise Conflict(f"team {heartbeat.team_id} does not exist")
        if any(h.token_hash == heartbeat.token_hash and h.id != heartbeat.id for h in tx.heartbeats.rows()):
            raise Conflict("a heartbeat with this secret already exists")


class MemoryAnalyticsQueries(_InTransaction, AnalyticsQueries):
    async def incident_report(self, since: datetime, until: datetime, team_id: int | None) -> IncidentReport:
        tx = self._tx
        return incident_report(
            since, until, team_id, tx.incidents.rows(), tx.timeline.rows(), tx.escalation_events.rows(),
            tx.notifications.rows(),
        )  # fmt: skip


class MemoryUnitOfWork(UnitOfWork):
    """Transactions over a MemoryStore, one after another.

    A transaction begins on `async with` or on first use, and ends at `commit()` (its writes merged
    into the store), `rollback()` or leaving the block (its writes dropped); either way its row locks
    are released. `committed` says whether the current `async with` block committed; `commits`
    counts every commit.
    """

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        self.committed = False
        self.commits = 0
        self._entered = False
        self._reads_only = False
        self._transaction: Transaction | None = None
        self.users: MemoryUserRepository = MemoryUserRepository(self)
        self.teams: MemoryTeamRepository = MemoryTeamRepository(self)
        self.incidents: MemoryIncidentRepository = MemoryIncidentRepository(self)
        self.comments: MemoryCommentRepository = MemoryCommentRepository(self)
        self.timeline: MemoryTimelineRepository = MemoryTimelineRepository(self)
        self.escalation_events: MemoryEscalationEventRepository = MemoryEscalationEventRepository(self)
        self.policies: MemoryPolicyRepository = MemoryPolicyRepository(self)
        self.preferences: MemoryPreferenceRepository = MemoryPreferenceRepository(self)
        self.notifications: MemoryNotificationRepository = MemoryNotificationRepository(self)
        self.integrations: MemoryIntegrationRepository = MemoryIntegrationRepository(self)
        self.reset_tokens: MemoryPasswordResetTokenRepository = MemoryPasswordResetTokenRepository(self)
        self.schedules: MemoryScheduleRepository = MemoryScheduleRepository(self)
        self.overrides: MemoryOverrideRepository = MemoryOverrideRepository(self)
        self.calendar_feeds: MemoryCalendarFeedRepository = MemoryCalendarFeedRepository(self)
        self.maintenance_windows: MemoryMaintenanceWindowRepository = MemoryMaintenanceWindowRepository(self)
        self.suppressed_alerts: MemorySuppressedAlertRepository = MemorySuppressedAlertRepository(self)
        self.heartbeats: MemoryHeartbeatRepository = MemoryHeartbeatRepository(self)
        self.analytics: MemoryAnalyticsQueries = MemoryAnalyticsQueries(self)

    @property
    def transaction(self) -> Transaction:
        if self._transaction is None:
            self._transaction = Transaction(self.store)
        return self._transaction

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("this unit of work is already in an `async with` block; they do not nest")
        self._entered = True
        self.committed = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._entered = False
        self._end()

    def reads_only(self) -> None:
        if self._transaction is not None:
            raise RuntimeError("reads_only() comes before the unit of work's first statement")
        self._reads_only = True

    async def commit(self) -> None:
        if self._reads_only:
            raise RuntimeError("a unit of work that only reads has nothing to commit")
        if self._transaction is not None:
            constrained = (
                self.users,
                self.teams,
                self.incidents,
                self.notifications,
                self.integrations,
                self.schedules,
                self.overrides,
                self.calendar_feeds,
                self.maintenance_windows,
                self.suppressed_alerts,
                self.heartbeats,
            )
            try:
                for repository in constrained:
                    repository.check_writes()
            except Conflict:
                self._end()
                raise
            self._transaction.publish()
        self._end()
        self.committed = True
        self.commits += 1

    async def rollback(self) -> None:
        self._end()

    def _end(self) -> None:
        if self._transaction is not None:
            self._transaction.release()
            self._transaction = None


class FakePasswordHasher(PasswordHasher):
    """Instant and readable: the hash of "pw" is "fake$wp". `verifications` counts verify calls."""

    def __init__(self) -> None:
        self.verifications = 0

    async def hash(self, password: str) -> str:
        return "fake$" + password[::-1]

    async def verify(self, password: str, password_hash: str | None) -> bool:
        self.verifications += 1
        return password_hash is not None and password_hash == await self.hash(password)


class FakeTokenService(TokenService):
    """Tokens read "tok:{user_id}:{credentials_version}:{expiry_epoch_seconds}"; expiry by the clock."""

    def __init__(self, clock: Clock, lifetime: timedelta = timedelta(hours=1)) -> None:
        self.clock = clock
        self.lifetime = lifetime

    def issue(self, user: User) -> AccessToken:
        expires_in = int(self.lifetime.total_seconds())
        expiry = int(self.clock.now().timestamp()) + expires_in
        return AccessToken(f"tok:{user.id}:{user.credentials_version}:{expiry}", expires_in)

    def decode(self, token: str) -> TokenClaims:
        parts = token.split(":")
        try:
            if len(parts) != 4 or parts[0] != "tok":
                raise ValueError(token)
            user_id, credentials_version, expiry = (int(part) for part in parts[1:])
        except ValueError:
            raise AuthenticationFailed("malformed token") from None
        if self.clock.now().timestamp() >= expiry:
            raise AuthenticationFailed("token expired")
        return TokenClaims(user_id=user_id, credentials_version=credentials_version)


class SequentialSecrets(SecretGenerator):
    """Predictable, distinct secrets as long as real ones: "secret-1-xxxx...", "secret-2-xxxx..."."""

    LENGTH = 32

    def __init__(self, prefix: str = "secret") -> None:
        self.prefix = prefix
        self.issued = 0

    def new_secret(self) -> str:
        self.issued += 1
        return f"{self.prefix}-{self.issued}-".ljust(self.LENGTH, "x")


class RecordingNotifier(Notifier):
    """Keeps every message it is asked to send (`attempts`) and those that went through (`sent`).

    `fail_with` makes sends fail: one DeliveryFailed for every channel, or one per channel.
    """

    def __init__(self, fail_with: DeliveryFailed | dict[Channel, DeliveryFailed] | None = None) -> None:
        self.fail_with = fail_with
        self.attempts: list[OutgoingMessage] = []
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> None:
        self.attempts.append(message)
        failure = self.fail_with.get(message.channel) if isinstance(self.fail_with, dict) else self.fail_with
        if failure is not None:
            raise DeliveryFailed(failure.reason, permanent=failure.permanent)
        self.sent.append(message)


class RefusedAddresses(ChannelAddresses):
    """Takes every address as it is given, except those in `refused`: what the real formats decide,
    without them (they belong to the notify adapters and are tested there)."""

    def __init__(self, refused: Iterable[str] = ()) -> None:
        self.refused = set(refused)

    def check(self, channel: Channel, address: str) -> str:
        if address in self.refused:
            raise InvalidAddress(f"is not an address the {channel.value} channel can send to")
        return address


class RefusedHosts(DestinationPolicy):
    """Refuses addresses whose host is one of `hosts`, allows every other: the real policy's
    decision without its DNS look-ups."""

    def __init__(self, hosts: Iterable[str] = ()) -> None:
        self.hosts = {host.lower() for host in hosts}
        self.checked: list[tuple[Channel, str]] = []

    async def check(self, channel: Channel, address: str) -> None:
        self.checked.append((channel, address))
        host = urlsplit(address).hostname
        if host is not None and host in self.hosts:
            raise DestinationRefused(f"{host} is not a destination pages may reach")


class RecordedSleeps:
    """What the throttle awaits instead of sleeping: waits for nothing and keeps each wait asked for
    in `delays`, so tests on the FakeClock stay instant."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class CountingNudge(SchedulerNudge):
    """A `SchedulerNudge` that counts the nudges (`nudges`)."""

    def __init__(self) -> None:
        self.nudges = 0

    def nudge(self) -> None:
        self.nudges += 1


class FixedRetryPolicy(RetryPolicy):
    """Retries after `delays[0]`, then `delays[1]`, ...; gives up when they run out. No jitter."""

    def __init__(self, delays: Sequence[timedelta]) -> None:
        self.delays = tuple(delays)
        self.max_attempts = len(self.delays) + 1

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        if attempts < 1:
            raise ValueError("attempts counts the attempts made so far, so it is at least 1")
        if attempts > len(self.delays):
            return None
        return now + self.delays[attempts - 1]

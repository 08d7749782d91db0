"""The ports: what the core needs from the outside world. Adapters implement them; the core only calls them.

Repositories work inside a UnitOfWork: nothing they write is visible to others, or durable, until
`UnitOfWork.commit()`. Leaving the unit of work without committing rolls everything back.
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from incidentcore.analytics import IncidentReport
from incidentcore.escalation import EffectKind
from incidentcore.heartbeats import Heartbeat
from incidentcore.maintenance import MaintenanceWindow, SuppressedAlert
from incidentcore.model import (
    Channel,
    Comment,
    EscalationEvent,
    EscalationPolicy,
    Incident,
    IncidentStatus,
    Integration,
    Notification,
    NotificationPreference,
    NotificationStatus,
    PasswordResetToken,
    Role,
    Severity,
    Team,
    TimelineEvent,
    TimelineKind,
    User,
)
from incidentcore.schedules import CalendarFeed, Override, Schedule

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """Which slice of a list to return: at most `limit` items after skipping `offset`."""

    limit: int = 50
    offset: int = 0

    MAX_LIMIT = 500


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of a list: its `items`, the `total` over all pages, and the `page` asked for."""

    items: list[T]
    total: int
    page: Page


@dataclass(frozen=True)
class UserFilter:
    """Which users a list returns; None matches any."""

    team_id: int | None = None
    role: Role | None = None
    q: str | None = None  # case-insensitive substring of email or full name


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents a list returns; None matches any."""

    team_id: int | None = None
    status: IncidentStatus | None = None
    severity: Severity | None = None
    assignee_id: int | None = None


class UserRepository(Protocol):
    """Users. Emails are unique case-insensitively; `add` of a taken email raises Conflict."""

    async def add(self, user: User) -> User:
        """Stores a new user and returns it with its id."""
        ...

    async def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        """`for_update` locks the row until the unit of work ends, where the engine can: a
        read-modify-write of a user holds it, so concurrent changes cannot undo one another."""
        ...

    async def get_by_email(self, email: str) -> User | None:
        """The user with this email (compared case-insensitively), or None."""
        ...

    async def get_many(self, user_ids: Sequence[int]) -> builtins.list[User]:
        """The users that exist among `user_ids` (active or not), by id, in one query."""
        ...

    async def list(self, where: UserFilter, page: Page) -> Paged[User]:
        """The users `where` matches, by id."""
        ...

    async def update(self, user: User) -> None:
        """Raises Conflict when the new email is taken."""
        ...

    async def delete(self, user_id: int) -> None:
        """Raises Conflict while incidents, comments, schedule overrides or other rows still reference
        the user; the user's preferences, reset tokens and calendar feeds go with it."""
        ...

    async def resolve_targets(
        self, *, user_ids: Sequence[int], team_ids: Sequence[int], roles: Sequence[tuple[Role, int | None]]
    ) -> builtins.list[User]:
        """Active users who are one of `user_ids`, members of one of `team_ids`, or hold a role
        (in the given team, or anywhere when the team is None). One query, no duplicates, by id."""
        ...


class TeamRepository(Protocol):
    """Teams. Names are unique; `add`/`update` of a taken name raises Conflict."""

    async def add(self, team: Team) -> Team:
        """Stores a new team and returns it with its id."""
        ...

    async def get(self, team_id: int) -> Team | None:
        """The team, or None."""
        ...

    async def get_many(self, team_ids: Sequence[int]) -> builtins.list[Team]:
        """The teams that exist among `team_ids`, by id, in one query."""
        ...

    async def list(self, page: Page) -> Paged[Team]:
        """Teams by id."""
        ...

    async def update(self, team: Team) -> None:
        """Saves the team; raises Conflict when its new name is taken."""
        ...

    async def delete(self, team_id: int) -> None:
        """Raises Conflict while users, incidents, policies, integrations or schedules reference the team."""
        ...


class IncidentRepository(Protocol):
    """Incidents with their escalation state. Writes are fenced by `Incident.version`."""

    async def add(self, incident: Incident) -> Incident:
        """Assigns the id. Raises Conflict if an open incident already holds (integration_id, dedup_key),
        or its heartbeat (`Incident.heartbeat_id`)."""
        ...

    async def get(self, incident_id: int, *, for_update: bool = False) -> Incident | None:
        """`for_update` locks the row until the unit of work ends, where the engine can."""
        ...

    async def list(self, where: IncidentFilter, page: Page) -> Paged[Incident]:
        """Newest first."""
        ...

    async def update(self, incident: Incident) -> None:
        """Saves and bumps `Incident.version`; raises StaleState if the stored version is not the one read."""
        ...

    async def find_open_by_dedup_key(self, integration_id: int, dedup_key: str) -> Incident | None:
        """The open incident holding the key, locked like `get(for_update=True)`: the caller acts on it."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> builtins.list[Incident]:
        """Open incidents whose `next_escalation_at <= now`, earliest first, at most `limit`.

        The rows stay claimed by this unit of work until it ends: a concurrent claimer skips them
        (Postgres: FOR UPDATE SKIP LOCKED; SQLite: one writer at a time). Cost grows with the number
        due, not the number open."""
        ...

    async def oldest_due(self, now: datetime) -> datetime | None:
        """The earliest `Incident.next_escalation_at` at or before `now` among open incidents (the timer that
        has waited longest for a worker), or None when nothing is due. Reads, claims nothing."""
        ...


class CommentRepository(Protocol):
    """Comments on incidents; `add` assigns the id, lists are oldest first."""

    async def add(self, comment: Comment) -> Comment:
        """Stores a new comment and returns it with its id."""
        ...

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[Comment]:
        """The incident's comments, oldest first."""
        ...


class TimelineRepository(Protocol):
    """An incident's history, append-only: nothing here updates or deletes an event."""

    async def add_many(self, events: Sequence[TimelineEvent]) -> None:
        """Appends the events in order and sets their ids."""
        ...

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[TimelineEvent]:
        """Oldest first (by time, then id)."""
        ...

    async def nth_newest_by_actor(
        self, actor_id: int, kinds: Sequence[TimelineKind], since: datetime, n: int
    ) -> datetime | None:
        """When the `n`-th newest (n >= 1) of the events of `kinds` that `actor_id` caused at or after
        `since` happened; None when there are fewer than `n`."""
        ...


class EscalationEventRepository(Protocol):
    """What the escalation did for an incident (fires with who was paged, acks, snoozes...), append-only."""

    async def add_many(self, events: Sequence[EscalationEvent]) -> None:
        """Inserts them in order, in one statement where the engine can, and sets their ids."""
        ...

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[EscalationEvent]:
        """Oldest first."""
        ...

    async def nth_newest(self, incident_id: int, kind: EffectKind, since: datetime, n: int) -> datetime | None:
        """When the `n`-th newest (n >= 1) of the incident's events of `kind` recorded at or after `since`
        was recorded; None when there are fewer than `n`."""
        ...


class PolicyRepository(Protocol):
    """Escalation policies. Deleting one never touches incidents: they follow their own snapshot."""

    async def add(self, policy: EscalationPolicy) -> EscalationPolicy:
        """Stores a new policy and returns it with its id."""
        ...

    async def get(self, policy_id: int) -> EscalationPolicy | None:
        """The policy, or None."""
        ...

    async def list(self, page: Page) -> Paged[EscalationPolicy]:
        """Policies by id."""
        ...

    async def list_active(self) -> builtins.list[EscalationPolicy]:
        """The active policies, by id: those `incidentcore.choose_policy` picks from."""
        ...

    async def list_all(self) -> builtins.list[EscalationPolicy]:
        """Every policy, active or not, by id (there are tens, not thousands)."""
        ...

    async def update(self, policy: EscalationPolicy) -> None:
        """Saves the policy; incidents keep the snapshot they triggered with."""
        ...

    async def delete(self, policy_id: int) -> None:
        """Deletes the policy; incidents that follow it keep their snapshot."""
        ...


class PreferenceRepository(Protocol):
    """At most one preference per (user, channel)."""

    async def list_for_users(self, user_ids: Sequence[int]) -> list[NotificationPreference]:
        """The preferences of these users, by user id then channel."""
        ...

    async def upsert(self, preference: NotificationPreference) -> NotificationPreference:
        """Creates or replaces the user's preference for its channel."""
        ...


@dataclass(frozen=True)
class DestinationLimit:
    """At most `per_destination` sends in flight to one destination (`Notification.destination`);
    `in_flight` counts those already going. Rows without a destination are not limited."""

    per_destination: int
    in_flight: Mapping[str, int] = field(default_factory=dict)

    def full(self) -> set[str]:
        """The destinations already at their limit."""
        return {d for d, count in self.in_flight.items() if count >= self.per_destination}

    def admits(self, destination: str | None, claimed: Counter[str]) -> bool:
        """Whether one more row for `destination` fits, beside those `claimed` so far in this claim."""
        if destination is None:
            return True
        return self.in_flight.get(destination, 0) + claimed[destination] < self.per_destination


class NotificationRepository(Protocol):
    """The transactional outbox."""

    async def add_new(self, notifications: Sequence[Notification]) -> list[Notification]:
        """Inserts those whose `Notification.idempotency_key` is not stored yet; returns the ones inserted."""
        ...

    async def list_for_incident(self, incident_id: int, page: Page) -> Paged[Notification]:
        """Oldest first."""
        ...

    async def was_paged(self, incident_id: int, user_id: int) -> bool:
        """Whether any page (whatever became of it) was written for `user_id` about the incident."""
        ...

    async def claim_due(
        self, now: datetime, limit: int, lease: timedelta, destinations: DestinationLimit | None = None
    ) -> list[Notification]:
        """Claims pending and retrying rows due by `now`, and sending rows whose lease has expired:
        the most urgent first (`Notification.urgency`), then those due the longest, at most `limit`.

        With `destinations`, rows for a destination already at its limit are left for later (neither
        claimed nor counted), and rows further down the queue take their place.
        Each claimed row is marked sending (`Notification.claim`) and its version bumped in this unit
        of work; commit before sending. A concurrent claimer never gets the same row."""
        ...

    async def record(self, notification: Notification) -> bool:
        """Saves a delivery result if the row still holds the version this claim gave it.
        Returns False, changing nothing, when another worker has re-claimed it since."""
        ...

    async def cancel_pending_for_incident(self, incident_id: int, reason: str) -> list[Notification]:
        """Cancels the incident's pages that are waiting (pending or retrying) with `reason` (someone
        acknowledged, snoozed or resolved it); a page already being sent is left to finish.
        Returns the pages it cancelled."""
        ...

    async def count_unsent(self) -> dict[NotificationStatus, int]:
        """How many pages wait in the outbox, by status: pending, retrying and sending (each present,
        0 when none). Reads, claims nothing."""
        ...


class IntegrationRepository(Protocol):
    """Alert sources; keys are unique and `get_by_key` is how a webhook call is authenticated."""

    async def add(self, integration: Integration) -> Integration:
        """Stores a new integration and returns it with its id; raises Conflict when its key is taken."""
        ...

    async def get(self, integration_id: int) -> Integration | None:
        """The integration, or None."""
        ...

    async def get_by_key(self, key: str) -> Integration | None:
        """The integration whose secret key this is, or None."""
        ...

    async def get_many(self, integration_ids: Sequence[int]) -> builtins.list[Integration]:
        """The integrations that exist among `integration_ids`, by id, in one query."""
        ...

    async def list(self, page: Page) -> Paged[Integration]:
        """Integrations by id."""
        ...

    async def delete(self, integration_id: int) -> None:
        """The incidents it opened stay, with `integration_id` cleared (no more alerts can reach them)."""
        ...


class PasswordResetTokenRepository(Protocol):
    """Reset tokens, stored only as hashes; each can be used once, before it expires."""

    async def add(self, token: PasswordResetToken) -> PasswordResetToken:
        """Stores a new token (its hash) and returns it with its id."""
        ...

    async def get(self, token_hash: str) -> PasswordResetToken | None:
        """The token with this hash, used or not; reads, claims nothing."""
        ...

    async def use(self, token_hash: str, now: datetime) -> PasswordResetToken | None:
        """Marks the token used and returns it when it exists, is unused and `now` is before its
        expiry; otherwise None. Atomic: of concurrent uses of one token, one gets it."""
        ...


class ScheduleRepository(Protocol):
    """On-call schedules with their layers. A schedule's overrides and calendar feeds go with it."""

    async def add(self, schedule: Schedule) -> Schedule:
        """Assigns the id. Raises Conflict when its team does not exist."""
        ...

    async def get(self, schedule_id: int) -> Schedule | None: ...
    async def get_many(self, schedule_ids: Sequence[int]) -> builtins.list[Schedule]:
        """The schedules that exist among `schedule_ids`, by id, in one query."""
        ...

    async def list(self, team_id: int | None, page: Page) -> Paged[Schedule]:
        """By id; only `team_id`'s when given."""
        ...

    async def list_all(self, team_id: int | None = None) -> builtins.list[Schedule]:
        """Every schedule (only `team_id`'s when given), by id, in one query."""
        ...

    async def update(self, schedule: Schedule) -> None:
        """Raises NotFound when it does not exist, Conflict when its team does not."""
        ...

    async def delete(self, schedule_id: int) -> None:
        """Deletes it with its overrides and calendar feeds; raises NotFound when it does not exist."""
        ...


class OverrideRepository(Protocol):
    """Schedule overrides. Windows are closed: an override is in [since, until] when it ends after
    `since` and starts at or before `until`; a None bound is no bound."""

    async def add(self, override: Override) -> Override:
        """Assigns the id. Raises Conflict when its schedule, user or creator does not exist."""
        ...

    async def get(self, override_id: int) -> Override | None: ...
    async def list(
        self, schedule_id: int, since: datetime | None, until: datetime | None, page: Page
    ) -> Paged[Override]:
        """The schedule's overrides in the window, by start, then id."""
        ...

    async def in_window(
        self, schedule_ids: Sequence[int], since: datetime, until: datetime | None
    ) -> builtins.list[Override]:
        """The overrides of any of `schedule_ids` in the window, by schedule, start, then id, in one
        query: what `incidentcore.schedules.oncall` and `incidentcore.schedules.shifts` need about those
        schedules from `since` to `until`."""
        ...

    async def delete(self, override_id: int) -> None:
        """Raises NotFound when it does not exist."""
        ...


class CalendarFeedRepository(Protocol):
    """Calendar subscriptions, found by the hash of their URL's secret; hashes are unique."""

    async def add(self, feed: CalendarFeed) -> CalendarFeed:
        """Assigns the id. Raises Conflict when its user or schedule does not exist, or the hash is taken."""
        ...

    async def get(self, feed_id: int) -> CalendarFeed | None: ...
    async def get_by_token_hash(self, token_hash: str) -> CalendarFeed | None: ...
    async def list_for_user(self, user_id: int, page: Page) -> Paged[CalendarFeed]:
        """By id."""
        ...

    async def delete(self, feed_id: int) -> None:
        """Raises NotFound when it does not exist."""
        ...


@dataclass(frozen=True)
class MaintenanceWindowFilter:
    """Which maintenance windows a list returns: of `team_id` (the window's own team) when given; with
    `active` True only those on at `at`, False only those not on at `at`."""

    team_id: int | None = None
    active: bool | None = None
    at: datetime | None = None


class MaintenanceWindowRepository(Protocol):
    """Maintenance windows with the integrations each lists. A window goes with none of its references:
    deleting a listed integration only drops it from the list."""

    async def add(self, window: MaintenanceWindow) -> MaintenanceWindow:
        """Assigns the id. Raises Conflict when its team, creator or a listed integration does not exist."""
        ...

    async def get(self, window_id: int) -> MaintenanceWindow | None:
        """The window with the integrations it lists, or None."""
        ...

    async def list(self, where: MaintenanceWindowFilter, page: Page) -> Paged[MaintenanceWindow]:
        """By start, then id."""
        ...

    async def update(self, window: MaintenanceWindow) -> None:
        """Raises NotFound when it does not exist, Conflict when its team or a listed integration does not."""
        ...

    async def delete(self, window_id: int) -> None:
        """Raises NotFound when it does not exist, Conflict while suppressed alerts refer to it."""
        ...

    async def covering(self, team_id: int | None, integration_id: int | None, at: datetime) -> int | None:
        """The id of the window that covers `integration_id` of team `team_id` at `at`
        (`MaintenanceWindow.covers`; the lowest id if several do), or None.
        One query: alert ingestion asks it once per delivery."""
        ...


class SuppressedAlertRepository(Protocol):
    """The alerts maintenance windows suppressed, append-only."""

    async def add_many(self, alerts: Sequence[SuppressedAlert]) -> None:
        """Inserts them in one statement where the engine can, and sets their ids."""
        ...

    async def list_for_window(self, window_id: int, page: Page) -> Paged[SuppressedAlert]:
        """The window's suppressed alerts, oldest first (by received_at, then id)."""
        ...


class HeartbeatRepository(Protocol):
    """Heartbeat monitors, found by id or by the hash of their ping URL's secret (hashes are unique).
    Writes are fenced by `Heartbeat.version`."""

    async def add(self, heartbeat: Heartbeat) -> Heartbeat:
        """Assigns the id. Raises Conflict when its team does not exist or the hash is taken."""
        ...

    async def get(self, heartbeat_id: int, *, for_update: bool = False) -> Heartbeat | None:
        """`for_update` locks the row until the unit of work ends, where the engine can."""
        ...

    async def get_by_token_hash(self, token_hash: str, *, for_update: bool = False) -> Heartbeat | None:
        """The heartbeat whose ping URL holds the secret of this hash, locked like `get` when asked."""
        ...

    async def list(self, team_id: int | None, page: Page) -> Paged[Heartbeat]:
        """By id; only `team_id`'s when given."""
        ...

    async def update(self, heartbeat: Heartbeat) -> None:
        """Saves and bumps `Heartbeat.version`; raises StaleState if the stored version is not the one
        read, NotFound when it does not exist, Conflict when its team does not."""
        ...

    async def delete(self, heartbeat_id: int) -> None:
        """Raises NotFound when it does not exist. The incidents it opened stay as they are."""
        ...

    async def claim_missed(self, now: datetime, limit: int) -> builtins.list[Heartbeat]:
        """Heartbeats `Heartbeat.missed` at `now` (due, no incident recorded since the last ping),
        earliest due first, at most `limit`, but for those of a team a maintenance window covers as a
        whole at `now` (`MaintenanceWindow.covers` with no integration): their miss waits for the
        window's end, and is claimed then if no ping came meanwhile. Claimed like
        `IncidentRepository.claim_due`: a concurrent claimer skips them until this unit of work ends."""
        ...


class AnalyticsQueries(Protocol):
    """Aggregates over incidents and what happened to them, computed where the rows are: the cost of a
    report grows with the incidents in its window, and they are never loaded one by one."""

    async def incident_report(self, since: datetime, until: datetime, team_id: int | None) -> IncidentReport:
        """The figures `incidentcore.analytics.incident_report` defines, over the incidents created in
        [since, until) (only `team_id`'s when given), equal to what it computes from the same rows."""
        ...


class UnitOfWork(Protocol):
    """One transaction. Transactional: nothing is durable until `commit()`; `async with` exits by
    rolling back whatever was not committed. After a commit the same unit of work may go on into a
    new transaction (the dispatcher commits its claim before sending, then records the result).

    A transaction begins on `async with` or on first use: reads made before the block (a request's
    authentication) are part of the transaction the block continues. Whoever holds a unit of work
    used outside a block ends it with `async with` or `rollback()`."""

    users: UserRepository
    teams: TeamRepository
    incidents: IncidentRepository
    comments: CommentRepository
    timeline: TimelineRepository
    escalation_events: EscalationEventRepository
    policies: PolicyRepository
    preferences: PreferenceRepository
    notifications: NotificationRepository
    integrations: IntegrationRepository
    reset_tokens: PasswordResetTokenRepository
    schedules: ScheduleRepository
    overrides: OverrideRepository
    calendar_feeds: CalendarFeedRepository
    maintenance_windows: MaintenanceWindowRepository
    suppressed_alerts: SuppressedAlertRepository
    heartbeats: HeartbeatRepository
    analytics: AnalyticsQueries

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None:
        """Makes everything written so far durable and visible to others; the unit of work may go on."""
        ...

    def reads_only(self) -> None:
        """A promise, made before the first statement, that this unit of work will only read (a GET).
        The adapter may then read without a transaction: each read sees what was committed when it
        ran, as in a READ COMMITTED transaction. A write, or `commit()`, is refused: a bug."""
        ...

    async def rollback(self) -> None:
        """Discards everything written since the last commit."""
        ...


class Clock(Protocol):
    """The only source of time for the core. Always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    """Slow, salted hashing, off the event loop."""

    async def hash(self, password: str) -> str:
        """A salted hash of `password`."""
        ...

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """With `password_hash` None, does the same work and answers False (no timing oracle)."""
        ...


@dataclass(frozen=True)
class AccessToken:
    """A signed bearer token, and how many seconds it lasts."""

    token: str
    expires_in: int  # seconds


@dataclass(frozen=True)
class TokenClaims:
    """What a valid access token says: whose it is, and the `User.credentials_version` it was issued under."""

    user_id: int
    credentials_version: int


class TokenService(Protocol):
    """Issues and checks access tokens."""

    def issue(self, user: User) -> AccessToken:
        """A new access token for `user`, carrying its credentials version."""
        ...

    def decode(self, token: str) -> TokenClaims:
        """Raises AuthenticationFailed for a bad signature, a wrong algorithm, or an expired token."""
        ...


class SecretGenerator(Protocol):
    """Unguessable secrets (integration keys, reset tokens): the core holds no random state."""

    def new_secret(self) -> str:
        """A new unguessable, URL-safe secret."""
        ...


class InvalidAddress(Exception):
    """An address a channel cannot send to; `reason` says why, for its owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChannelAddresses(Protocol):
    """What each channel takes for an address (an email address, a phone number, a URL): the formats
    belong to the adapters that deliver on those channels, not to the core."""

    def check(self, channel: Channel, address: str) -> str:
        """`address` (stripped, not empty) as it is to be stored, normalised; raises InvalidAddress
        when `channel` cannot send to it."""
        ...


class DestinationRefused(Exception):
    """An address the destination policy does not let pages reach; `reason` says why, for its owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationPolicy(Protocol):
    """Where pages may go (a guard against requests to internal services on a user's behalf)."""

    async def check(self, channel: Channel, address: str) -> None:
        """Raises DestinationRefused when pages on `channel` may not go to `address`. May resolve
        host names, so it is asked when an address is saved and again before each send: what a
        name points at can change."""
        ...


class DeliveryFailed(Exception):
    """A send did not go through. `permanent` failures are not retried (e.g. channel not configured)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to deliver on one channel: a page, or a password reset email."""

    channel: Channel
    address: str | None
    subject: str
    body: str


class Notifier(Protocol):
    """Delivers one message on one channel; raises DeliveryFailed when it does not go through."""

    async def send(self, message: OutgoingMessage) -> None:
        """Delivers `message`; raises DeliveryFailed when it does not go through."""
        ...


class LoginThrottle(Protocol):
    """Counts attempts (password checks, sign-ups, password recovery and reset requests) per key (an
    account, a client address, both, an email address) in a sliding window; the limit depends on the
    kind of key (its prefix).

    An attempt counts from the moment it begins, so parallel attempts cannot all slip in before the
    first of them fails."""

    def begin_attempt(self, keys: Sequence[str], now: datetime) -> int | None:
        """Seconds until any of `keys` may try again (nothing is recorded), or None: the attempt is
        then recorded on every key, pending, and counts toward the limit until it leaves the window."""
        ...

    async def slow_down(self, key: str, now: datetime) -> None:
        """Records an attempt on `key` like `begin_attempt`, but never refuses it: waits instead,
        without blocking the event loop, the longer the more attempts the key had in its window
        before this one (no wait for the first few, then growing, capped at a few seconds).

        For a key that strangers can fill and its owner must still pass (an account tried from many
        addresses). The count is taken and the attempt recorded before the first wait, so parallel
        attempts see each other. End it with `end_attempt` like any other."""
        ...

    def end_attempt(
        self, keys: Sequence[str], now: datetime, succeeded: bool, *, clear: Sequence[str] = ()
    ) -> None:
        """Ends the attempt `begin_attempt(keys, now)` (or `slow_down`) began. A failure stays
        counted. A success does not count: it leaves every key, and the keys in `clear` forget all
        they counted."""
        ...


class SchedulerNudge(Protocol):
    """Wakes the escalation worker early (an incident triggered or was escalated)."""

    def nudge(self) -> None:
        """Asks the worker to run soon; returns at once."""
        ...


class RetryPolicy(Protocol):
    """When to try a failed send again; None means give up. May add jitter.

    `max_attempts` bounds the attempts of one page, also those that never reported back (a worker
    died mid-send and the lease ran out)."""

    max_attempts: int

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after `attempts` attempts, or None to give up."""
        ...

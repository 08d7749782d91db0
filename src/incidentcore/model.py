"""Entities and value objects. Plain dataclasses with behaviour; persistence is mapped from outside."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from incidentcore.changes import UNSET, Unset, given
from incidentcore.errors import FieldError, InvalidTransition, ValidationFailed
from incidentcore.escalation import (
    Acknowledge,
    Effect,
    EffectKind,
    Escalate,
    EscalationState,
    EscalationStep,
    Event,
    Phase,
    PolicySnapshot,
    Resolve,
    Snooze,
    TargetType,
    Tick,
    Trigger,
    apply,
)
from incidentcore.validation import NAME_MAX, NOTE_MAX, check_snooze_minutes, check_text


class Role(StrEnum):
    """The seven roles, lowest first; `rank` orders them."""

    USER = "user"
    ONCALL_ENGINEER = "oncall_engineer"
    TEAM_LEAD = "team_lead"
    MANAGER = "manager"
    VP = "vp"
    CTO = "cto"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for USER up to 6 for ADMIN."""
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        """Whether this role is `other` or above."""
        return self.rank >= other.rank


class Severity(StrEnum):
    """Most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe."""
        return len(Severity) - 1 - list(Severity).index(self)

    @property
    def urgency(self) -> int:
        """0 for the most severe: the order in which pages are sent."""
        return list(Severity).index(self)

    def at_least(self, other: Severity) -> bool:
        """Whether this severity is `other` or more severe."""
        return self.rank >= other.rank


class IncidentStatus(StrEnum):
    """An incident's status as the API shows it: its escalation `Phase` seen from outside."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class TimelineKind(StrEnum):
    """What a `TimelineEvent` records."""

    CREATED = "created"
    UPDATED = "updated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SNOOZED = "snoozed"
    ASSIGNED = "assigned"
    COMMENTED = "commented"
    ESCALATED = "escalated"
    NOTIFIED = "notified"
    NOTIFICATION_FAILED = "notification_failed"
    NOTIFICATION_CANCELLED = "notification_cancelled"
    RETRIGGERED = "retriggered"
    ALERT = "alert"


class Channel(StrEnum):
    """A way to reach a person; the adapters deliver on each."""

    EMAIL = "email"
    SMS = "sms"
    SLACK = "slack"
    WEBHOOK = "webhook"
    APPRISE = "apprise"


class NotificationStatus(StrEnum):
    """Where a page is in the outbox: pending, sending, then sent; or retrying, failed, cancelled."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"  # delivery failed for good
    CANCELLED = "cancelled"  # withdrawn before it went out: the incident was in hand (see cancel_reason)


@dataclass
class Team:
    """A group of users; incidents, policies and integrations belong to teams."""

    name: str
    description: str | None = None
    created_at: datetime | None = None
    id: int = 0


@dataclass
class User:
    """Someone who can sign in: `role` says what they may do (see `can`), `team_id` in which team."""

    email: str
    full_name: str
    password_hash: str
    role: Role = Role.USER
    team_id: int | None = None
    is_active: bool = True
    created_at: datetime | None = None
    # Bumped on every change of password or email and on deactivation; access and reset tokens
    # carry it, so every older token dies.
    credentials_version: int = 0
    id: int = 0

    def change_password(self, password_hash: str) -> None:
        """Sets a new password hash; every token issued before dies."""
        self.password_hash = password_hash
        self.credentials_version += 1

    def change_email(self, email: str) -> None:
        """The address reset tokens go to: a change ends the tokens issued for the old one."""
        if email != self.email:
            self.email = email
            self.credentials_version += 1

    def set_active(self, active: bool) -> None:
        """Activates or deactivates the user; deactivating ends every token issued before."""
        if self.is_active and not active:
            self.credentials_version += 1
        self.is_active = active


@dataclass
class TimelineEvent:
    """One entry of an incident's history; `data` holds what its `kind` needs, as JSON-compatible values."""

    incident_id: int
    kind: TimelineKind
    created_at: datetime
    actor_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass
class Comment:
    """A note someone wrote on an incident."""

    incident_id: int
    author_id: int
    body: str
    created_at: datetime
    id: int = 0


@dataclass
class Outcome:
    """What an incident action caused: timeline events to record and escalation effects to carry out."""

    timeline: list[TimelineEvent] = field(default_factory=list)
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class IncidentChanges:
    """What may be edited on an incident; its status changes only through the actions."""

    title: str | Unset = UNSET
    description: str | Unset | None = UNSET
    severity: Severity | Unset = UNSET
    team_id: int | Unset | None = UNSET


_STATUS_OF_PHASE = {
    Phase.ACTIVE: IncidentStatus.TRIGGERED,
    Phase.EXHAUSTED: IncidentStatus.TRIGGERED,
    Phase.ACKNOWLEDGED: IncidentStatus.ACKNOWLEDGED,
    Phase.SNOOZED: IncidentStatus.ACKNOWLEDGED,
    Phase.RESOLVED: IncidentStatus.RESOLVED,
}


@dataclass
class Incident:
    """An incident and its escalation state; its status is the escalation phase seen from outside.

    `version` fences concurrent writers: a repository update of a stale copy is rejected.
    """

    title: str
    created_at: datetime
    severity: Severity = Severity.HIGH
    description: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    created_by_id: int | None = None
    source: str | None = None
    integration_id: int | None = None
    dedup_key: str | None = None
    heartbeat_id: int | None = None  # the heartbeat whose miss opened it: one open incident per heartbeat
    alert_count: int = 0  # alerts received for it (1 when an alert opened it; 0 when a person did)
    updated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    policy: PolicySnapshot = field(default_factory=PolicySnapshot.none)
    escalation: EscalationState | None = None
    version: int = 0
    id: int = 0

    @property
    def status(self) -> IncidentStatus:
        """Triggered, acknowledged or resolved: the escalation phase seen from outside."""
        if self.escalation is None:
            return IncidentStatus.TRIGGERED
        return _STATUS_OF_PHASE[self.escalation.phase]

    @property
    def is_open(self) -> bool:
        """Not resolved."""
        return self.status is not IncidentStatus.RESOLVED

    @property
    def escalation_policy_id(self) -> int | None:
        """The id of the policy the incident follows (its snapshot's), or None."""
        return self.policy.policy_id

    @property
    def escalation_level(self) -> int | None:
        """The index of the step last paged in the current cycle, or None."""
        return self.escalation.last_fired_step if self.escalation else None

    @property
    def next_escalation_at(self) -> datetime | None:
        """When the pending timer goes off (the next step, the ack timeout or the snooze end), or None."""
        return self.escalation.next_at if self.escalation else None

    @property
    def snoozed_until(self) -> datetime | None:
        """When the snooze ends, while the incident is snoozed; otherwise None."""
        state = self.escalation
        return state.next_at if state is not None and state.phase is Phase.SNOOZED else None

    def trigger(self, policy: PolicySnapshot, now: datetime, actor_id: int | None) -> Outcome:
        """Starts escalating on `policy` at `now`: the CREATED event, and step 0 fires. Once only."""
        if self.escalation is not None:  # refuse before touching the policy snapshot
            raise InvalidTransition("the incident has already triggered")
        self.policy = policy
        outcome = self._escalate_with(Trigger(), now, actor_id)
        data: dict[str, Any] = {"severity": self.severity.value, "policy_id": policy.policy_id}
        if policy.policy_id is None:
            data["escalation"] = "no escalation policy matched"
        outcome.timeline.insert(0, self._event(TimelineKind.CREATED, now, actor_id, data))
        return outcome

    def acknowledge(self, actor_id: int | None, now: datetime) -> Outcome:
        """Stops the paging; InvalidTransition unless the incident is triggered (timers due fire first)."""
        outcome = self._escalate_with(Acknowledge(), now, actor_id)
        self.acknowledged_at = now
        outcome.timeline.append(self._event(TimelineKind.ACKNOWLEDGED, now, actor_id))
        return outcome

    def resolve(self, actor_id: int | None, now: datetime, reason: str | None = None) -> Outcome:
        """Ends the incident and its escalation for good; InvalidTransition if it is resolved already."""
        outcome = self._escalate_with(Resolve(), now, actor_id)
        self.resolved_at = now
        data = {"reason": reason} if reason else {}
        outcome.timeline.append(self._event(TimelineKind.RESOLVED, now, actor_id, data))
        return outcome

    def snooze(self, actor_id: int | None, minutes: int, now: datetime) -> Outcome:
        """Holds an acknowledged incident for `minutes` (1 to a week), after which it re-triggers."""
        check_snooze_minutes(minutes)
        until = now + timedelta(minutes=minutes)
        outcome = self._escalate_with(Snooze(until), now, actor_id)
        data = {"minutes": minutes, "until": until.isoformat()}
        outcome.timeline.append(self._event(TimelineKind.SNOOZED, now, actor_id, data))
        return outcome

    def escalate(self, actor_id: int | None, now: datetime) -> Outcome:
        """Pages the next step now (see `Escalate`); Conflict when the incident follows no policy."""
        return self._escalate_with(Escalate(), now, actor_id)

    def tick(self, now: datetime) -> Outcome:
        """Fires whatever came due by `now`; when nothing did, changes nothing."""
        return self._escalate_with(Tick(), now, None)

    def assign(self, actor_id: int | None, assignee_id: int, now: datetime, role: str | None) -> Outcome:
        """Makes `assignee_id` the assignee, with an optional `role` label; not on a resolved incident."""
        if not self.is_open:
            raise InvalidTransition("cannot assign a resolved incident")
        previous, self.assignee_id = self.assignee_id, assignee_id
        self.updated_at = now
        data: dict[str, Any] = {"assignee_id": assignee_id, "previous_assignee_id": previous}
        if role:
            data["role"] = role
        return Outcome([self._event(TimelineKind.ASSIGNED, now, actor_id, data)])

    def update(self, actor_id: int | None, changes: IncidentChanges, now: datetime) -> Outcome:
        """Applies the edits given; records only real changes."""
        diff: dict[str, Any] = {}
        for name, value in given(changes).items():
            old = getattr(self, name)
            if old != value:
                diff[name] = {"from": _plain(old), "to": _plain(value)}
                setattr(self, name, value)
        if not diff:
            return Outcome()
        self.updated_at = now
        return Outcome([self._event(TimelineKind.UPDATED, now, actor_id, {"changes": diff})])

    def comment(self, author_id: int, body: str, now: datetime) -> tuple[Comment, Outcome]:
        """A new comment by `author_id`, and its timeline event (which keeps the first 200 characters)."""
        comment = Comment(incident_id=self.id, author_id=author_id, body=body, created_at=now)
        self.updated_at = now
        event = self._event(TimelineKind.COMMENTED, now, author_id, {"body": body[:200]})
        return comment, Outcome([event])

    def note_alert(self, now: datetime, data: dict[str, Any], *, timeline_max: int) -> Outcome:
        """One more alert for this incident: always counted, and recorded on the timeline while fewer
        than `timeline_max` alerts are there, so that an alert storm cannot grow the timeline without
        bound (the timeline holds the first `timeline_max` alerts; `alert_count` says how many came)."""
        self.alert_count += 1
        self.updated_at = now
        if self.alert_count > timeline_max:
            return Outcome()
        return Outcome([self._event(TimelineKind.ALERT, now, None, data)])

    def _escalate_with(self, event: Event, now: datetime, actor_id: int | None) -> Outcome:
        self.escalation, effects = apply(self.policy, self.escalation, event, now)
        if effects or not isinstance(event, Tick):  # a tick that finds nothing due changes nothing
            self.updated_at = now
        outcome = Outcome(effects=effects)
        for effect in effects:
            if effect.kind is EffectKind.RETRIGGERED:
                self.acknowledged_at = None
                data = {"reason": effect.reason, "cycle": effect.cycle}
                outcome.timeline.append(
                    self._event(TimelineKind.RETRIGGERED, effect.scheduled_at, actor_id, data)
                )
        return outcome

    def _event(
        self, kind: TimelineKind, at: datetime, actor_id: int | None, data: dict[str, Any] | None = None
    ) -> TimelineEvent:
        return TimelineEvent(self.id, kind, at, actor_id, dict(data or {}))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


@dataclass
class EscalationPolicy:
    """Ordered steps; chosen for an incident by team and severity (see `choose_policy`)."""

    name: str
    steps: tuple[EscalationStep, ...]
    description: str | None = None
    team_id: int | None = None
    severities: frozenset[Severity] = frozenset()
    repeat: int = 0
    ack_timeout_minutes: int | None = None
    is_active: bool = True
    created_at: datetime | None = None
    id: int = 0

    MAX_REPEAT = 9
    MAX_STEPS = 20
    MAX_DELAY_MINUTES = 7 * 24 * 60
    # A loop that takes no time pages every step of every loop at one instant (up to 200 pages):
    # like PagerDuty, a policy loops only if its delays add up to something.
    MIN_LOOP_MINUTES = 1

    def validate(self) -> None:
        """Raises ValidationFailed naming every bad field (a step's as `steps[0].delay_minutes`)."""
        errors: list[FieldError] = []
        for name, value, maximum, multiline in (
            ("name", self.name, NAME_MAX, False),
            ("description", self.description, NOTE_MAX, True),
        ):
            try:
                check_text(name, value, maximum, required=name == "name", multiline=multiline)
            except ValidationFailed as invalid:
                errors += invalid.errors
        if not self.steps:
            errors.append(FieldError("steps", "a policy needs at least one step"))
        if len(self.steps) > self.MAX_STEPS:
            errors.append(FieldError("steps", f"at most {self.MAX_STEPS} steps"))
        if not 0 <= self.repeat <= self.MAX_REPEAT:
            errors.append(FieldError("repeat", f"must be between 0 and {self.MAX_REPEAT}"))
        loop_minutes = sum(step.delay_minutes for step in self.steps)
        if self.repeat > 0 and self.steps and loop_minutes < self.MIN_LOOP_MINUTES:
            errors.append(
                FieldError(
                    "repeat",
                    f"a policy that repeats needs its steps' delay_minutes to add up to at least "
                    f"{self.MIN_LOOP_MINUTES} (they add up to {loop_minutes}): each loop would page "
                    "at the same instant",
                )
            )
        if (
            self.ack_timeout_minutes is not None
            and not 1 <= self.ack_timeout_minutes <= self.MAX_DELAY_MINUTES
        ):
            errors.append(
                FieldError("ack_timeout_minutes", f"must be between 1 and {self.MAX_DELAY_MINUTES}")
            )
        for i, step in enumerate(self.steps):
            if not 0 <= step.delay_minutes <= self.MAX_DELAY_MINUTES:
                errors.append(
                    FieldError(f"steps[{i}].delay_minutes", f"must be between 0 and {self.MAX_DELAY_MINUTES}")
                )
            if not step.targets:
                errors.append(FieldError(f"steps[{i}].targets", "a step needs at least one target"))
            for j, target in enumerate(step.targets):
                where = f"steps[{i}].targets[{j}]"
                if target.type is TargetType.USER and target.user_id is None:
                    errors.append(FieldError(f"{where}.id", "a user target needs the user's id"))
                if target.type is TargetType.TEAM and target.team_id is None:
                    errors.append(FieldError(f"{where}.id", "a team target needs the team's id"))
                if target.type is TargetType.ROLE and target.role not in {r.value for r in Role}:
                    errors.append(FieldError(f"{where}.role", "a role target needs one of the seven roles"))
                if target.type is TargetType.SCHEDULE and target.schedule_id is None:
                    errors.append(FieldError(f"{where}.id", "a schedule target needs the schedule's id"))
        if errors:
            raise ValidationFailed(errors)

    def matches(self, team_id: int | None, severity: Severity) -> bool:
        """Whether the policy is for an incident of `team_id` and `severity`: it is active, global or the
        team's own, and lists the severity (or lists none)."""
        if not self.is_active:
            return False
        if self.team_id is not None and self.team_id != team_id:
            return False
        return not self.severities or severity in self.severities

    def pages_team(self, team_id: int) -> bool:
        """Whether a step targets the team (its members, or a role in it)."""
        return any(t.team_id == team_id for step in self.steps for t in step.targets)

    def pages_user(self, user_id: int) -> bool:
        """Whether a step targets the user by id."""
        return any(
            t.type is TargetType.USER and t.user_id == user_id for step in self.steps for t in step.targets
        )

    def pages_schedule(self, schedule_id: int) -> bool:
        """Whether a step pages whoever is on call on the schedule."""
        return any(
            t.type is TargetType.SCHEDULE and t.schedule_id == schedule_id
            for step in self.steps
            for t in step.targets
        )

    def snapshot(self) -> PolicySnapshot:
        """The policy as an incident that triggers on it keeps it."""
        return PolicySnapshot(self.id, self.steps, self.repeat, self.ack_timeout_minutes)


def choose_policy(
    policies: list[EscalationPolicy], team_id: int | None, severity: Severity
) -> EscalationPolicy | None:
    """A team's own policy wins over a global one; among equals the lowest id."""
    matching = [p for p in policies if p.matches(team_id, severity)]
    if not matching:
        return None
    return min(matching, key=lambda p: (p.team_id is None, p.id))


@dataclass
class NotificationPreference:
    """How a user wants to be paged on one channel: at `address`, for incidents of `min_severity` or more
    severe (any severity when None), unless disabled."""

    user_id: int
    channel: Channel
    enabled: bool = True
    address: str | None = None
    min_severity: Severity | None = None

    def accepts(self, severity: Severity) -> bool:
        """Whether a page about an incident of `severity` goes out on this channel."""
        return self.enabled and (self.min_severity is None or severity.at_least(self.min_severity))


@dataclass
class Notification:
    """One page to one user on one channel: a row of the transactional outbox.

    `idempotency_key` is unique: re-running the step that produced it never creates a second row.
    `version` fences the dispatcher: a result recorded against a stale claim is rejected.
    `urgency` orders the queue, 0 first: the paging incident's severity (`Severity.urgency`); a
    message that is not a page (a password reset email: someone is waiting for it) keeps 0.
    """

    user_id: int | None
    channel: Channel
    address: str | None
    subject: str
    body: str
    idempotency_key: str
    created_at: datetime
    incident_id: int | None = None
    status: NotificationStatus = NotificationStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    cancel_reason: str | None = None
    # When a worker may take the row: the next try (pending, retrying) or, while it is being sent,
    # the end of the sender's lease, after which the sender is presumed dead and the page re-sent.
    next_attempt_at: datetime | None = None
    version: int = 0
    urgency: int = 0
    id: int = 0

    def __post_init__(self) -> None:
        if self.next_attempt_at is None and self.status is NotificationStatus.PENDING:
            self.next_attempt_at = self.created_at

    @property
    def destination(self) -> str | None:
        """The host an address that is a URL names (lower case), which the dispatcher limits sends to,
        so that one hanging endpoint cannot hold every sender; None for an email address or a phone
        number (those go through the operator's SMTP server and Twilio)."""
        if not self.address or "://" not in self.address:
            return None
        try:
            host = urlsplit(self.address.strip()).hostname
        except ValueError:  # not a URL: the send fails on its own, unlimited
            return None
        return host or None

    def claim(self, now: datetime, lease: timedelta) -> None:
        """Marks the page sending for one more attempt; the claim lasts `lease`, then it may be re-sent."""
        self.status = NotificationStatus.SENDING
        self.attempts += 1
        self.next_attempt_at = now + lease

    def mark_sent(self, now: datetime) -> None:
        """Records that the page went through."""
        self.status = NotificationStatus.SENT
        self.sent_at = now
        self.last_error = None
        self.next_attempt_at = None

    def mark_failed(self, error: str, now: datetime, retry_at: datetime | None) -> None:
        """`retry_at` None means give up."""
        self.last_error = error[:1000]
        self.status = NotificationStatus.RETRYING if retry_at else NotificationStatus.FAILED
        self.next_attempt_at = retry_at

    def release(self, now: datetime) -> None:
        """Gives a claim back unfinished (its sender is shutting down): due again at once, for the
        next worker, instead of when the lease would have run out. The attempt stays counted."""
        self.status = NotificationStatus.PENDING
        self.next_attempt_at = now

    def cancel(self, reason: str) -> None:
        """Withdraw a page that has not gone out; `last_error` keeps any earlier failed attempt's error."""
        self.status = NotificationStatus.CANCELLED
        self.cancel_reason = reason[:1000]
        self.next_attempt_at = None


@dataclass
class Integration:
    """An alert source bound to a team; `key` is the secret the webhook caller presents."""

    name: str
    team_id: int
    key: str
    created_at: datetime | None = None
    id: int = 0


@dataclass
class EscalationEvent:
    """One escalation effect as recorded, append-only.

    A fire's `notified_user_ids` are the users it queued pages for. `cancelled_user_ids` are users
    whose pages this record withdrew, with `cancel_reason`: on a fire, the targets it reached whose
    pages were cancelled in the same transaction, before they could be queued (the action that caught
    the fire up acknowledged, snoozed or resolved the incident); on an acknowledged, snoozed or stopped
    event, the users whose pages, queued by earlier fires, were still waiting and are now withdrawn.
    """

    incident_id: int
    policy_id: int | None
    kind: EffectKind
    cycle: int
    scheduled_at: datetime
    created_at: datetime
    step_index: int | None = None
    loop: int | None = None
    notified_user_ids: list[int] = field(default_factory=list)
    cancelled_user_ids: list[int] = field(default_factory=list)
    cancel_reason: str | None = None
    id: int = 0


@dataclass
class PasswordResetToken:
    """A password reset token, stored as its hash; usable once, before `expires_at`."""

    user_id: int
    token_hash: str
    expires_at: datetime
    # The user's credentials_version when the token was issued: any later credential change ends it.
    credentials_version: int = 0
    used_at: datetime | None = None
    id: int = 0

    def usable(self, now: datetime) -> bool:
        """Not used yet, and `now` is before its expiry."""
        return self.used_at is None and now < self.expires_at

    def valid_for(self, user: User) -> bool:
        """Issued to this user, who is active and has changed no credential since."""
        return (
            user.id == self.user_id and user.is_active and user.credentials_version == self.credentials_version
        )

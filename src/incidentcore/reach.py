"""Whom a fired step reaches: its targets resolved to users at the fire's scheduled time, the channels
each of them is paged on, and who is left out and why.

`resolve` is the one answer to that question. The worker pages what it says (`incidentcore.services`
loads what it reads in a few batched queries) and the preview (`incidentcore.preview`) shows it
ahead of time, so the two cannot disagree.

Rules: a user target names that user; a team target every active member of the team; a role target
the active holders of the role in its team (the incident's team when the target names none); a
schedule target whoever is on call on the schedule at the instant asked about (`oncall`). An active
user who is named is paged on each enabled channel that has an address (email falls back to the
account's address; a user without preferences gets email) and accepts the incident's severity; a
named user who is deactivated is never paged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, NotificationPreference, Role, Severity, User
from incidentcore.schedules import Override, Schedule, oncall


class UnreachableReason(StrEnum):
    """Why a user a step names gets no page."""

    INACTIVE = "inactive"  # the account is deactivated
    NO_ENABLED_CHANNEL = "no_enabled_channel"  # every channel is disabled (or has no address)
    BELOW_MINIMUM_SEVERITY = "below_minimum_severity"  # enabled channels all want a more severe incident


class EmptyTargetReason(StrEnum):
    """Why a target of a step resolves to no active user."""

    UNKNOWN_USER = "unknown_user"  # the user is not among the users resolution was given (deleted)
    NO_ACTIVE_MEMBERS = "no_active_members"  # the team has no active member
    ROLE_UNHELD = "role_unheld"  # no active user holds the role in the team
    NO_TEAM_FOR_ROLE = "no_team_for_role"  # the target names no team and the incident has none
    NOBODY_ON_CALL = "nobody_on_call"  # nobody active is on call on the schedule (or it is gone)


@dataclass(frozen=True)
class Audience:
    """Whom a step pages, before anyone is looked up: its targets, each role bound to a team, the roles
    left with no team to be held in, and the schedules whose on-call user it pages."""

    user_ids: frozenset[int]
    team_ids: frozenset[int]
    roles: frozenset[tuple[Role, int]]
    schedule_ids: frozenset[int] = frozenset()
    unbound_roles: frozenset[Role] = frozenset()

    @classmethod
    def of_step(cls, step: EscalationStep, team_id: int | None) -> Audience:
        """The audience of `step` for an incident of `team_id` (role targets naming no team use it)."""
        targets = step.targets
        roles = {
            (Role(t.role), t.team_id if t.team_id is not None else team_id)
            for t in targets
            if t.type is TargetType.ROLE and t.role is not None
        }
        return cls(
            frozenset(t.user_id for t in targets if t.type is TargetType.USER and t.user_id is not None),
            frozenset(t.team_id for t in targets if t.type is TargetType.TEAM and t.team_id is not None),
            frozenset((role, team) for role, team in roles if team is not None),
            frozenset(
                t.schedule_id for t in targets if t.type is TargetType.SCHEDULE and t.schedule_id is not None
            ),
            frozenset(role for role, team in roles if team is None),
        )

    def includes(self, user: User) -> bool:
        """Whether `user` is named by id, by team or by a role in a team (on-call users are named by
        id once known: see `Directory.on_call`)."""
        return (
            user.id in self.user_ids
            or user.team_id in self.team_ids
            or any(user.role is role and team_id == user.team_id for role, team_id in self.roles)
        )


@dataclass(frozen=True)
class Directory:
    """What resolution reads, loaded by the caller: users by id (the worker loads only active ones;
    the preview adds the deactivated users a step names), their preferences, and the schedules with
    their overrides (those that end after the earliest instant asked about)."""

    users: Mapping[int, User] = field(default_factory=dict)
    preferences: Mapping[int, Sequence[NotificationPreference]] = field(default_factory=dict)
    schedules: Mapping[int, Schedule] = field(default_factory=dict)
    overrides: Mapping[int, Sequence[Override]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        users: Iterable[User] = (),
        preferences: Iterable[NotificationPreference] = (),
        schedules: Iterable[Schedule] = (),
        overrides: Iterable[Override] = (),
    ) -> Directory:
        """A directory of these users, preferences, schedules and overrides (grouped here)."""
        by_user: dict[int, list[NotificationPreference]] = {}
        for preference in preferences:
            by_user.setdefault(preference.user_id, []).append(preference)
        by_schedule: dict[int, list[Override]] = {}
        for override in overrides:
            by_schedule.setdefault(override.schedule_id, []).append(override)
        return cls({u.id: u for u in users}, by_user, {s.id: s for s in schedules}, by_schedule)

    def with_users(self, users: Iterable[User], preferences: Iterable[NotificationPreference]) -> Directory:
        """This directory's schedules with these users and preferences (loaded once the schedules
        said who is on call)."""
        loaded = Directory.of(users, preferences)
        return replace(self, users=loaded.users, preferences=loaded.preferences)

    def on_call(self, schedule_id: int, at: datetime) -> list[int]:
        """Who is on call on the schedule at `at`; nobody on a schedule the directory lacks."""
        schedule = self.schedules.get(schedule_id)
        if schedule is None:
            return []
        return oncall(schedule, self.overrides.get(schedule_id, ()), at).user_ids


@dataclass(frozen=True)
class Recipient:
    """A user a step pages, and on which channels, at which addresses."""

    user: User
    channels: tuple[tuple[Channel, str], ...]


@dataclass(frozen=True)
class Unreachable:
    """A user a step names who gets no page, and why."""

    user_id: int
    reason: UnreachableReason


@dataclass(frozen=True)
class EmptyTarget:
    """A target of a step that reached no active user, and why (a role target carries the team it
    was judged in)."""

    target: Target
    reason: EmptyTargetReason


@dataclass(frozen=True)
class Resolution:
    """What one fire of a step does: whom it pages (by user id), who is named but left out, and
    which targets named nobody."""

    paged: tuple[Recipient, ...] = ()
    unreachable: tuple[Unreachable, ...] = ()
    empty_targets: tuple[EmptyTarget, ...] = ()

    @property
    def unstaffed_schedule_ids(self) -> list[int]:
        """The schedules the step targets with nobody active on call."""
        return [
            t.target.schedule_id
            for t in self.empty_targets
            if t.reason is EmptyTargetReason.NOBODY_ON_CALL and t.target.schedule_id is not None
        ]


def choose_channels(
    user: User, preferences: Sequence[NotificationPreference], severity: Severity
) -> list[tuple[Channel, str]]:
    """The channels `user` is paged on for an incident of `severity`, with their addresses: enabled ones
    that accept the severity and have an address (email falls back to the account's); a user with no
    preferences gets email."""
    if not preferences:
        return [(Channel.EMAIL, user.email)]
    chosen = []
    for preference in sorted(preferences, key=lambda p: p.channel.value):
        address = _address(user, preference)
        if address is not None and preference.accepts(severity):
            chosen.append((preference.channel, address))
    return chosen


def resolve(audience: Audience, directory: Directory, at: datetime, severity: Severity) -> Resolution:
    """Whom a step with `audience` pages at `at` (its scheduled time, which is when schedules are
    asked who is on call) for an incident of `severity`, in user id order."""
    on_call = {
        schedule_id: directory.on_call(schedule_id, at) for schedule_id in sorted(audience.schedule_ids)
    }
    named = replace(audience, user_ids=audience.user_ids.union(*on_call.values()))
    users = sorted(directory.users.values(), key=lambda u: u.id)
    active = [u for u in users if u.is_active]
    paged: list[Recipient] = []
    unreachable: list[Unreachable] = []
    for user in users:
        if not user.is_active:
            if user.id in named.user_ids:
                unreachable.append(Unreachable(user.id, UnreachableReason.INACTIVE))
            continue
        if not named.includes(user):
            continue
        preferences = directory.preferences.get(user.id, ())
        channels = choose_channels(user, preferences, severity)
        if channels:
            paged.append(Recipient(user, tuple(channels)))
        else:
            usable = any(p.enabled and _address(user, p) is not None for p in preferences)
            why = UnreachableReason.BELOW_MINIMUM_SEVERITY if usable else UnreachableReason.NO_ENABLED_CHANNEL
            unreachable.append(Unreachable(user.id, why))
    active_ids = {u.id for u in active}
    empty = [
        EmptyTarget(Target(TargetType.USER, user_id=user_id), EmptyTargetReason.UNKNOWN_USER)
        for user_id in sorted(audience.user_ids - directory.users.keys())
    ]
    empty += [
        EmptyTarget(Target(TargetType.TEAM, team_id=team_id), EmptyTargetReason.NO_ACTIVE_MEMBERS)
        for team_id in sorted(audience.team_ids)
        if not any(u.team_id == team_id for u in active)
    ]
    empty += [
        EmptyTarget(Target(TargetType.ROLE, team_id=team_id, role=role.value), EmptyTargetReason.ROLE_UNHELD)
        for role, team_id in sorted(audience.roles, key=lambda r: (r[0].rank, r[1]))
        if not any(u.role is role and u.team_id == team_id for u in active)
    ]
    empty += [
        EmptyTarget(Target(TargetType.ROLE, role=role.value), EmptyTargetReason.NO_TEAM_FOR_ROLE)
        for role in sorted(audience.unbound_roles, key=lambda r: r.rank)
    ]
    empty += [
        EmptyTarget(Target(TargetType.SCHEDULE, schedule_id=schedule_id), EmptyTargetReason.NOBODY_ON_CALL)
        for schedule_id, user_ids in on_call.items()
        if not active_ids.intersection(user_ids)
    ]
    return Resolution(tuple(paged), tuple(unreachable), tuple(empty))


def _address(user: User, preference: NotificationPreference) -> str | None:
    return preference.address or (user.email if preference.channel is Channel.EMAIL else None)

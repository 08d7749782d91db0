"""Incident use cases: one unit of work each, committed explicitly.

Each action is one straight line: load the incident locked, check the actor may act on it, apply the
entity's method, save the incident, record what its outcome caused (`record_outcome`), commit.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from incidentcore.changes import UNSET
from incidentcore.errors import DomainError, FieldError, NotFound, RateLimited, ValidationFailed
from incidentcore.escalation import EffectKind, PolicySnapshot
from incidentcore.model import (
    Comment,
    EscalationEvent,
    Incident,
    IncidentChanges,
    Notification,
    Outcome,
    Severity,
    Team,
    TimelineEvent,
    TimelineKind,
    User,
    choose_policy,
)
from incidentcore.permissions import PERMISSIONS, Action, Rule, can, require, require_move
from incidentcore.ports import Clock, IncidentFilter, Page, Paged, SchedulerNudge, UnitOfWork
from incidentcore.services.paging import PagingConfig, record_outcome
from incidentcore.validation import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    SHORT_NAME_MAX,
    SNOOZE_MIN_MINUTES,
    TITLE_MAX,
    check_text,
)

T = TypeVar("T")


@dataclass(frozen=True)
class NewIncident:
    """An incident to open (`Incidents.open`); the policy is chosen by its team and severity."""

    title: str
    description: str | None = None
    severity: Severity = Severity.HIGH
    team_id: int | None = None
    assignee_id: int | None = None
    source: str | None = None
    integration_id: int | None = None
    dedup_key: str | None = None
    heartbeat_id: int | None = None


@dataclass(frozen=True)
class IncidentOverview:
    """What a responder reads about one incident (`Incidents.overview`): the incident, what the reader may
    do to it now, the latest of its records (each oldest first, as the list endpoints give them), its
    team, and the names of the people those records mention."""

    incident: Incident
    actions: frozenset[Action]
    timeline: Paged[TimelineEvent]
    escalation_events: Paged[EscalationEvent]
    notifications: Paged[Notification]
    comments: Paged[Comment]
    team: Team | None
    names: dict[int, str]


RESPONDER_ACTIONS = (
    Action.INCIDENT_ACKNOWLEDGE,
    Action.INCIDENT_RESOLVE,
    Action.INCIDENT_SNOOZE,
    Action.INCIDENT_ESCALATE,
    Action.INCIDENT_ASSIGN,
    Action.INCIDENT_COMMENT,
)
"""The actions `IncidentOverview.actions` answers for."""

# Each action's entity method, tried on a copy: whether the incident's state allows it now is the
# entity's to say, not a second copy of its rules.
_TRIALS: dict[Action, Callable[[Incident, int, datetime], object]] = {
    Action.INCIDENT_ACKNOWLEDGE: lambda incident, actor_id, now: incident.acknowledge(actor_id, now),
    Action.INCIDENT_RESOLVE: lambda incident, actor_id, now: incident.resolve(actor_id, now),
    Action.INCIDENT_SNOOZE: lambda incident, actor_id, now: incident.snooze(actor_id, SNOOZE_MIN_MINUTES, now),
    Action.INCIDENT_ESCALATE: lambda incident, actor_id, now: incident.escalate(actor_id, now),
    Action.INCIDENT_ASSIGN: lambda incident, actor_id, now: incident.assign(actor_id, actor_id, now, None),
}


def _state_allows(incident: Incident, action: Action, actor_id: int, now: datetime) -> bool:
    trial = _TRIALS.get(action)
    if trial is None:
        return True
    try:
        trial(copy.deepcopy(incident), actor_id, now)
    except DomainError:
        return False
    return True


async def _latest(
    list_for: Callable[[int, Page], Awaitable[Paged[T]]], incident_id: int, limit: int
) -> Paged[T]:
    """The last `limit` records of an incident, oldest first (a second query only when there are more)."""
    first = await list_for(incident_id, Page(limit, 0))
    if first.total <= limit:
        return first
    return await list_for(incident_id, Page(limit, first.total - limit))


async def open_incident(
    uow: UnitOfWork,
    paging: PagingConfig,
    new: NewIncident,
    now: datetime,
    actor: User | None,
    alert: dict[str, Any] | None = None,
) -> Incident:
    """Creates and triggers an incident inside the caller's unit of work (a user's `Incidents.open`,
    or alert ingestion, whose `alert` goes on the timeline with it): one INSERT of the triggered
    incident, then its outcome, step 0's pages included."""
    check_text("title", new.title, TITLE_MAX, required=True)
    check_text("description", new.description, DESCRIPTION_MAX, required=False, multiline=True)
    team = await check_references(uow, team_id=new.team_id, assignee_id=new.assignee_id)
    actor_id = actor.id if actor else None
    policy = choose_policy(await uow.policies.list_active(), new.team_id, new.severity)
    incident = Incident(
        title=new.title.strip(),
        description=new.description,
        severity=new.severity,
        team_id=new.team_id,
        assignee_id=new.assignee_id,
        created_by_id=actor_id,
        source=new.source,
        integration_id=new.integration_id,
        dedup_key=new.dedup_key,
        heartbeat_id=new.heartbeat_id,
        created_at=now,
        updated_at=now,
    )
    outcome = incident.trigger(policy.snapshot() if policy else PolicySnapshot.none(), now, actor_id)
    if alert is not None:  # the alert that opens an incident is always on its timeline
        outcome.timeline += incident.note_alert(now, alert, timeline_max=1).timeline
    await uow.incidents.add(incident)
    await record_outcome(uow, paging, incident, outcome, now, actor_id, team)
    return incident


async def check_references(
    uow: UnitOfWork,
    *,
    team_id: int | None = None,
    assignee_id: int | None = None,
    assignee_field: str = "assignee_id",
) -> Team | None:
    """Refuses references to a team or an active user that do not exist; returns the team, if any."""
    team = await uow.teams.get(team_id) if team_id is not None else None
    if team_id is not None and team is None:
        raise ValidationFailed(FieldError("team_id", f"team {team_id} does not exist"))
    if assignee_id is not None:
        assignee = await uow.users.get(assignee_id)
        if assignee is None or not assignee.is_active:
            raise ValidationFailed(FieldError(assignee_field, f"no active user {assignee_id}"))
    return team


class Incidents:
    """Opening incidents and everything done to one: the actions, comments, and reading its records."""

    def __init__(self, uow: UnitOfWork, clock: Clock, nudge: SchedulerNudge, paging: PagingConfig) -> None:
        self.uow = uow
        self.clock = clock
        self.nudge = nudge
        self.paging = paging

    async def open(self, actor: User | None, new: NewIncident) -> Incident:
        """Creates and triggers an incident; step 0 of its policy pages in the same transaction.
        `actor` None: the system opens it (no person's limits apply)."""
        if actor is not None:
            require(actor, Action.INCIDENT_CREATE)
        async with self.uow:
            if actor is not None:
                await self._check_manual_pages(actor, None)
            incident = await open_incident(self.uow, self.paging, new, self.clock.now(), actor)
            await self.uow.commit()
        self.nudge.nudge()
        return incident

    async def get(self, actor: User, incident_id: int) -> Incident:
        require(actor, Action.INCIDENT_READ)
        async with self.uow:
            return await self._load(incident_id)

    async def list(self, actor: User, where: IncidentFilter, page: Page) -> Paged[Incident]:
        require(actor, Action.INCIDENT_READ)
        async with self.uow:
            return await self.uow.incidents.list(where, page)

    async def update(self, actor: User, incident_id: int, changes: IncidentChanges) -> Incident:
        if changes.title is not UNSET:
            check_text("title", changes.title, TITLE_MAX, required=True)
        if changes.description is not UNSET:
            check_text("description", changes.description, DESCRIPTION_MAX, required=False, multiline=True)
        async with self.uow:
            incident = await self._load_for(actor, Action.INCIDENT_UPDATE, incident_id)
            if changes.team_id is not UNSET and changes.team_id != incident.team_id:
                await check_references(self.uow, team_id=changes.team_id)
                require_move(actor, incident, changes.team_id)
            now = self.clock.now()
            await self._save(incident, incident.update(actor.id, changes, now), now, actor)
            await self.uow.commit()
        return incident

    async def acknowledge(self, actor: User, incident_id: int) -> Incident:
        async with self.uow:
            incident = await self._load_for(actor, Action.INCIDENT_ACKNOWLEDGE, incident_id)
            now = self.clock.now()
            await self._save(incident, incident.acknowledge(actor.id, now), now, actor)
            await self.uow.commit()
        return incident

    async def resolve(self, actor: User, incident_id: int) -> Incident:
        async with self.uow:
            incident = await self._load_for(actor, Action.INCIDENT_RESOLVE, incident_id)
            now = self.clock.now()
            await self._save(incident, incident.resolve(actor.id, now), now, actor)
            await self.uow.commit()
        return incident

    async def snooze(self, actor: User, incident_id: int, minutes: int) -> Incident:
        """Holds an acknowledged incident for `minutes` (the entity checks the range)."""
        async with self.uow:
            incident = await self._load_for(actor, Action.INCIDENT_SNOOZE, incident_id)
            now = self.clock.now()
            await self._save(incident, incident.snooze(actor.id, minutes, now), now, actor)
            await self.uow.commit()
        return incident

    async def escalate(self, actor: User, incident_id: int) -> Incident:
        async with self.uow:
            incident = await self._load_for(actor, Action.INCIDENT_ESCALATE, incident_id)
            await self._check_manual_pages(actor, incident_id)
            now = self.clock.now()
            await self._save(incident, incident.escalate(actor.id, now), now, actor)
            await self.uow.commit()
        self.nudge.nudge()
        return incident

    async def assign(self, actor: User, incident_id: int, assignee_id: int, role: str | None) -> Incident:
        if role is not None:
            check_text("role", role, SHORT_NAME_MAX, required=True)
        async with self.uow:
            incident = await self._load_for(actor, Action.INCIDENT_ASSIGN, incident_id)
            await check_references(self.uow, assignee_id=assignee_id, assignee_field="user_id")
            now = self.clock.now()
            await self._save(incident, incident.assign(actor.id, assignee_id, now, role), now, actor)
            await self.uow.commit()
        return incident

    async def comment(self, actor: User, incident_id: int, body: str) -> Comment:
        require(actor, Action.INCIDENT_COMMENT)
        check_text("body", body, COMMENT_MAX, required=True, multiline=True)
        async with self.uow:
            incident = await self._load(incident_id, for_update=True)
            now = self.clock.now()
            comment, outcome = incident.comment(actor.id, body, now)
            comment = await self.uow.comments.add(comment)
            outcome.timeline[0].data["comment_id"] = comment.id
            await self._save(incident, outcome, now, actor)
            await self.uow.commit()
        return comment

    async def comments(self, actor: User, incident_id: int, page: Page) -> Paged[Comment]:
        require(actor, Action.INCIDENT_READ)
        async with self.uow:
            await self._load(incident_id)
            return await self.uow.comments.list_for_incident(incident_id, page)

    async def timeline(self, actor: User, incident_id: int, page: Page) -> Paged[TimelineEvent]:
        require(actor, Action.INCIDENT_READ)
        async with self.uow:
            incident = await self._load(incident_id)
            events = await self.uow.timeline.list_for_incident(incident_id, page)
        if can(actor, Action.INCIDENT_READ_DELIVERY_ERRORS, incident):
            return events
        return replace(events, items=[_without_delivery_error(event) for event in events.items])

    async def escalation_events(self, actor: User, incident_id: int, page: Page) -> Paged[EscalationEvent]:
        require(actor, Action.INCIDENT_READ)
        async with self.uow:
            await self._load(incident_id)
            return await self.uow.escalation_events.list_for_incident(incident_id, page)

    async def notifications(self, actor: User, incident_id: int, page: Page) -> Paged[Notification]:
        """Each page's `Notification.last_error` only for those who may read delivery errors; others see
        the status."""
        require(actor, Action.INCIDENT_READ)
        async with self.uow:
            incident = await self._load(incident_id)
            pages = await self.uow.notifications.list_for_incident(incident_id, page)
        if can(actor, Action.INCIDENT_READ_DELIVERY_ERRORS, incident):
            return pages
        return replace(pages, items=[replace(n, last_error=None) for n in pages.items])

    async def overview(self, actor: User, incident_id: int, limit: int = 100) -> IncidentOverview:
        """The incident, what `actor` may do to it now (the permission table, and what its state
        allows), and the last `limit` of each of its records, delivery errors only for those who may
        read them: one transaction."""
        require(actor, Action.INCIDENT_READ)
        limit = max(1, min(limit, Page.MAX_LIMIT))
        async with self.uow:
            incident = await self._load(incident_id)
            actions = await self._permitted(actor, incident)
            timeline = await _latest(self.uow.timeline.list_for_incident, incident_id, limit)
            escalation_events = await _latest(self.uow.escalation_events.list_for_incident, incident_id, limit)
            notifications = await _latest(self.uow.notifications.list_for_incident, incident_id, limit)
            comments = await _latest(self.uow.comments.list_for_incident, incident_id, limit)
            team = await self.uow.teams.get(incident.team_id) if incident.team_id is not None else None
            mentioned = {incident.assignee_id, incident.created_by_id}
            for event in timeline.items:
                mentioned |= {event.actor_id, *_people_in(event)}
            mentioned |= {page.user_id for page in notifications.items}
            mentioned |= {comment.author_id for comment in comments.items}
            for fire in escalation_events.items:
                mentioned |= set(fire.notified_user_ids) | set(fire.cancelled_user_ids)
            people = await self.uow.users.get_many(sorted(i for i in mentioned if i is not None))
        if not can(actor, Action.INCIDENT_READ_DELIVERY_ERRORS, incident):
            timeline = replace(timeline, items=[_without_delivery_error(event) for event in timeline.items])
            notifications = replace(notifications, items=[replace(n, last_error=None) for n in notifications.items])
        return IncidentOverview(
            incident,
            actions,
            timeline,
            escalation_events,
            notifications,
            comments,
            team,
            {person.id: person.full_name for person in people},
        )

    async def _permitted(self, actor: User, incident: Incident) -> frozenset[Action]:
        now = self.clock.now()
        was_paged: bool | None = None  # asked once, and only when a rule needs it
        permitted: set[Action] = set()
        for action in RESPONDER_ACTIONS:
            if not _state_allows(incident, action, actor.id, now):
                continue
            if not can(actor, action, incident):
                if PERMISSIONS[action] is not Rule.INCIDENT_RESPONDERS:
                    continue
                if was_paged is None:
                    was_paged = await self.uow.notifications.was_paged(incident.id, actor.id)
                if not can(actor, action, incident, was_paged=was_paged):
                    continue
            permitted.add(action)
        return frozenset(permitted)

    async def _save(self, incident: Incident, outcome: Outcome, now: datetime, actor: User) -> None:
        await self.uow.incidents.update(incident)
        await record_outcome(self.uow, self.paging, incident, outcome, now, actor.id)

    async def _load_for(self, actor: User, action: Action, incident_id: int) -> Incident:
        """The incident, locked, once the actor may do `action` on it. Whether the actor was paged
        for it is asked only when the rule needs it and nothing else allows."""
        incident = await self._load(incident_id, for_update=True)
        if not can(actor, action, incident):
            was_paged = PERMISSIONS[action] is Rule.INCIDENT_RESPONDERS and await self.uow.notifications.was_paged(
                incident.id, actor.id
            )
            require(actor, action, incident, was_paged=was_paged)
        return incident

    async def _check_manual_pages(self, actor: User, incident_id: int | None) -> None:
        """Refuses a page by hand (opening an incident, escalating one) beyond the limits; counted from
        what is stored, so every API process sees the same count."""
        limits = self.paging
        now = self.clock.now()
        since = now - limits.manual_page_window
        frees_at: list[datetime] = []
        # At the limit when its oldest page still counts: the limit-th newest in the window.
        if incident_id is not None:
            limit = limits.manual_escalations_per_incident
            oldest = await self.uow.escalation_events.nth_newest(incident_id, EffectKind.MANUAL, since, limit)
            if oldest is not None:
                frees_at.append(oldest + limits.manual_page_window)
        kinds = (TimelineKind.CREATED, TimelineKind.ESCALATED)
        oldest = await self.uow.timeline.nth_newest_by_actor(actor.id, kinds, since, limits.manual_pages_per_user)
        if oldest is not None:
            frees_at.append(oldest + limits.manual_page_window)
        if frees_at:
            retry_after = max(1, math.ceil((max(frees_at) - now).total_seconds()))
            window = int(limits.manual_page_window.total_seconds() // 60)
            raise RateLimited(
                f"too many pages by hand: at most {limits.manual_escalations_per_incident} manual escalations "
                f"of an incident and {limits.manual_pages_per_user} incidents opened or escalated by one "
                f"person in {window} minutes",
                retry_after,
            )

    async def _load(self, incident_id: int, *, for_update: bool = False) -> Incident:
        incident = await self.uow.incidents.get(incident_id, for_update=for_update)
        if incident is None:
            raise NotFound(f"incident {incident_id} does not exist")
        return incident


def _people_in(event: TimelineEvent) -> set[int]:
    """The users a timeline event's data names (who was paged, assigned, ...); never an alert's own data."""
    if event.kind is TimelineKind.ALERT:
        return set()
    found: set[int] = set()
    for key, value in event.data.items():
        if key.endswith("_id") and isinstance(value, int) and ("user" in key or "assignee" in key):
            found.add(value)
        elif key.endswith("user_ids") and isinstance(value, list):
            found |= {v for v in value if isinstance(v, int)}
    return found


def _without_delivery_error(event: TimelineEvent) -> TimelineEvent:
    if event.kind is not TimelineKind.NOTIFICATION_FAILED or "error" not in event.data:
        return event
    return replace(event, data={k: v for k, v in event.data.items() if k != "error"})

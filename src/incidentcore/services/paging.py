"""Carrying out escalation effects: who gets paged, on which channel, recorded in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidentcore.escalation import Effect, EffectKind
from incidentcore.model import (
    Channel,
    EscalationEvent,
    Incident,
    Notification,
    NotificationStatus,
    Outcome,
    Team,
    TimelineEvent,
    TimelineKind,
    User,
)
from incidentcore.ports import UnitOfWork
from incidentcore.reach import Audience, Directory, resolve

# Once someone has the incident in hand, pages still waiting to go out are no longer wanted.
CANCELS_WAITING_PAGES = {
    EffectKind.ACKNOWLEDGED: "incident acknowledged",
    EffectKind.SNOOZED: "incident snoozed",
    EffectKind.STOPPED: "incident resolved",
}


@dataclass(frozen=True)
class PagingConfig:
    """`manual_*`: how many pages people may cause by hand in `manual_page_window` (a stolen or
    careless account must not flood the pager): manual escalations of one incident, and incidents
    opened plus manual escalations by one user. The schedule's own escalations are never limited."""

    public_url: str = "http://localhost:8000"
    manual_escalations_per_incident: int = 6
    manual_pages_per_user: int = 30
    manual_page_window: timedelta = timedelta(minutes=10)


def page_key(incident_id: int, effect: Effect, user_id: int, channel: Channel) -> str:
    """Stable per (incident, trigger cycle, step, loop, user, channel): a re-run never pages twice."""
    return (
        f"incident:{incident_id}:cycle:{effect.cycle}:step:{effect.step_index}:loop:{effect.loop}"
        f":user:{user_id}:channel:{channel.value}"
    )


async def record_outcome(
    uow: UnitOfWork,
    paging: PagingConfig,
    incident: Incident,
    outcome: Outcome,
    now: datetime,
    actor_id: int | None,
    team: Team | None = None,
) -> None:
    """Records what one incident action caused, in the caller's unit of work: the pages (outbox rows),
    the escalation events and the timeline, one insert each. The caller has saved the incident
    (`incidentcore.IncidentRepository.add` or `incidentcore.IncidentRepository.update`)
    first: recording never writes the incident itself. `team`: the incident's, when the caller has
    read it in this unit of work (the pages name it), so it is not read again."""
    await record_outcomes(uow, paging, [(incident, outcome)], now, actor_id, [team] if team else [])


async def record_outcomes(
    uow: UnitOfWork,
    paging: PagingConfig,
    outcomes: Sequence[tuple[Incident, Outcome]],
    now: datetime,
    actor_id: int | None,
    known_teams: Sequence[Team] = (),
) -> None:
    """`record_outcome` for a batch (the worker's tick): a fixed handful of statements (schedules and
    their overrides when a step targets one, targets, preferences, teams, one insert each for pages,
    escalation events and timeline), however many incidents and steps are in it."""
    fires = {
        (incident.id, effect): (incident, withdrawn_by)
        for incident, outcome in outcomes
        for effect, withdrawn_by in _fires_and_what_withdraws_them(outcome)
    }
    reach, cancelled_at_once = await _page(uow, paging, fires, now, known_teams)
    events: list[EscalationEvent] = []
    timeline: list[TimelineEvent] = []
    for incident, outcome in outcomes:
        for item in outcome.timeline:
            item.incident_id = incident.id
        timeline += outcome.timeline
        for effect in outcome.effects:
            event = EscalationEvent(
                incident_id=incident.id,
                policy_id=incident.escalation_policy_id,
                kind=effect.kind,
                cycle=effect.cycle,
                scheduled_at=effect.scheduled_at,
                created_at=now,
                step_index=effect.step_index,
                loop=effect.loop,
            )
            if effect.is_fire:
                fired = reach[(incident.id, effect)]
                event.notified_user_ids = [u.id for u in fired.paged]
                event.cancelled_user_ids = [u.id for u in fired.cancelled]
                event.cancel_reason = fired.cancel_reason
                by = actor_id if effect.kind is EffectKind.MANUAL else None  # the schedule fires the rest
                timeline.append(_escalated(incident, effect, fired, by))
            elif effect.kind in CANCELS_WAITING_PAGES:
                reason = CANCELS_WAITING_PAGES[effect.kind]
                withdrawn = await uow.notifications.cancel_pending_for_incident(incident.id, reason)
                if withdrawn:
                    event.cancelled_user_ids = sorted({n.user_id for n in withdrawn if n.user_id is not None})
                    event.cancel_reason = reason
                timeline += [_cancelled(page, now) for page in withdrawn]
            events.append(event)
    timeline += [_cancelled(page, now) for page in cancelled_at_once]
    await uow.escalation_events.add_many(events)
    await uow.timeline.add_many(timeline)


async def _page(
    uow: UnitOfWork,
    paging: PagingConfig,
    fires: dict[tuple[int, Effect], tuple[Incident, str | None]],
    now: datetime,
    known_teams: Sequence[Team],
) -> tuple[dict[tuple[int, Effect], Reach], list[Notification]]:
    """Writes one outbox row per (user, channel) for every fire, as `resolve` says: pending, or already
    cancelled for a fire that an acknowledgement, snooze or resolve in this same transaction withdraws,
    so nothing is ever sent for it. Returns each fire's reach and the rows inserted as cancelled."""
    if not fires:
        return {}, []
    audiences = {
        key: Audience.of_step(incident.policy.steps[key[1].step_index or 0], incident.team_id)
        for key, (incident, _) in fires.items()
    }
    rosters = await _rosters(uow, audiences)
    named = {user_id for audience in audiences.values() for user_id in audience.user_ids}
    for (_, effect), audience in audiences.items():
        for schedule_id in audience.schedule_ids:
            named.update(rosters.on_call(schedule_id, effect.scheduled_at))
    candidates = await uow.users.resolve_targets(
        user_ids=sorted(named),
        team_ids=sorted({t for a in audiences.values() for t in a.team_ids}),
        roles=sorted({r for a in audiences.values() for r in a.roles}, key=lambda r: (r[0].rank, r[1])),
    )
    preferences = await uow.preferences.list_for_users([u.id for u in candidates]) if candidates else []
    directory = rosters.with_users(candidates, preferences)
    team_names = {team.id: team.name for team in known_teams if team.id is not None}
    unread = sorted({i.team_id for i, _ in fires.values() if i.team_id is not None} - team_names.keys())
    team_names |= {team.id: team.name for team in await uow.teams.get_many(unread) if team.id is not None}
    rows: list[Notification] = []
    reach: dict[tuple[int, Effect], Reach] = {}
    for (incident_id, effect), (incident, withdrawn_by) in fires.items():
        subject, body = _message(paging, incident, effect, team_names.get(incident.team_id or 0))
        cancel_reason = f"{withdrawn_by} before the page could be sent" if withdrawn_by else None
        resolution = resolve(audiences[(incident_id, effect)], directory, effect.scheduled_at, incident.severity)
        fired = reach[(incident_id, effect)] = Reach(cancel_reason=cancel_reason)
        fired.unstaffed_schedule_ids = resolution.unstaffed_schedule_ids
        fired.unreachable = [directory.users[u.user_id] for u in resolution.unreachable]
        for recipient in resolution.paged:
            user = recipient.user
            (fired.cancelled if cancel_reason else fired.paged).append(user)
            for channel, address in recipient.channels:
                page = Notification(
                    user_id=user.id,
                    channel=channel,
                    address=address,
                    subject=subject,
                    body=body,
                    idempotency_key=page_key(incident_id, effect, user.id, channel),
                    created_at=now,
                    incident_id=incident_id,
                    urgency=incident.severity.urgency,
                )
                if cancel_reason:
                    page.cancel(cancel_reason)
                rows.append(page)
    inserted = await uow.notifications.add_new(rows)
    return reach, [n for n in inserted if n.status is NotificationStatus.CANCELLED]


async def _rosters(uow: UnitOfWork, audiences: dict[tuple[int, Effect], Audience]) -> Directory:
    """The schedules the fires target, with their overrides around the fires' scheduled times (not
    now: a worker catching up pages whoever was on call then). Two queries for the whole batch, none
    when no fire targets a schedule; a schedule deleted since the incident's policy snapshot was
    taken is missing, and has nobody on call."""
    wanted = {key: audience.schedule_ids for key, audience in audiences.items() if audience.schedule_ids}
    if not wanted:
        return Directory()
    schedule_ids = sorted(set().union(*wanted.values()))
    times = [effect.scheduled_at for _, effect in wanted]
    schedules = await uow.schedules.get_many(schedule_ids)
    return Directory.of(
        schedules=schedules, overrides=await uow.overrides.in_window(schedule_ids, min(times), max(times))
    )


def _message(paging: PagingConfig, incident: Incident, effect: Effect, team_name: str | None) -> tuple[str, str]:
    severity = incident.severity.value.upper()
    subject = f"[{severity}] Incident #{incident.id}: {incident.title}"
    link = f"{paging.public_url.rstrip('/')}/v1/incidents/{incident.id}"
    lines = [
        f"Incident #{incident.id} is {incident.status.value}: {incident.title}",
        f"Severity: {incident.severity.value}",
        f"Team: {team_name or 'none'}",
    ]
    if incident.description:
        lines.append(f"Details: {incident.description}")
    lines += [
        f"Escalation step {(effect.step_index or 0) + 1}"
        + (" (paged by hand)" if effect.kind is EffectKind.MANUAL else ""),
        f"Acknowledge: POST {link}/acknowledge",
        f"View: GET {link}",
    ]
    return subject, "\n".join(lines)

def _escalated(incident: Incident, effect: Effect, fired: Reach, actor_id: int | None) -> TimelineEvent:
    data: dict[str, object] = {
        "step_index": effect.step_index,
        "loop": effect.loop,
        "cycle": effect.cycle,
        "manual": effect.kind is EffectKind.MANUAL,
        "scheduled_at": effect.scheduled_at.isoformat(),
        "user_ids": [u.id for u in fired.paged],
    }
    if fired.unreachable:
        data["unreachable_user_ids"] = [u.id for u in fired.unreachable]
    if fired.unstaffed_schedule_ids:
        data["unreachable_schedule_ids"] = fired.unstaffed_schedule_ids
    if fired.cancelled:
        data["cancelled_user_ids"] = [u.id for u in fired.cancelled]
        data["cancel_reason"] = fired.cancel_reason
    elif not fired.paged:
        reasons = []
        if fired.unstaffed_schedule_ids:
            schedules = ", ".join(str(i) for i in fired.unstaffed_schedule_ids)
            reasons.append(f"no one is on call on schedule {schedules} at the scheduled time")
        if fired.unreachable or not fired.unstaffed_schedule_ids:
            reasons.append("no active target has a channel for this severity")
        data["warning"] = "no one was paged: " + "; ".join(reasons)
    return TimelineEvent(incident.id, TimelineKind.ESCALATED, effect.scheduled_at, actor_id, data)




@dataclass
class Reach:
    """Whom one fire reached: paged (pages queued), cancelled (pages withdrawn in the same transaction,
    with `cancel_reason`), unreachable (targets with no channel for the incident's severity), and the
    targeted schedules with no active user on call (`unstaffed_schedule_ids`)."""

    paged: list[User] = field(default_factory=list)
    cancelled: list[User] = field(default_factory=list)
    unreachable: list[User] = field(default_factory=list)
    cancel_reason: str | None = None
    unstaffed_schedule_ids: list[int] = field(default_factory=list)


def _fires_and_what_withdraws_them(outcome: Outcome) -> list[tuple[Effect, str | None]]:
    """Each fire of `outcome` with the reason of the acknowledgement, snooze or resolve that follows it
    in the same outcome (a caught-up fire that action withdraws at once), or None."""
    withdrawn_by: str | None = None
    fires: list[tuple[Effect, str | None]] = []
    for effect in reversed(outcome.effects):
        if effect.kind in CANCELS_WAITING_PAGES:
            withdrawn_by = CANCELS_WAITING_PAGES[effect.kind]
        elif effect.is_fire:
            fires.append((effect, withdrawn_by))
    return fires[::-1]


def page_event(page: Notification, kind: TimelineKind, now: datetime, **extra: object) -> TimelineEvent:
    """What became of one page, on its incident's timeline: sent, failed or cancelled."""
    assert page.incident_id is not None
    data = {
        "notification_id": page.id,
        "user_id": page.user_id,
        "channel": page.channel.value,
        "attempts": page.attempts,
        **extra,
    }
    return TimelineEvent(page.incident_id, kind, now, None, data)


def _cancelled(page: Notification, now: datetime) -> TimelineEvent:
    """Every page that will never go out says so on the timeline, as sent and failed ones do."""
    return page_event(page, TimelineKind.NOTIFICATION_CANCELLED, now, reason=page.cancel_reason)

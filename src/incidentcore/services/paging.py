"""Carrying out escalation effects: who gets paged, on which channel, recorded in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from incidentcore.escalation import Effect, EffectKind, TargetType
from incidentcore.model import (
    Channel,
    EscalationEvent,
    Incident,
    Notification,
    NotificationPreference,
    Outcome,
    Role,
    TimelineEvent,
    TimelineKind,
    User,
)
from incidentcore.ports import UnitOfWork


@dataclass(frozen=True)
class PagingConfig:
    public_url: str = "http://localhost:8000"


def page_key(incident_id: int, effect: Effect, user_id: int, channel: Channel) -> str:
    """Stable per (incident, trigger cycle, step, loop, user, channel): a re-run never pages twice."""
    return (
        f"incident:{incident_id}:cycle:{effect.cycle}:step:{effect.step_index}:loop:{effect.loop}"
        f":user:{user_id}:channel:{channel.value}"
    )


def choose_channels(
    user: User, preferences: list[NotificationPreference], incident: Incident
) -> list[tuple[Channel, str | None]]:
    """Enabled channels that accept the incident's severity; a user with no preferences gets email."""
    if not preferences:
        return [(Channel.EMAIL, user.email)]
    return [
        (p.channel, p.address or (user.email if p.channel is Channel.EMAIL else None))
        for p in sorted(preferences, key=lambda p: p.channel.value)
        if p.accepts(incident.severity)
    ]


class Pager:
    """Records an incident action's outcome: state, timeline, escalation events and outbox rows."""

    def __init__(self, uow: UnitOfWork, config: PagingConfig) -> None:
        self.uow = uow
        self.config = config

    async def record(self, incident: Incident, outcome: Outcome, now: datetime, actor_id: int | None) -> None:
        """Saves the incident (fenced) and everything its outcome caused."""
        await self.uow.incidents.update(incident)
        timeline = list(outcome.timeline)
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
                paged = await self._page(incident, effect, now)
                event.notified_user_ids = [u.id for u in paged]
                timeline.append(self._escalated(incident, effect, paged, actor_id))
            elif effect.kind is EffectKind.STOPPED:
                await self.uow.notifications.cancel_pending_for_incident(incident.id, now)
            await self.uow.escalation_events.add(event)
        for item in timeline:
            item.incident_id = incident.id
        await self.uow.timeline.add_many(timeline)

    async def _page(self, incident: Incident, effect: Effect, now: datetime) -> list[User]:
        assert effect.step_index is not None
        users = await self._resolve_targets(incident, effect.step_index)
        if not users:
            return []
        preferences = await self.uow.preferences.list_for_users([u.id for u in users])
        by_user: dict[int, list[NotificationPreference]] = {}
        for preference in preferences:
            by_user.setdefault(preference.user_id, []).append(preference)
        team = await self.uow.teams.get(incident.team_id) if incident.team_id else None
        subject, body = self._message(incident, effect, team.name if team else None)
        rows = [
            Notification(
                user_id=user.id,
                channel=channel,
                address=address,
                subject=subject,
                body=body,
                idempotency_key=page_key(incident.id, effect, user.id, channel),
                created_at=now,
                incident_id=incident.id,
            )
            for user in users
            for channel, address in choose_channels(user, by_user.get(user.id, []), incident)
        ]
        await self.uow.notifications.add_new(rows)
        return users

    async def _resolve_targets(self, incident: Incident, step_index: int) -> list[User]:
        step = incident.policy.steps[step_index]
        user_ids = [t.user_id for t in step.targets if t.type is TargetType.USER and t.user_id is not None]
        team_ids = [t.team_id for t in step.targets if t.type is TargetType.TEAM and t.team_id is not None]
        roles = [
            (Role(t.role), t.team_id or incident.team_id)
            for t in step.targets
            if t.type is TargetType.ROLE and t.role is not None
        ]
        return await self.uow.users.resolve_targets(user_ids=user_ids, team_ids=team_ids, roles=roles)

    def _message(self, incident: Incident, effect: Effect, team_name: str | None) -> tuple[str, str]:
        severity = incident.severity.value.upper()
        subject = f"[{severity}] Incident #{incident.id}: {incident.title}"
        link = f"{self.config.public_url.rstrip('/')}/v1/incidents/{incident.id}"
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

    def _escalated(
        self, incident: Incident, effect: Effect, paged: list[User], actor_id: int | None
    ) -> TimelineEvent:
        data = {
            "step_index": effect.step_index,
            "loop": effect.loop,
            "cycle": effect.cycle,
            "manual": effect.kind is EffectKind.MANUAL,
            "scheduled_at": effect.scheduled_at.isoformat(),
            "user_ids": [u.id for u in paged],
        }
        if not paged:
            data["warning"] = "the step's targets resolved to no active user"
        return TimelineEvent(incident.id, TimelineKind.ESCALATED, effect.scheduled_at, actor_id, data)

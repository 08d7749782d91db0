"""Rows to entities and back, from outside the core: the domain never learns a table exists.

Explicit functions rather than ORM mapping: incidents and policies carry frozen nested state (the
escalation state, the policy snapshot, steps and targets) that is flattened into columns and JSON.
Each `*_values` function gives the column values of an entity, without its id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row

from incidentcore.escalation import (
    EffectKind,
    EscalationState,
    EscalationStep,
    Phase,
    PolicySnapshot,
    Target,
    TargetType,
)
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
    Severity,
    Team,
    TimelineEvent,
    TimelineKind,
    User,
)

Values = dict[str, Any]


# Teams


def team_values(team: Team) -> Values:
    return {"name": team.name, "description": team.description, "created_at": team.created_at}


def team_from_row(row: Row[Any]) -> Team:
    return Team(name=row.name, description=row.description, created_at=row.created_at, id=row.id)


# Users


def user_values(user: User) -> Values:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "password_hash": user.password_hash,
        "role": user.role.value,
        "team_id": user.team_id,
        "is_active": user.is_active,
        "created_at": user.created_at,
        "credentials_version": user.credentials_version,
    }


def user_from_row(row: Row[Any]) -> User:
    return User(
        email=row.email,
        full_name=row.full_name,
        password_hash=row.password_hash,
        role=Role(row.role),
        team_id=row.team_id,
        is_active=row.is_active,
        created_at=row.created_at,
        credentials_version=row.credentials_version,
        id=row.id,
    )


# Escalation policies and snapshots


def targets_json(targets: Iterable[Target]) -> list[Values]:
    return [
        {"type": t.type.value, "user_id": t.user_id, "team_id": t.team_id, "role": t.role} for t in targets
    ]


def steps_json(steps: Iterable[EscalationStep]) -> list[Values]:
    return [{"delay_minutes": s.delay_minutes, "targets": targets_json(s.targets)} for s in steps]


def steps_from_json(data: list[Values]) -> tuple[EscalationStep, ...]:
    return tuple(
        EscalationStep(
            delay_minutes=step["delay_minutes"],
            targets=tuple(
                Target(
                    type=TargetType(t["type"]),
                    user_id=t.get("user_id"),
                    team_id=t.get("team_id"),
                    role=t.get("role"),
                )
                for t in step["targets"]
            ),
        )
        for step in data
    )


def snapshot_json(snapshot: PolicySnapshot) -> Values:
    return {
        "policy_id": snapshot.policy_id,
        "steps": steps_json(snapshot.steps),
        "repeat": snapshot.repeat,
        "ack_timeout_minutes": snapshot.ack_timeout_minutes,
    }


def snapshot_from_json(data: Values) -> PolicySnapshot:
    return PolicySnapshot(
        policy_id=data["policy_id"],
        steps=steps_from_json(data["steps"]),
        repeat=data.get("repeat", 0),
        ack_timeout_minutes=data.get("ack_timeout_minutes"),
    )


def policy_values(policy: EscalationPolicy) -> Values:
    return {
        "name": policy.name,
        "description": policy.description,
        "team_id": policy.team_id,
        # in severity order, so equal sets are stored identically
        "severities": [s.value for s in Severity if s in policy.severities],
        "steps": steps_json(policy.steps),
        "repeat": policy.repeat,
        "ack_timeout_minutes": policy.ack_timeout_minutes,
        "is_active": policy.is_active,
        "created_at": policy.created_at,
    }


def policy_from_row(row: Row[Any]) -> EscalationPolicy:
    return EscalationPolicy(
        name=row.name,
        steps=steps_from_json(row.steps),
        description=row.description,
        team_id=row.team_id,
        severities=frozenset(Severity(s) for s in row.severities),
        repeat=row.repeat,
        ack_timeout_minutes=row.ack_timeout_minutes,
        is_active=row.is_active,
        created_at=row.created_at,
        id=row.id,
    )


# Incidents


# Columns an incident is born with and never changes; a fenced update leaves them alone.
INCIDENT_IMMUTABLE_COLUMNS = frozenset(
    {"created_at", "created_by_id", "source", "integration_id", "dedup_key"}
)


def incident_values(incident: Incident) -> Values:
    state = incident.escalation
    return {
        "title": incident.title,
        "description": incident.description,
        "severity": incident.severity.value,
        "status": incident.status.value,
        "team_id": incident.team_id,
        "assignee_id": incident.assignee_id,
        "created_by_id": incident.created_by_id,
        "source": incident.source,
        "integration_id": incident.integration_id,
        "dedup_key": incident.dedup_key,
        "created_at": incident.created_at,
        "updated_at": incident.updated_at,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "escalation_policy_id": incident.policy.policy_id,
        "policy_snapshot": snapshot_json(incident.policy),
        "esc_phase": state.phase.value if state else None,
        "esc_cycle": state.cycle if state else 0,
        "esc_next_step": state.next_step if state else 0,
        "esc_loop": state.loop if state else 0,
        "next_escalation_at": state.next_at if state else None,
        "escalation_level": state.last_fired_step if state else None,
        "version": incident.version,
    }


def incident_from_row(row: Row[Any]) -> Incident:
    state = None
    if row.esc_phase is not None:
        state = EscalationState(
            phase=Phase(row.esc_phase),
            cycle=row.esc_cycle,
            next_step=row.esc_next_step,
            loop=row.esc_loop,
            next_at=row.next_escalation_at,
            last_fired_step=row.escalation_level,
        )
    return Incident(
        title=row.title,
        created_at=row.created_at,
        severity=Severity(row.severity),
        description=row.description,
        team_id=row.team_id,
        assignee_id=row.assignee_id,
        created_by_id=row.created_by_id,
        source=row.source,
        integration_id=row.integration_id,
        dedup_key=row.dedup_key,
        updated_at=row.updated_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        policy=snapshot_from_json(row.policy_snapshot),
        escalation=state,
        version=row.version,
        id=row.id,
    )


# Incident history


def comment_values(comment: Comment) -> Values:
    return {
        "incident_id": comment.incident_id,
        "author_id": comment.author_id,
        "body": comment.body,
        "created_at": comment.created_at,
    }


def comment_from_row(row: Row[Any]) -> Comment:
    return Comment(
        incident_id=row.incident_id,
        author_id=row.author_id,
        body=row.body,
        created_at=row.created_at,
        id=row.id,
    )


def timeline_event_values(event: TimelineEvent) -> Values:
    return {
        "incident_id": event.incident_id,
        "kind": event.kind.value,
        "actor_id": event.actor_id,
        "data": event.data,
        "created_at": event.created_at,
    }


def timeline_event_from_row(row: Row[Any]) -> TimelineEvent:
    return TimelineEvent(
        incident_id=row.incident_id,
        kind=TimelineKind(row.kind),
        created_at=row.created_at,
        actor_id=row.actor_id,
        data=row.data,
        id=row.id,
    )


def escalation_event_values(event: EscalationEvent) -> Values:
    return {
        "incident_id": event.incident_id,
        "policy_id": event.policy_id,
        "kind": event.kind.value,
        "cycle": event.cycle,
        "step_index": event.step_index,
        "loop": event.loop,
        "scheduled_at": event.scheduled_at,
        "created_at": event.created_at,
        "notified_user_ids": list(event.notified_user_ids),
        "cancelled_user_ids": list(event.cancelled_user_ids),
        "cancel_reason": event.cancel_reason,
    }


def escalation_event_from_row(row: Row[Any]) -> EscalationEvent:
    return EscalationEvent(
        incident_id=row.incident_id,
        policy_id=row.policy_id,
        kind=EffectKind(row.kind),
        cycle=row.cycle,
        scheduled_at=row.scheduled_at,
        created_at=row.created_at,
        step_index=row.step_index,
        loop=row.loop,
        notified_user_ids=list(row.notified_user_ids),
        # NULL on events recorded before cancellations were recorded apart
        cancelled_user_ids=list(row.cancelled_user_ids or []),
        cancel_reason=row.cancel_reason,
        id=row.id,
    )


# Notifications


def preference_values(preference: NotificationPreference) -> Values:
    return {
        "user_id": preference.user_id,
        "channel": preference.channel.value,
        "enabled": preference.enabled,
        "address": preference.address,
        "min_severity": preference.min_severity.value if preference.min_severity else None,
    }


def preference_from_row(row: Row[Any]) -> NotificationPreference:
    return NotificationPreference(
        user_id=row.user_id,
        channel=Channel(row.channel),
        enabled=row.enabled,
        address=row.address,
        min_severity=Severity(row.min_severity) if row.min_severity else None,
    )


# What a delivery attempt changes on an outbox row.
NOTIFICATION_DELIVERY_COLUMNS = (
    "status",
    "attempts",
    "last_error",
    "sent_at",
    "next_attempt_at",
    "cancel_reason",
)


def notification_values(notification: Notification) -> Values:
    return {
        "incident_id": notification.incident_id,
        "user_id": notification.user_id,
        "channel": notification.channel.value,
        "address": notification.address,
        "subject": notification.subject,
        "body": notification.body,
        "idempotency_key": notification.idempotency_key,
        "status": notification.status.value,
        "attempts": notification.attempts,
        "last_error": notification.last_error,
        "cancel_reason": notification.cancel_reason,
        "created_at": notification.created_at,
        "sent_at": notification.sent_at,
        "next_attempt_at": notification.next_attempt_at,
        "version": notification.version,
        "urgency": notification.urgency,
        "destination": notification.destination,
    }


def notification_delivery_values(notification: Notification) -> Values:
    values = notification_values(notification)
    return {column: values[column] for column in NOTIFICATION_DELIVERY_COLUMNS}


def notification_from_row(row: Row[Any]) -> Notification:
    return Notification(
        user_id=row.user_id,
        channel=Channel(row.channel),
        address=row.address,
        subject=row.subject,
        body=row.body,
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        incident_id=row.incident_id,
        status=NotificationStatus(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        cancel_reason=row.cancel_reason,
        sent_at=row.sent_at,
        next_attempt_at=row.next_attempt_at,
        version=row.version,
        urgency=row.urgency,
        id=row.id,
    )


# Integrations and reset tokens


def integration_values(integration: Integration) -> Values:
    return {
        "name": integration.name,
        "team_id": integration.team_id,
        "key": integration.key,
        "created_at": integration.created_at,
    }


def integration_from_row(row: Row[Any]) -> Integration:
    return Integration(name=row.name, team_id=row.team_id, key=row.key, created_at=row.created_at, id=row.id)


def reset_token_values(token: PasswordResetToken) -> Values:
    return {
        "user_id": token.user_id,
        "token_hash": token.token_hash,
        "expires_at": token.expires_at,
        "credentials_version": token.credentials_version,
        "used_at": token.used_at,
    }


def reset_token_from_row(row: Row[Any]) -> PasswordResetToken:
    return PasswordResetToken(
        user_id=row.user_id,
        token_hash=row.token_hash,
        expires_at=row.expires_at,
        credentials_version=row.credentials_version,
        used_at=row.used_at,
        id=row.id,
    )

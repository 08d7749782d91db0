"""Domain entities as the contract suites need them, stored through the ports themselves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import (
    Channel,
    EscalationPolicy,
    Incident,
    Integration,
    Notification,
    Role,
    Severity,
    Team,
    User,
)
from incidentcore.ports import UnitOfWork

UowFactory = Callable[[], UnitOfWork]

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def new_user(email: str = "ann@example.com", **fields: Any) -> User:
    fields.setdefault("created_at", T0)
    fields.setdefault("password_hash", "hash")
    return User(email=email, full_name=email.split("@")[0].title(), **fields)


def new_team(name: str = "payments", **fields: Any) -> Team:
    fields.setdefault("created_at", T0)
    return Team(name=name, **fields)


def one_step_policy(
    user_id: int, *, delay_minutes: int = 5, repeat: int = 1, **fields: Any
) -> EscalationPolicy:
    step = EscalationStep(delay_minutes, (Target(TargetType.USER, user_id=user_id),))
    fields.setdefault("created_at", T0)
    return EscalationPolicy("primary", (step,), repeat=repeat, **fields)


def rich_policy(team_id: int, user_id: int) -> EscalationPolicy:
    """Every kind of target, several steps, severities, repeat and ack timeout: a full round trip."""
    return EscalationPolicy(
        name="payments on-call",
        description="business hours",
        team_id=team_id,
        severities=frozenset({Severity.CRITICAL, Severity.HIGH}),
        steps=(
            EscalationStep(0, (Target(TargetType.USER, user_id=user_id),)),
            EscalationStep(
                15,
                (
                    Target(TargetType.TEAM, team_id=team_id),
                    Target(TargetType.ROLE, role=Role.TEAM_LEAD.value),
                    Target(TargetType.ROLE, role=Role.MANAGER.value, team_id=team_id),
                ),
            ),
        ),
        repeat=2,
        ack_timeout_minutes=30,
        is_active=True,
        created_at=T0,
    )


async def stored_user(uow: UnitOfWork, email: str = "ann@example.com", **fields: Any) -> User:
    return await uow.users.add(new_user(email, **fields))


async def stored_team(uow: UnitOfWork, name: str = "payments") -> Team:
    return await uow.teams.add(new_team(name))


async def stored_integration(uow: UnitOfWork, team_id: int, key: str = "key-1") -> Integration:
    return await uow.integrations.add(Integration(name="kibana", team_id=team_id, key=key, created_at=T0))


async def stored_incident(uow: UnitOfWork, at: datetime = T0, **fields: Any) -> Incident:
    """An incident as added, before it triggers."""
    return await uow.incidents.add(
        Incident(title=fields.pop("title", "checkout down"), created_at=at, **fields)
    )


async def triggered_incident(
    uow: UnitOfWork, policy: EscalationPolicy, at: datetime = T0, **fields: Any
) -> Incident:
    """An incident triggered on `policy` at `at`: step 0 fired, the next step due after its delay."""
    incident = await stored_incident(uow, at, **fields)
    incident.trigger(policy.snapshot(), at, None)
    await uow.incidents.update(incident)
    return incident


def page_for(
    key: str, *, incident_id: int | None, user_id: int | None = None, at: datetime = T0, **fields: Any
) -> Notification:
    return Notification(
        user_id=user_id,
        channel=fields.pop("channel", Channel.EMAIL),
        address=fields.pop("address", "ann@example.com"),
        subject="[HIGH] checkout down",
        body="Acknowledge: POST /v1/incidents/1/acknowledge",
        idempotency_key=key,
        created_at=at,
        incident_id=incident_id,
        **fields,
    )

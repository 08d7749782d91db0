"""The preview reads what it resolves in a fixed handful of statements, however many steps, users,
schedules, overrides and fires: a week of an hourly rotation costs what an hour does."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from entity_builders import T0, stored_team, stored_user
from sqlalchemy.ext.asyncio import AsyncEngine
from test_sql_query_budget import statements_on

from adapters.sql import SqlUnitOfWork, create_session_factory
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import EscalationPolicy, Role
from incidentcore.schedules import Layer, Override, Schedule, TurnLength, TurnUnit
from incidentcore.services import Policies, PreviewOptions
from incidentcore.testing import FakeClock

pytestmark = pytest.mark.anyio


async def test_a_weeks_preview_of_a_busy_policy_reads_in_seven_statements(sql_engine: AsyncEngine) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        admin = await stored_user(uow, "admin@example.com", role=Role.ADMIN)
        team = await stored_team(uow)
        members = [await stored_user(uow, f"u{n}@example.com", team_id=team.id, role=Role.TEAM_LEAD) for n in range(30)]
        targets = [Target(TargetType.TEAM, team_id=team.id), Target(TargetType.ROLE, role="team_lead")]
        for n in range(3):
            hourly = Layer("hourly", datetime(2025, 12, 1), TurnLength(TurnUnit.HOURS, 1), tuple(u.id for u in members))
            schedule = await uow.schedules.add(Schedule(f"schedule {n}", "Europe/Berlin", (hourly,), team_id=team.id))
            for hour in range(20):
                start = T0 + timedelta(hours=hour * 7)
                await uow.overrides.add(Override(members[hour].id, start, start + timedelta(hours=1), T0, schedule.id))
            targets += [Target(TargetType.SCHEDULE, schedule_id=schedule.id), Target(TargetType.USER, user_id=members[n].id)]
        steps = tuple(EscalationStep(30, (target,)) for target in targets)
        policy = await uow.policies.add(EscalationPolicy("busy", steps, team_id=team.id, repeat=9, ack_timeout_minutes=60))
        await uow.commit()

    options = PreviewOptions(at=T0, hours=168, acknowledge_after_minutes=45)
    with statements_on(sql_engine) as log:
        found = await Policies(SqlUnitOfWork(sessions), FakeClock(T0)).preview(admin, policy.id, options)
    assert len(found.fires) == 2 + 8 * 10  # two before the acknowledgement, every loop after the re-trigger
    assert all(fire.resolution.paged for fire in found.fires)
    # policy, team, schedules, overrides, named users, members and holders, preferences
    assert log.count == 7, log.statements

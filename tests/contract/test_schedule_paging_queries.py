"""Schedule targets cost the escalation tick two statements per batch, however many incidents,
schedules and overrides are in it: the schedules, and their overrides around the fires' times."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from entity_builders import T0, stored_team, stored_user
from sqlalchemy.ext.asyncio import AsyncEngine
from test_sql_query_budget import statements_on

from adapters.sql import SqlUnitOfWork, create_session_factory
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import EscalationPolicy
from incidentcore.ports import Page
from incidentcore.schedules import Layer, Override, Schedule, TurnLength, TurnUnit
from incidentcore.services import EscalationTick, Incidents, NewIncident, PagingConfig
from incidentcore.testing import CountingNudge, FakeClock

pytestmark = pytest.mark.anyio

SCHEDULES = 5
INCIDENTS_PER_SCHEDULE = 20


async def test_a_tick_of_100_incidents_on_5_schedules_reads_them_in_two_statements(
    sql_engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(sql_engine)
    clock = FakeClock(T0)
    teams = []
    async with SqlUnitOfWork(sessions) as uow:
        for n in range(SCHEDULES):
            team = await stored_team(uow, f"team {n}")
            members = [await stored_user(uow, f"u{n}-{m}@example.com", team_id=team.id) for m in range(2)]
            hourly = Layer(
                "hourly", datetime(2025, 12, 1), TurnLength(TurnUnit.HOURS, 1), tuple(u.id for u in members)
            )
            schedule = await uow.schedules.add(
                Schedule(f"schedule {n}", "Europe/Berlin", (hourly,), team_id=team.id)
            )
            for hour in range(10):  # overrides around the fires, and others far from them
                start = T0 + timedelta(hours=hour * 30 - 100)
                await uow.overrides.add(
                    Override(members[0].id, start, start + timedelta(hours=1), T0, schedule.id)
                )
            target = (Target(TargetType.SCHEDULE, schedule_id=schedule.id),)
            steps = (EscalationStep(5, target), EscalationStep(5, target))
            await uow.policies.add(EscalationPolicy(f"policy {n}", steps, team_id=team.id))
            teams.append(team)
        await uow.commit()
    for team in teams:
        for m in range(INCIDENTS_PER_SCHEDULE):
            await Incidents(SqlUnitOfWork(sessions), clock, CountingNudge(), PagingConfig()).open(
                None, NewIncident(f"incident {m}", team_id=team.id)
            )
    clock.advance(minutes=5)

    with statements_on(sql_engine) as log:
        advanced = await EscalationTick(SqlUnitOfWork(sessions), clock, PagingConfig()).run(batch_size=100)
    assert advanced == SCHEDULES * INCIDENTS_PER_SCHEDULE
    schedule_reads = [s for s in log.statements if "FROM schedules" in s or "FROM schedule_overrides" in s]
    assert len(schedule_reads) == 2, schedule_reads
    # claim, 100 fenced updates, schedules, overrides, targets, preferences, teams, pages, events, timeline
    assert log.count <= 100 + 10, log.statements[-12:]

    async with SqlUnitOfWork(sessions) as uow:
        events = [
            event
            for incident_id in range(1, advanced + 1)
            for event in (await uow.escalation_events.list_for_incident(incident_id, Page())).items
        ]
    assert len(events) == 2 * advanced
    assert all(len(event.notified_user_ids) == 1 for event in events)  # one person on call each time

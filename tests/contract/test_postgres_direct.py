"""Statements run on psycopg directly (adapters.sql.direct) read and write exactly what SQLAlchemy's
execution of the same statements does: same values and types, ids in order, the same errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, rich_policy, stored_team, stored_user
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sql import SqlUnitOfWork, create_session_factory, direct
from adapters.sql.mapping import incident_from_row
from adapters.sql.tables import incidents, timeline_events
from incidentcore.errors import Conflict
from incidentcore.model import Incident, Severity, TimelineEvent, TimelineKind
from incidentcore.ports import IncidentFilter, Page

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def sql_backend() -> str:
    return "postgres"


@pytest.fixture
def sessions(sql_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(sql_engine)


async def test_an_incident_read_directly_equals_the_one_sqlalchemy_reads(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        assert uow.runs_direct_statements
        user = await stored_user(uow)
        team = await stored_team(uow)
        policy = await uow.policies.add(rich_policy(team.id, user.id))
        incident = await uow.incidents.add(
            Incident(title="checkout down", created_at=T0, severity=Severity.CRITICAL, team_id=team.id)
        )
        incident.trigger(policy.snapshot(), T0 + timedelta(seconds=1), user.id)  # JSON, enums, times
        await uow.incidents.update(incident)  # the fenced UPDATE, direct
        await uow.commit()

    async with SqlUnitOfWork(sessions) as uow:
        read_directly = await uow.incidents.get(incident.id)
        row = (await uow.session.execute(select(incidents).where(incidents.c.id == incident.id))).one()
        read_by_sqlalchemy = incident_from_row(row._mapping)
        listed = await uow.incidents.list(IncidentFilter(), Page(limit=10))
    assert read_directly == read_by_sqlalchemy == listed.items[0] == incident
    assert read_directly is not None
    assert read_directly.created_at.tzinfo is not None
    assert read_directly.severity is Severity.CRITICAL
    assert read_directly.version == incident.version == 1  # one fenced update since it was added


async def test_rows_inserted_together_get_their_ids_in_order(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        incident = await uow.incidents.add(Incident(title="checkout down", created_at=T0))
        events = [
            TimelineEvent(incident.id, TimelineKind.COMMENTED, T0 + timedelta(seconds=n), data={"n": n})
            for n in range(25)
        ]
        await uow.timeline.add_many(events)
        await uow.commit()
    async with SqlUnitOfWork(sessions) as uow:
        stored = (await uow.session.execute(select(timeline_events.c.id, timeline_events.c.data))).all()
    assert {row.id: row.data for row in stored} == {event.id: event.data for event in events}
    assert [event.id for event in events] == sorted(event.id for event in events)


async def test_a_constraint_a_direct_insert_breaks_is_the_same_conflict(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        await stored_team(uow, "payments")
        await uow.commit()
    async with SqlUnitOfWork(sessions) as uow:
        with pytest.raises(Conflict, match="a team named payments already exists"):
            await stored_team(uow, "payments")
    async with SqlUnitOfWork(sessions) as uow:  # nothing half-written, the connection usable again
        assert (await uow.teams.list(Page(limit=10))).total == 1


async def test_compiled_statements_are_kept_per_statement_and_bounded(sql_engine: AsyncEngine) -> None:
    dialect = sql_engine.dialect
    statement = select(incidents.c.id)
    first = direct.compiled_for(dialect, statement, lambda: statement)
    assert direct.compiled_for(dialect, statement, lambda: statement) is first
    for n in range(direct.COMPILED_KEPT + 10):
        other = select(incidents.c.id).limit(n)
        direct.compiled_for(dialect, other, lambda other=other: other)  # type: ignore[misc]
    assert len(direct._compiled[dialect]) <= direct.COMPILED_KEPT

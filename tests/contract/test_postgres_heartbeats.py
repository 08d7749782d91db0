"""Missed heartbeats on Postgres with racing workers: each opens exactly one incident, whichever worker
claims it; and the database holds that even for writers that skip the claim."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import anyio
import pytest
from entity_builders import T0, one_step_policy, stored_team, stored_user
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sql import SqlUnitOfWork, create_session_factory
from incidentcore.errors import Conflict
from incidentcore.heartbeats import Heartbeat
from incidentcore.services import HeartbeatCheck, Heartbeats, PagingConfig, open_missed_heartbeat_incident
from incidentcore.services.accounts import hash_secret
from incidentcore.testing import FakeClock, SequentialSecrets

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

HEARTBEATS = 60
LATE = T0 + timedelta(hours=2)  # every seeded heartbeat (10 + 5 minutes from T0) is missed
SECRET = "the-ping-secret"


@pytest.fixture
def sql_backend() -> str:
    return "postgres"


@pytest.fixture
def sessions(sql_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(sql_engine)


async def seed_missed_heartbeats(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    """`count` heartbeats of a team whose policy pages a user, none pinged since T0."""
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        user = await stored_user(uow, team_id=team.id)
        await uow.policies.add(one_step_policy(user.id, team_id=team.id))
        ids = []
        for n in range(count):
            beat = await uow.heartbeats.add(Heartbeat(f"job {n}", team.id, 10, 5, f"hash-{n}", T0))
            ids.append(beat.id)
        await uow.commit()
    return ids


async def incidents_by_heartbeat(sessions: async_sessionmaker[AsyncSession]) -> dict[int, list[int]]:
    async with sessions() as session:
        rows = (await session.execute(text("SELECT heartbeat_id, id FROM incidents ORDER BY id"))).all()
    found: dict[int, list[int]] = {}
    for heartbeat_id, incident_id in rows:
        found.setdefault(heartbeat_id, []).append(incident_id)
    return found


async def test_racing_workers_open_exactly_one_incident_per_missed_heartbeat(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await seed_missed_heartbeats(sessions, HEARTBEATS)
    clock = FakeClock(LATE)
    opened: list[int] = []

    async def worker() -> None:
        while True:
            done = await HeartbeatCheck(SqlUnitOfWork(sessions), clock, PagingConfig()).run(batch_size=7)
            opened.append(done)
            if not done:
                return

    with anyio.fail_after(60):
        await asyncio.gather(*(worker() for _ in range(5)))
        await asyncio.gather(*(worker() for _ in range(5)))  # and again, at the same instant: nothing
    assert sum(opened) == HEARTBEATS
    incidents = await incidents_by_heartbeat(sessions)
    assert sorted(incidents) == sorted(seeded)
    assert all(len(ids) == 1 for ids in incidents.values())
    async with SqlUnitOfWork(sessions) as uow:
        for heartbeat_id in seeded:
            beat = await uow.heartbeats.get(heartbeat_id)
            assert beat is not None
            assert (beat.incident_id, beat.version) == (incidents[heartbeat_id][0], 1)  # claimed once
        pages = (await uow.session.execute(text("SELECT count(*) FROM notifications"))).scalar_one()
    assert pages == HEARTBEATS  # each incident paged the team's policy once


async def test_writers_that_skip_the_claim_still_cannot_open_two(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two transactions that read the heartbeat without locking it and both try to open its incident:
    the partial unique index (and the fenced heartbeat write) lets one commit and refuses the other."""
    (heartbeat_id,) = await seed_missed_heartbeats(sessions, 1)
    both_read = asyncio.Barrier(2)

    async def open_without_claim() -> int:
        async with SqlUnitOfWork(sessions) as uow:
            beat = await uow.heartbeats.get(heartbeat_id)
            assert beat is not None
            await both_read.wait()
            incident = await open_missed_heartbeat_incident(uow, PagingConfig(), beat, LATE)
            await uow.heartbeats.update(beat)
            await uow.commit()
            return incident.id

    with anyio.fail_after(20):
        results = await asyncio.gather(open_without_claim(), open_without_claim(), return_exceptions=True)
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], Conflict), results
    assert await incidents_by_heartbeat(sessions) == {heartbeat_id: won}


async def test_a_ping_waits_for_the_worker_holding_the_heartbeat_and_resolves_what_it_opened(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The ping locks the heartbeat row: it cannot slip between the worker's claim and its commit."""
    (heartbeat_id,) = await seed_missed_heartbeats(sessions, 1)
    async with SqlUnitOfWork(sessions) as uow:
        statement = text("UPDATE heartbeats SET token_hash = :hash WHERE id = :id")
        await uow.session.execute(statement, {"hash": hash_secret(SECRET), "id": heartbeat_id})
        await uow.commit()
    clock = FakeClock(LATE)
    claimed = asyncio.Event()
    release = asyncio.Event()

    async def slow_worker() -> None:
        async with SqlUnitOfWork(sessions) as uow:
            (beat,) = await uow.heartbeats.claim_missed(LATE, 10)
            claimed.set()
            await release.wait()
            await open_missed_heartbeat_incident(uow, PagingConfig(), beat, LATE)
            await uow.heartbeats.update(beat)
            await uow.commit()

    async def ping() -> None:
        await claimed.wait()
        heartbeats = Heartbeats(SqlUnitOfWork(sessions), clock, SequentialSecrets(), PagingConfig())
        pinging = asyncio.create_task(heartbeats.ping(SECRET))
        await asyncio.sleep(0.2)
        assert not pinging.done()  # waiting for the worker's lock
        release.set()
        await pinging

    with anyio.fail_after(20):
        await asyncio.gather(slow_worker(), ping())
    async with SqlUnitOfWork(sessions) as uow:
        beat = await uow.heartbeats.get(heartbeat_id)
        assert beat is not None and beat.incident_id is None and beat.last_ping_at == LATE
        (incident_id,) = (await incidents_by_heartbeat(sessions))[heartbeat_id]
        incident = await uow.incidents.get(incident_id)
        assert incident is not None and not incident.is_open

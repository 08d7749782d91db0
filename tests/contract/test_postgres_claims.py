"""Postgres claims under concurrency: claimers on separate connections never get the same row, and
a claimer that dies mid-transaction loses nothing (its locks and writes go with its connection)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import anyio
import pytest
from entity_builders import LEASE, T0, one_step_policy, page_for, stored_incident, stored_user
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sql import SqlUnitOfWork, create_session_factory
from incidentcore.model import Incident, NotificationStatus, TimelineEvent, TimelineKind
from incidentcore.ports import Page

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

DUE = T0 + timedelta(minutes=10)  # every seeded incident's next step (5 minutes after T0) is due


@pytest.fixture
def sql_backend() -> str:
    return "postgres"


@pytest.fixture
def sessions(sql_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(sql_engine)


async def seed_due_incidents(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    async with SqlUnitOfWork(sessions) as uow:
        user = await stored_user(uow)
        policy = await uow.policies.add(one_step_policy(user.id, delay_minutes=5, repeat=1))
        ids = []
        for _ in range(count):
            incident = await stored_incident(uow)
            incident.trigger(policy.snapshot(), T0, None)
            await uow.incidents.update(incident)
            ids.append(incident.id)
        await uow.commit()
    return ids


async def seed_due_pages(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    async with SqlUnitOfWork(sessions) as uow:
        incident = await stored_incident(uow)
        pages = await uow.notifications.add_new(
            [page_for(f"p{n}", incident_id=incident.id) for n in range(count)]
        )
        await uow.commit()
    return [page.id for page in pages]


async def kill(uow: SqlUnitOfWork, engine: AsyncEngine) -> None:
    """Terminates the unit of work's server connection, as if its worker process had died."""
    pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def test_two_claimers_never_claim_the_same_incident(sessions: async_sessionmaker[AsyncSession]) -> None:
    seeded = await seed_due_incidents(sessions, 20)
    with anyio.fail_after(10):
        async with SqlUnitOfWork(sessions) as first, SqlUnitOfWork(sessions) as second:
            mine = {i.id for i in await first.incidents.claim_due(DUE, 12)}
            theirs = {i.id for i in await second.incidents.claim_due(DUE, 20)}  # does not wait: skips
    assert len(mine) == 12
    assert len(theirs) == 8
    assert mine.isdisjoint(theirs)
    assert mine | theirs == set(seeded)


async def test_two_claimers_never_claim_the_same_notification(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await seed_due_pages(sessions, 20)
    with anyio.fail_after(10):
        async with SqlUnitOfWork(sessions) as first, SqlUnitOfWork(sessions) as second:
            mine = {n.id for n in await first.notifications.claim_due(T0, 12, LEASE)}
            theirs = {n.id for n in await second.notifications.claim_due(T0, 20, LEASE)}
    assert len(mine) == 12
    assert len(theirs) == 8
    assert mine.isdisjoint(theirs)
    assert mine | theirs == set(seeded)


async def test_racing_escalation_workers_advance_each_incident_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    seeded = await seed_due_incidents(sessions, 60)
    advanced: list[int] = []

    async def worker() -> None:
        while True:
            async with SqlUnitOfWork(sessions) as uow:
                batch = await uow.incidents.claim_due(DUE, 7)
                if not batch:
                    return
                for incident in batch:
                    incident.tick(DUE)
                    await uow.incidents.update(incident)
                    await asyncio.sleep(0)  # let the other workers interleave
                await uow.commit()
            advanced.extend(i.id for i in batch)

    with anyio.fail_after(30):
        await asyncio.gather(*(worker() for _ in range(4)))
    assert sorted(advanced) == sorted(seeded)
    async with SqlUnitOfWork(sessions) as uow:
        for incident_id in seeded:
            stored = await uow.incidents.get(incident_id)
            assert stored is not None
            assert stored.version == 2  # triggered, then ticked exactly once


async def test_racing_dispatchers_claim_each_page_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    seeded = await seed_due_pages(sessions, 60)
    claimed: list[int] = []

    async def dispatcher() -> None:
        while True:
            async with SqlUnitOfWork(sessions) as uow:
                batch = await uow.notifications.claim_due(T0, 7, LEASE)
                await asyncio.sleep(0)
                await uow.commit()
            if not batch:
                return
            claimed.extend(n.id for n in batch)

    with anyio.fail_after(30):
        await asyncio.gather(*(dispatcher() for _ in range(4)))
    assert sorted(claimed) == sorted(seeded)
    async with SqlUnitOfWork(sessions) as uow:
        stored = (await uow.notifications.list_for_incident(1, Page(limit=500))).items
    assert all(n.attempts == 1 and n.status is NotificationStatus.SENDING for n in stored)


async def test_a_killed_escalation_claimer_loses_nothing(
    sql_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seeded = await seed_due_incidents(sessions, 10)
    with anyio.fail_after(10):
        doomed = SqlUnitOfWork(sessions)
        async with doomed:
            claimed = await doomed.incidents.claim_due(DUE, 10)
            for incident in claimed:
                incident.tick(DUE)
                await doomed.incidents.update(incident)
            await kill(doomed, sql_engine)
            with pytest.raises(DBAPIError):
                await doomed.commit()

        async with SqlUnitOfWork(sessions) as survivor:
            reclaimed = await survivor.incidents.claim_due(DUE, 10)
    assert [i.id for i in claimed] == seeded
    assert [i.id for i in reclaimed] == seeded
    assert all(i.version == 1 for i in reclaimed)  # the dead claimer's updates never happened


async def test_a_killed_dispatcher_loses_nothing(
    sql_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    seeded = await seed_due_pages(sessions, 10)
    with anyio.fail_after(10):
        doomed = SqlUnitOfWork(sessions)
        async with doomed:
            claimed = await doomed.notifications.claim_due(T0, 10, LEASE)
            await kill(doomed, sql_engine)
            with pytest.raises(DBAPIError):
                await doomed.commit()

        async with SqlUnitOfWork(sessions) as survivor:
            reclaimed = await survivor.notifications.claim_due(T0, 10, LEASE)
            await survivor.commit()
    assert [n.id for n in claimed] == seeded
    assert [n.id for n in reclaimed] == seeded
    assert all(n.attempts == 1 and n.version == 1 for n in reclaimed)


async def test_a_dispatcher_killed_after_its_claim_committed_is_fenced_off(
    sql_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The claim was durable: the pages wait out their lease, then another dispatcher sends them;
    should the first come back, its results are refused."""
    await seed_due_pages(sessions, 3)
    doomed = SqlUnitOfWork(sessions)
    async with doomed:
        claimed = await doomed.notifications.claim_due(T0, 10, LEASE)
        await doomed.commit()
        async with SqlUnitOfWork(sessions) as too_early:
            assert await too_early.notifications.claim_due(T0 + LEASE - timedelta(seconds=1), 10, LEASE) == []
        async with SqlUnitOfWork(sessions) as survivor:
            retaken = await survivor.notifications.claim_due(T0 + LEASE, 10, LEASE)
            await survivor.commit()
        for notification in claimed:
            notification.mark_sent(T0 + LEASE + timedelta(seconds=1))
            assert not await doomed.notifications.record(notification)
        await doomed.commit()
    assert [n.id for n in retaken] == [n.id for n in claimed]
    assert all(n.attempts == 2 for n in retaken)


async def test_get_for_update_makes_a_second_writer_wait(sessions: async_sessionmaker[AsyncSession]) -> None:
    (incident_id,) = await seed_due_incidents(sessions, 1)
    async with SqlUnitOfWork(sessions) as first:
        locked = await first.incidents.get(incident_id, for_update=True)
        assert locked is not None

        async def second_writer() -> Incident | None:
            async with SqlUnitOfWork(sessions) as second:
                return await second.incidents.get(incident_id, for_update=True)

        waiting = asyncio.create_task(second_writer())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the row lock

        async with SqlUnitOfWork(sessions) as claimer:  # a claimer skips the locked row, never waits
            assert await claimer.incidents.claim_due(DUE, 10) == []

        locked.acknowledge(None, DUE)
        await first.incidents.update(locked)
        await first.commit()
        with anyio.fail_after(10):
            seen = await waiting
    assert seen == locked  # it reads the committed write, not the state it started waiting on


async def test_a_locked_incident_does_not_hold_up_rows_that_refer_to_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The dispatcher records pages and timeline events of incidents a resolver may hold locked."""
    (incident_id,) = await seed_due_incidents(sessions, 1)
    async with SqlUnitOfWork(sessions) as resolver:
        assert await resolver.incidents.get(incident_id, for_update=True) is not None
        with anyio.fail_after(5):
            async with SqlUnitOfWork(sessions) as dispatcher:
                await dispatcher.timeline.add_many([TimelineEvent(incident_id, TimelineKind.NOTIFIED, DUE)])
                await dispatcher.notifications.add_new([page_for("late", incident_id=incident_id)])
                await dispatcher.commit()

"""SQLite claims: one writer at a time. Each transaction takes the write lock at BEGIN IMMEDIATE, so
a second claimer waits (up to the busy timeout) and then sees what the first committed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import anyio
import pytest
from entity_builders import LEASE, T0, one_step_policy, page_for, stored_incident, stored_user
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import SqlUnitOfWork, create_session_factory
from incidentcore.model import Incident, Notification

pytestmark = pytest.mark.anyio

DUE = T0 + timedelta(minutes=10)


@pytest.fixture
def sql_backend() -> str:
    return "sqlite"


async def test_a_second_claimer_waits_for_the_first_and_claims_nothing_twice(sql_engine: AsyncEngine) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        user = await stored_user(uow)
        policy = await uow.policies.add(one_step_policy(user.id))
        incident = await stored_incident(uow)
        incident.trigger(policy.snapshot(), T0, None)
        await uow.incidents.update(incident)
        await uow.notifications.add_new([page_for("p1", incident_id=incident.id)])
        await uow.commit()

    async def second_claimer() -> tuple[list[Incident], list[Notification]]:
        async with SqlUnitOfWork(sessions) as uow:
            return await uow.incidents.claim_due(DUE, 10), await uow.notifications.claim_due(T0, 10, LEASE)

    async with SqlUnitOfWork(sessions) as first:
        (claimed,) = await first.incidents.claim_due(DUE, 10)
        (page,) = await first.notifications.claim_due(T0, 10, LEASE)
        waiting = asyncio.create_task(second_claimer())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the database's write lock

        claimed.tick(DUE)
        await first.incidents.update(claimed)
        await first.commit()
        with anyio.fail_after(10):
            incidents_seen, pages_seen = await waiting
    assert incidents_seen == []  # the first claimer's tick moved its timer on
    assert pages_seen == []  # the first claimer's lease holds the page
    assert page.attempts == 1

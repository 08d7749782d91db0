"""TimelineRepository: events with their data, oldest first (by time, then id)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_incident, stored_user

from incidentcore.model import TimelineEvent, TimelineKind
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


async def test_add_many_assigns_ids_in_order_and_keeps_data(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        actor = await stored_user(uow)
        incident = await stored_incident(uow)
        events = [
            TimelineEvent(
                incident.id, TimelineKind.CREATED, T0, None, {"severity": "high", "policy_id": None}
            ),
            TimelineEvent(
                incident.id,
                TimelineKind.ALERT,
                T0,
                None,
                {"alert": {"rule": {"id": "r-1"}, "tags": ["a", "b"], "ratio": 0.12, "ok": True}},
            ),
            TimelineEvent(incident.id, TimelineKind.ACKNOWLEDGED, T0 + timedelta(minutes=1), actor.id),
        ]
        await uow.timeline.add_many(events)
        await uow.timeline.add_many([])
        await uow.commit()

    ids = [e.id for e in events]
    assert all(i > 0 for i in ids)
    assert ids == sorted(ids)
    async with uow_factory() as uow:
        page = await uow.timeline.list_for_incident(incident.id, Page())
    assert page.items == events
    assert page.total == 3


async def test_oldest_first_by_time_then_id(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        incident = await stored_incident(uow)
        other = await stored_incident(uow)
        late = TimelineEvent(incident.id, TimelineKind.RESOLVED, T0 + timedelta(hours=1))
        early = TimelineEvent(incident.id, TimelineKind.CREATED, T0)
        same_time = TimelineEvent(incident.id, TimelineKind.ESCALATED, T0, data={"step_index": 0})
        await uow.timeline.add_many([late, early, same_time])
        await uow.timeline.add_many([TimelineEvent(other.id, TimelineKind.CREATED, T0)])
        await uow.commit()

    async with uow_factory() as uow:
        page = await uow.timeline.list_for_incident(incident.id, Page(limit=2))
    assert page.items == [early, same_time]
    assert page.total == 3


async def test_recent_by_actor_is_newest_first_within_the_window(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        bob = await stored_user(uow, "bob@example.com")
        incident = await stored_incident(uow)
        minute = timedelta(minutes=1)
        await uow.timeline.add_many(
            [
                TimelineEvent(incident.id, TimelineKind.CREATED, T0 - 5 * minute, ann.id),  # before the window
                TimelineEvent(incident.id, TimelineKind.CREATED, T0, ann.id),
                TimelineEvent(incident.id, TimelineKind.ESCALATED, T0 + 2 * minute, ann.id),
                TimelineEvent(incident.id, TimelineKind.COMMENTED, T0 + 3 * minute, ann.id),  # another kind
                TimelineEvent(incident.id, TimelineKind.ESCALATED, T0 + 4 * minute, bob.id),  # another actor
                TimelineEvent(incident.id, TimelineKind.ESCALATED, T0 + 5 * minute, None),  # the schedule
                TimelineEvent(incident.id, TimelineKind.ESCALATED, T0 + minute, ann.id),
            ]
        )
        await uow.commit()

    kinds = [TimelineKind.CREATED, TimelineKind.ESCALATED]
    async with uow_factory() as uow:
        assert await uow.timeline.recent_by_actor(ann.id, kinds, T0, 10) == [T0 + 2 * minute, T0 + minute, T0]
        assert await uow.timeline.recent_by_actor(ann.id, kinds, T0, 2) == [T0 + 2 * minute, T0 + minute]
        assert await uow.timeline.recent_by_actor(bob.id, kinds[:1], T0, 10) == []

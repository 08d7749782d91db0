"""TimelineRepository: events with their data, oldest first (by time, then id)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_incident, stored_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


async def test_nth_newest_by_actor_counts_its_kinds_within_the_window(uow_factory: UowFactory) -> None:
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
        newest = [await uow.timeline.nth_newest_by_actor(ann.id, kinds, T0, n) for n in (1, 2, 3, 4)]
        assert newest == [T0 + 2 * minute, T0 + minute, T0, None]
        assert await uow.timeline.nth_newest_by_actor(ann.id, kinds[:1], T0, 1) == T0
        assert await uow.timeline.nth_newest_by_actor(ann.id, kinds, T0 - 5 * minute, 4) == T0 - 5 * minute
        assert await uow.timeline.nth_newest_by_actor(bob.id, kinds[:1], T0, 1) is None
        assert await uow.timeline.nth_newest_by_actor(bob.id, kinds, T0, 1) == T0 + 4 * minute
        with pytest.raises(ValueError, match="from 1"):
            await uow.timeline.nth_newest_by_actor(ann.id, kinds, T0, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(min_value=-30, max_value=30), max_size=12),
    window_start=st.integers(min_value=-30, max_value=30),
    n=st.integers(min_value=1, max_value=14),
)
async def test_nth_newest_by_actor_is_the_nth_of_the_times_newest_first(
    uow_factory: UowFactory, offsets: list[int], window_start: int, n: int
) -> None:
    """Against the plain definition, duplicates of one instant included."""
    minute = timedelta(minutes=1)
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        incident = await stored_incident(uow)
        events = [TimelineEvent(incident.id, TimelineKind.CREATED, T0 + k * minute, ann.id) for k in offsets]
        await uow.timeline.add_many(events)
        since = T0 + window_start * minute
        found = await uow.timeline.nth_newest_by_actor(ann.id, [TimelineKind.CREATED], since, n)
    in_window = sorted((T0 + k * minute for k in offsets if k >= window_start), reverse=True)
    assert found == (in_window[n - 1] if len(in_window) >= n else None)

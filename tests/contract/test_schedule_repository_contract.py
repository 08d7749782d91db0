"""ScheduleRepository, OverrideRepository and CalendarFeedRepository on every backend.

Any schedule the strategies make (every zone, layers with restrictions and ends) reads back as stored;
overrides are found by closed windows, in one query for many schedules; a schedule's overrides and
feeds go with it; overrides keep their users, feeds go with theirs.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from entity_builders import T0, UowFactory, stored_team, stored_user
from hypothesis import HealthCheck, given, settings

from incidentcore.errors import Conflict, NotFound
from incidentcore.ports import Page, UnitOfWork
from incidentcore.schedules import (
    CalendarFeed,
    Layer,
    Override,
    Restriction,
    Schedule,
    TurnLength,
    TurnUnit,
    Weekday,
)
from incidentcore.testing.strategies import schedules

pytestmark = pytest.mark.anyio

HOUR = timedelta(hours=1)


def weekly(*participants: int, **fields: object) -> Schedule:
    layer = Layer(
        "primary",
        datetime(2026, 3, 23, 9, 0),
        TurnLength(TurnUnit.WEEKS, 1),
        participants,
        (
            Restriction(frozenset({Weekday.MON, Weekday.FRI}), time(9, 0), time(17, 30)),
            Restriction(None, time(22), time(6)),
        ),
        end=datetime(2027, 1, 1, 0, 0),
    )
    return Schedule("payments primary", "Europe/Berlin", (layer,), created_at=T0, **fields)  # type: ignore[arg-type]


def override(schedule_id: int, user_id: int, start: datetime, hours: int = 1, **fields: object) -> Override:
    return Override(user_id, start, start + hours * HOUR, T0, schedule_id=schedule_id, **fields)  # type: ignore[arg-type]


async def stored_schedule(uow: UnitOfWork, *participants: int, **fields: object) -> Schedule:
    return await uow.schedules.add(weekly(*participants, **fields))


async def test_add_get_list_update_delete(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        ann = await stored_user(uow)
        payments = await stored_schedule(uow, ann.id, ann.id, team_id=team.id, description="pager")
        teamless = await stored_schedule(uow, ann.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.schedules.get(payments.id) == payments
        assert await uow.schedules.get(999) is None
        assert await uow.schedules.get_many([teamless.id, 999, payments.id]) == [payments, teamless]
        assert await uow.schedules.get_many([]) == []
        first = await uow.schedules.list(None, Page(limit=1))
        assert (first.items, first.total) == ([payments], 2)
        assert (await uow.schedules.list(team.id, Page())).items == [payments]
        assert await uow.schedules.list_all() == [payments, teamless]
        assert await uow.schedules.list_all(team.id) == [payments]
        payments.name, payments.time_zone, payments.layers = "renamed", "Asia/Kolkata", ()
        await uow.schedules.update(payments)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.schedules.get(payments.id) == payments
        await uow.schedules.delete(teamless.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.schedules.get(teamless.id) is None
        with pytest.raises(NotFound):
            await uow.schedules.delete(teamless.id)
        with pytest.raises(NotFound):
            await uow.schedules.update(teamless)


async def test_a_schedule_of_a_team_that_does_not_exist_is_refused(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="team 999"):
            await stored_schedule(uow, team_id=999)


async def test_a_team_with_schedules_cannot_be_deleted(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        await stored_schedule(uow, team_id=team.id)
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match=r"schedules.* still reference the team"):
            await uow.teams.delete(team.id)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(schedule=schedules())
async def test_any_schedule_reads_back_as_stored(uow_factory: UowFactory, schedule: Schedule) -> None:
    """Layers (naive local starts and ends, restrictions with day sets and times) survive the JSON."""
    schedule.team_id, schedule.id, schedule.created_at = None, 0, T0  # participants are not checked here
    async with uow_factory() as uow:
        stored = await uow.schedules.add(schedule)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.schedules.get(stored.id) == stored


async def test_overrides_in_closed_windows_for_many_schedules_at_once(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        bob = await stored_user(uow, "bob@example.com")
        first = await stored_schedule(uow, ann.id)
        second = await stored_schedule(uow, ann.id)
        early = await uow.overrides.add(override(first.id, ann.id, T0, created_by_id=bob.id))  # T0 .. T0+1h
        late = await uow.overrides.add(override(first.id, bob.id, T0 + 3 * HOUR, hours=2))  # +3h .. +5h
        other = await uow.overrides.add(override(second.id, bob.id, T0 + HOUR))  # +1h .. +2h
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.overrides.get(early.id) == early
        assert await uow.overrides.get(999) is None
        window = uow.overrides.in_window
        assert await window([first.id, second.id], T0, None) == [early, late, other]
        assert await window([first.id], T0 + HOUR, T0 + 3 * HOUR) == [
            late
        ]  # ends after since, starts by until
        assert await window([first.id, second.id], T0 + HOUR, T0 + HOUR) == [other]
        assert await window([first.id], T0 - 2 * HOUR, T0 - HOUR) == []
        assert await window([], T0, None) == []
        listed = await uow.overrides.list(first.id, None, None, Page(limit=1))
        assert (listed.items, listed.total) == ([early], 2)
        assert (await uow.overrides.list(first.id, T0 + HOUR, None, Page())).items == [late]
        assert (await uow.overrides.list(first.id, None, T0, Page())).items == [early]
        await uow.overrides.delete(early.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.overrides.get(early.id) is None
        with pytest.raises(NotFound):
            await uow.overrides.delete(early.id)


@pytest.mark.parametrize("missing", ["schedule", "user"])
async def test_an_override_of_a_schedule_or_user_that_does_not_exist_is_refused(
    uow_factory: UowFactory, missing: str
) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        schedule = await stored_schedule(uow, ann.id)
        orphan = override(999, ann.id, T0) if missing == "schedule" else override(schedule.id, 999, T0)
        with pytest.raises(Conflict, match="does not exist"):
            await uow.overrides.add(orphan)


@pytest.mark.parametrize("part", ["user", "creator"])
async def test_overrides_keep_their_users(uow_factory: UowFactory, part: str) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        bob = await stored_user(uow, "bob@example.com")
        schedule = await stored_schedule(uow, bob.id)
        if part == "user":
            await uow.overrides.add(override(schedule.id, ann.id, T0, created_by_id=bob.id))
        else:
            await uow.overrides.add(override(schedule.id, bob.id, T0, created_by_id=ann.id))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match=r"schedule overrides.* still reference the user"):
            await uow.users.delete(ann.id)


async def test_calendar_feeds_by_owner_and_secret_hash(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        bob = await stored_user(uow, "bob@example.com")
        schedule = await stored_schedule(uow, ann.id)
        own = await uow.calendar_feeds.add(CalendarFeed(ann.id, "hash-1", T0))
        scheduled = await uow.calendar_feeds.add(CalendarFeed(ann.id, "hash-2", T0, schedule.id))
        bobs = await uow.calendar_feeds.add(CalendarFeed(bob.id, "hash-3", T0, schedule.id))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.calendar_feeds.get(scheduled.id) == scheduled
        assert await uow.calendar_feeds.get_by_token_hash("hash-3") == bobs
        assert await uow.calendar_feeds.get_by_token_hash("hash-4") is None
        listed = await uow.calendar_feeds.list_for_user(ann.id, Page(limit=1))
        assert (listed.items, listed.total) == ([own], 2)
        with pytest.raises(Conflict):
            await uow.calendar_feeds.add(CalendarFeed(bob.id, "hash-1", T0))
    async with uow_factory() as uow:
        await uow.calendar_feeds.delete(own.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.calendar_feeds.get(own.id) is None
        with pytest.raises(NotFound):
            await uow.calendar_feeds.delete(own.id)
        with pytest.raises(Conflict, match="does not exist"):
            await uow.calendar_feeds.add(CalendarFeed(ann.id, "hash-5", T0, 999))


async def test_a_schedules_overrides_and_feeds_go_with_it_and_a_users_feeds_with_the_user(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow)
        bob = await stored_user(uow, "bob@example.com")
        doomed = await stored_schedule(uow, ann.id)
        kept = await stored_schedule(uow, ann.id)
        gone = await uow.overrides.add(override(doomed.id, ann.id, T0))
        stays = await uow.overrides.add(override(kept.id, ann.id, T0))
        gone_feed = await uow.calendar_feeds.add(CalendarFeed(ann.id, "hash-1", T0, doomed.id))
        bobs_feed = await uow.calendar_feeds.add(CalendarFeed(bob.id, "hash-2", T0, kept.id))
        await uow.commit()
    async with uow_factory() as uow:
        await uow.schedules.delete(doomed.id)
        await uow.users.delete(bob.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.overrides.get(gone.id) is None
        assert await uow.overrides.get(stays.id) == stays
        assert await uow.calendar_feeds.get(gone_feed.id) is None
        assert await uow.calendar_feeds.get(bobs_feed.id) is None
        assert await uow.users.get_many([bob.id, ann.id]) == [ann]

"""On-call schedules: schedules and their overrides, who is on call, and calendar feeds of the shifts."""

from __future__ import annotations

import builtins  # `list` names a method of the use cases, so their annotations spell the type out
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from incidentcore.changes import UNSET, Unset, given
from incidentcore.errors import Conflict, FieldError, NotFound, ValidationFailed
from incidentcore.model import User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, Page, Paged, SecretGenerator, UnitOfWork
from incidentcore.schedules import (
    EARLIEST,
    CalendarFeed,
    Layer,
    OnCall,
    OnCallSource,
    Override,
    Schedule,
    Shift,
    TurnLength,
    check_instant,
    check_window,
    oncall,
    shifts,
)
from incidentcore.services.accounts import hash_secret

FEED_DAYS = timedelta(days=90)
"""How far ahead a calendar feed shows shifts."""

SHIFT_LOOKBACK = TurnLength.LONGEST
"""How far back a shift in progress is traced to its start (a turn lasts at most this long)."""


@dataclass(frozen=True)
class ScheduleChanges:
    """What may be edited on a schedule; `layers` replaces them all."""

    name: str | Unset = UNSET
    description: str | Unset | None = UNSET
    team_id: int | Unset | None = UNSET
    time_zone: str | Unset = UNSET
    layers: tuple[Layer, ...] | Unset = UNSET


@dataclass(frozen=True)
class NewOverride:
    """`user_id` on call from `start` to `end` (instants)."""

    user_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ScheduledShift:
    """A shift on a schedule, with the names a person reads."""

    schedule_id: int
    schedule_name: str
    user_name: str
    shift: Shift


@dataclass(frozen=True)
class OnCallShift:
    """`user_id` is on call on the schedule since `start` (traced at most `SHIFT_LOOKBACK` back) until
    `end` (None: for good)."""

    schedule_id: int
    user_id: int
    start: datetime
    end: datetime | None
    source: OnCallSource
    layer: int | None


def shift_in_progress(schedule: Schedule, overrides: Sequence[Override], at: datetime) -> OnCallShift | None:
    """Who is on call on `schedule` at `at`, since when and until when; None when nobody is.
    `overrides` must hold the schedule's overrides that end after `at - SHIFT_LOOKBACK`."""
    now = oncall(schedule, overrides, at)
    if now.source is None:
        return None
    start = at
    before = shifts(schedule, overrides, max(at - SHIFT_LOOKBACK, EARLIEST), at)
    if before and before[-1].end == at:
        last = before[-1]
        if (last.user_id, last.source, last.layer) == (now.user_ids[0], now.source, now.layer):
            start = last.start
    return OnCallShift(schedule.id, now.user_ids[0], start, now.until, now.source, now.layer)


def _by_schedule(overrides: Iterable[Override]) -> dict[int, list[Override]]:
    found: dict[int, list[Override]] = {}
    for override in overrides:
        found.setdefault(override.schedule_id, []).append(override)
    return found


class Schedules:
    """Anyone reads schedules; team leads and above of a schedule's team manage it and its overrides;
    any member of the team may put themselves on call with an override."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def create(self, actor: User, schedule: Schedule) -> Schedule:
        require(actor, Action.SCHEDULE_MANAGE, schedule)
        schedule.validate()
        async with self.uow:
            await self._check_references(schedule)
            schedule.created_at = self.clock.now()
            schedule = await self.uow.schedules.add(schedule)
            await self.uow.commit()
        return schedule

    async def list(self, actor: User, team_id: int | None, page: Page) -> Paged[Schedule]:
        require(actor, Action.SCHEDULE_READ)
        async with self.uow:
            return await self.uow.schedules.list(team_id, page)

    async def get(self, actor: User, schedule_id: int) -> Schedule:
        require(actor, Action.SCHEDULE_READ)
        async with self.uow:
            return await self._load(schedule_id)

    async def update(self, actor: User, schedule_id: int, changes: ScheduleChanges) -> Schedule:
        async with self.uow:
            current = await self._load(schedule_id)
            require(actor, Action.SCHEDULE_MANAGE, current)
            schedule = replace(current, **given(changes))
            require(actor, Action.SCHEDULE_MANAGE, schedule)  # moved to another team: the right there too
            schedule.validate()
            await self._check_references(schedule)
            await self.uow.schedules.update(schedule)
            await self.uow.commit()
        return schedule

    async def delete(self, actor: User, schedule_id: int) -> None:
        """Its overrides and calendar feeds go with it; refused while a policy pages it."""
        async with self.uow:
            schedule = await self._load(schedule_id)
            require(actor, Action.SCHEDULE_MANAGE, schedule)
            for policy in await self.uow.policies.list_all():
                if policy.pages_schedule(schedule_id):
                    raise Conflict(f"escalation policy {policy.id} ({policy.name}) pages this schedule")
            await self.uow.schedules.delete(schedule_id)
            await self.uow.commit()

    async def overrides(
        self, actor: User, schedule_id: int, since: datetime | None, until: datetime | None, page: Page
    ) -> Paged[Override]:
        """The schedule's overrides that end after `since` and start by `until` (either may be None)."""
        require(actor, Action.SCHEDULE_READ)
        since = None if since is None else check_instant("since", since)
        until = None if until is None else check_instant("until", until)
        if since is not None and until is not None and since >= until:
            raise ValidationFailed(FieldError("until", "must be after since"))
        async with self.uow:
            await self._load(schedule_id)
            return await self.uow.overrides.list(schedule_id, since, until, page)

    async def add_override(self, actor: User, schedule_id: int, new: NewOverride) -> Override:
        override = Override(
            new.user_id, new.start, new.end, self.clock.now(), schedule_id=schedule_id, created_by_id=actor.id
        )
        override.validate()
        async with self.uow:
            schedule = await self._load(schedule_id)
            require(actor, Action.SCHEDULE_OVERRIDE, schedule, for_themselves=new.user_id == actor.id)
            user = await self.uow.users.get(new.user_id)
            if user is None:
                raise ValidationFailed(FieldError("user_id", f"user {new.user_id} does not exist"))
            if not user.is_active:  # nobody would be paged: say so now, not at 3 a.m.
                raise ValidationFailed(FieldError("user_id", f"user {new.user_id} is deactivated"))
            override = await self.uow.overrides.add(override)
            await self.uow.commit()
        return override

    async def delete_override(self, actor: User, schedule_id: int, override_id: int) -> None:
        """Team leads delete any override; a member, one that they made to put themselves on call."""
        async with self.uow:
            schedule = await self._load(schedule_id)
            override = await self.uow.overrides.get(override_id)
            if override is None or override.schedule_id != schedule_id:
                raise NotFound(f"override {override_id} of schedule {schedule_id} does not exist")
            own = override.user_id == actor.id and override.created_by_id == actor.id
            require(actor, Action.SCHEDULE_OVERRIDE, schedule, for_themselves=own)
            await self.uow.overrides.delete(override_id)
            await self.uow.commit()

    async def oncall(self, actor: User, schedule_id: int, at: datetime | None) -> tuple[datetime, OnCall]:
        """Who is on call at `at` (default: now), and until when."""
        require(actor, Action.SCHEDULE_READ)
        at = self._instant(at)
        async with self.uow:
            schedule = await self._load(schedule_id)
            overrides = await self.uow.overrides.in_window([schedule_id], at, None)
        return at, oncall(schedule, overrides, at)

    async def shifts(
        self, actor: User, schedule_id: int, since: datetime, until: datetime
    ) -> builtins.list[Shift]:
        """The final schedule from `since` to `until` (at most 93 days)."""
        require(actor, Action.SCHEDULE_READ)
        since, until = check_window(since, until)
        async with self.uow:
            schedule = await self._load(schedule_id)
            overrides = await self.uow.overrides.in_window([schedule_id], since, until)
        return shifts(schedule, overrides, since, until)

    async def oncall_everywhere(
        self, actor: User, at: datetime | None, team_id: int | None, user_id: int | None
    ) -> tuple[datetime, builtins.list[OnCallShift]]:
        """Who is on call at `at` (default: now) on every schedule (of `team_id`), only `user_id` when
        given, by schedule. Two queries in all."""
        require(actor, Action.SCHEDULE_READ)
        at = self._instant(at)
        async with self.uow:
            schedules = await self.uow.schedules.list_all(team_id)
            since = max(at - SHIFT_LOOKBACK, EARLIEST)
            overrides = _by_schedule(
                await self.uow.overrides.in_window([s.id for s in schedules], since, None)
            )
        found = [
            shift
            for schedule in schedules
            if (shift := shift_in_progress(schedule, overrides.get(schedule.id, []), at)) is not None
            and (user_id is None or shift.user_id == user_id)
        ]
        return at, found

    def _instant(self, at: datetime | None) -> datetime:
        return self.clock.now() if at is None else check_instant("at", at)

    async def _load(self, schedule_id: int) -> Schedule:
        schedule = await self.uow.schedules.get(schedule_id)
        if schedule is None:
            raise NotFound(f"schedule {schedule_id} does not exist")
        return schedule

    async def _check_references(self, schedule: Schedule) -> None:
        errors: list[FieldError] = []
        if schedule.team_id is not None and await self.uow.teams.get(schedule.team_id) is None:
            errors.append(FieldError("team_id", f"team {schedule.team_id} does not exist"))
        known = {user.id for user in await self.uow.users.get_many(sorted(schedule.participant_ids))}
        for i, layer in enumerate(schedule.layers):
            for j, user_id in enumerate(layer.participants):
                if user_id not in known:
                    errors.append(
                        FieldError(f"layers[{i}].participants[{j}]", f"user {user_id} does not exist")
                    )
        if errors:
            raise ValidationFailed(errors)


@dataclass(frozen=True)
class FeedShifts:
    """What a calendar feed shows at `at`: its `name`, and its shifts from the one in progress to 90
    days on, by start."""

    feed: CalendarFeed
    name: str
    shifts: list[ScheduledShift]
    at: datetime


class CalendarFeeds:
    """Calendar subscriptions to on-call shifts. The feed's URL holds a secret, shown once; only its
    hash is stored, and revoking the feed ends access at once. A deactivated owner's feeds stop too."""

    def __init__(self, uow: UnitOfWork, clock: Clock, secrets: SecretGenerator) -> None:
        self.uow = uow
        self.clock = clock
        self.secrets = secrets

    async def create(self, actor: User, schedule_id: int | None) -> tuple[CalendarFeed, str]:
        """A feed of `schedule_id`'s shifts, or with None of the actor's own on every schedule; with
        the secret its URL holds."""
        require(actor, Action.SCHEDULE_READ)
        secret = self.secrets.new_secret()
        async with self.uow:
            if schedule_id is not None and await self.uow.schedules.get(schedule_id) is None:
                raise ValidationFailed(FieldError("schedule_id", f"schedule {schedule_id} does not exist"))
            feed = CalendarFeed(actor.id, hash_secret(secret), self.clock.now(), schedule_id)
            feed = await self.uow.calendar_feeds.add(feed)
            await self.uow.commit()
        return feed, secret

    async def list(self, actor: User, page: Page) -> Paged[CalendarFeed]:
        """The actor's own feeds."""
        require(actor, Action.SELF_MANAGE)
        async with self.uow:
            return await self.uow.calendar_feeds.list_for_user(actor.id, page)

    async def revoke(self, actor: User, feed_id: int) -> None:
        require(actor, Action.SELF_MANAGE)
        async with self.uow:
            feed = await self.uow.calendar_feeds.get(feed_id)
            if feed is None or feed.user_id != actor.id:
                raise NotFound(f"calendar feed {feed_id} does not exist")
            await self.uow.calendar_feeds.delete(feed_id)
            await self.uow.commit()

    async def read(self, secret: str) -> FeedShifts:
        """The shifts of the feed whose URL holds `secret` (no other credential)."""
        async with self.uow:
            feed = await self.uow.calendar_feeds.get_by_token_hash(hash_secret(secret)) if secret else None
            owner = await self.uow.users.get(feed.user_id) if feed is not None else None
            if feed is None or owner is None or not owner.is_active:
                raise NotFound("no such calendar feed: it was revoked, or the URL is wrong")
            if feed.schedule_id is not None:
                schedules = await self.uow.schedules.get_many([feed.schedule_id])
            else:  # an override may put the owner on call on any schedule
                schedules = await self.uow.schedules.list_all()
            now = self.clock.now()
            # From a day boundary, so that the feed is the same all day and a shift in progress keeps its
            # start (and its UID) from one fetch to the next.
            since = max(datetime.combine((now - SHIFT_LOOKBACK).date(), time(), UTC), EARLIEST)
            until = now + FEED_DAYS
            overrides = _by_schedule(
                await self.uow.overrides.in_window([s.id for s in schedules], since, until)
            )
            found = [
                (schedule, shift)
                for schedule in schedules
                for shift in shifts(schedule, overrides.get(schedule.id, []), since, until)
                if shift.end > now and (feed.schedule_id is not None or shift.user_id == owner.id)
            ]
            users = await self.uow.users.get_many(sorted({shift.user_id for _, shift in found}))
        names = {user.id: user.full_name for user in users}
        scheduled = [
            ScheduledShift(
                schedule.id, schedule.name, names.get(shift.user_id, f"user {shift.user_id}"), shift
            )
            for schedule, shift in found
        ]
        scheduled.sort(key=lambda s: (s.shift.start, s.schedule_id))
        name = f"On call: {schedules[0].name}" if feed.schedule_id is not None and schedules else None
        return FeedShifts(feed, name or f"On call: {owner.full_name}", scheduled, now)

"""On-call schedules: who is on call at an instant, and the final schedule over a window.

A `Schedule` has an IANA time zone and ordered `Layer`s. Each layer hands its participants turns of a
fixed length from its start, optionally only inside weekly restriction windows, until its optional
end. An `Override` puts one user on call for a UTC interval. `oncall` and `shifts` are pure functions
of a schedule, its overrides and the instants asked about.

Precedence: an override wins (the latest created where overrides overlap); else the highest layer
(the last in the list) that has someone on call at that instant. A layer outside its restriction
windows has nobody on call, so the layers below it show through.

Time rules:

- Instants in and out are timezone-aware; results are in UTC. A naive instant is refused.
- A layer's start and end, restriction times and handoffs are local wall-clock times in the
  schedule's zone. A local time that does not exist (spring gap) means the first instant after the
  gap; an ambiguous one (autumn fold) means its first occurrence.
- Turns are counted on the wall clock for every unit, hours included: handoff `k` is at local time
  `start + k * turn length`. A weekly Monday 09:00 handoff stays at 09:00 (the turn that spans a
  change lasts 167 or 169 hours), and a 12-hour rotation handing off at 08:00 and 20:00 keeps doing
  so (that turn lasts 11 or 13 hours). GoAlert aligns hourly rotations to the wall clock for the
  same reason: a rotation that drifts an hour after a change is a bug users report. A turn whose
  start and end fall in the same gap lasts no time, and its participant is skipped that once.
- A restriction window opens at `start_time` on each of its `days` (every day when `days` is None)
  and closes at `end_time`: the same day, the next day when `end_time` is earlier, and 24 hours
  after the opening when the two are equal (so 00:00-00:00 is the whole day).

Cost: `oncall` does arithmetic on local wall time (the turn index is the wall-clock time since the
start divided by the turn length) and looks at the overrides passed in, so it costs the same ten
years after a layer's start as on its first day.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from heapq import heappop, heappush
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from incidentcore.errors import FieldError, ValidationFailed
from incidentcore.validation import check_text

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_WINDOW",
    "CalendarFeed",
    "Layer",
    "OnCall",
    "OnCallSource",
    "Override",
    "Restriction",
    "Schedule",
    "Shift",
    "TurnLength",
    "TurnUnit",
    "Weekday",
    "check_instant",
    "check_window",
    "oncall",
    "parse_time_of_day",
    "shifts",
]

MAX_WINDOW = timedelta(days=93)
"""The longest window `check_window` accepts for a shifts query."""

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""Instants, layer starts and ends must be on or after this (the arithmetic stays far from year 1)."""

LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Instants, layer starts and ends must be before this (the arithmetic stays far from year 9999)."""

_MINUTE = timedelta(minutes=1)
_MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


class TurnUnit(StrEnum):
    """The unit a layer's turn length is counted in."""

    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


_UNIT_LENGTH = {
    TurnUnit.HOURS: timedelta(hours=1),
    TurnUnit.DAYS: timedelta(days=1),
    TurnUnit.WEEKS: timedelta(weeks=1),
}


class Weekday(StrEnum):
    """A day of the week, as restrictions name it."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """0 for Monday to 6 for Sunday, as `date.weekday()` counts."""
        return _WEEKDAY_NUMBER[self]


_WEEKDAY_NUMBER = {day: number for number, day in enumerate(Weekday)}


@dataclass(frozen=True)
class TurnLength:
    """How long each turn lasts: `count` hours, days or weeks of local wall-clock time."""

    unit: TurnUnit
    count: int

    SHORTEST = timedelta(hours=1)
    LONGEST = timedelta(weeks=12)

    @property
    def wall_clock(self) -> timedelta:
        """The turn's length on the local wall clock (DST changes make the real length differ)."""
        return _UNIT_LENGTH[self.unit] * self.count

    @property
    def max_count(self) -> int:
        """The largest `count` the unit allows (12 weeks)."""
        return self.LONGEST // _UNIT_LENGTH[self.unit]

    def errors(self, where: str) -> list[FieldError]:
        """What is wrong with the turn length; `where` prefixes the field names (e.g. `layers[0].`)."""
        if self.unit not in _UNIT_LENGTH:
            return [FieldError(f"{where}turn_length.unit", "must be one of hours, days, weeks")]
        if not 1 <= self.count <= self.max_count:
            return [
                FieldError(
                    f"{where}turn_length.count",
                    f"must be between 1 and {self.max_count} {self.unit} (a turn lasts 1 hour to 12 weeks)",
                )
            ]
        return []


@dataclass(frozen=True)
class Restriction:
    """A weekly window when a layer is on call: from `start_time` on each of `days` (every day when
    None) to `end_time` the same day, the next day when earlier, or 24 hours later when equal."""

    days: frozenset[Weekday] | None
    start_time: time
    end_time: time

    @property
    def minutes(self) -> int:
        """How long each window lasts on the wall clock, in minutes (1 to 1440)."""
        start = self.start_time.hour * 60 + self.start_time.minute
        end = self.end_time.hour * 60 + self.end_time.minute
        return (end - start) % _MINUTES_PER_DAY or _MINUTES_PER_DAY

    def errors(self, where: str) -> list[FieldError]:
        """What is wrong with the restriction; `where` prefixes the field names."""
        errors = []
        if self.days is not None and not self.days:
            errors.append(FieldError(f"{where}days", "name at least one day, or null for every day"))
        for name, value in (("start_time", self.start_time), ("end_time", self.end_time)):
            if value.tzinfo is not None or value.second or value.microsecond:
                errors.append(FieldError(f"{where}{name}", "must be a local time of day as HH:MM"))
        return errors


@dataclass
class Layer:
    """A rotation: from `start` (local, naive), `participants` take turns of `turn_length` in order
    (a user may appear more than once), on call only inside `restrictions` when there are any, until
    `end` (local, naive) when set."""

    name: str
    start: datetime
    turn_length: TurnLength
    participants: tuple[int, ...]
    restrictions: tuple[Restriction, ...] = ()
    end: datetime | None = None

    NAME_MAX = 200
    MAX_PARTICIPANTS = 100
    MAX_RESTRICTIONS = 50

    def validate(self, where: str = "") -> None:
        """Raises `ValidationFailed` naming every bad field, each prefixed with `where` (`layers[0]`)."""
        prefix = f"{where}." if where else ""
        errors: list[FieldError] = []
        try:
            check_text(f"{prefix}name", self.name, self.NAME_MAX, required=True)
        except ValidationFailed as invalid:
            errors += invalid.errors
        errors += _local_time_errors(f"{prefix}start", self.start)
        if self.end is not None:
            end_errors = _local_time_errors(f"{prefix}end", self.end)
            if not end_errors and self.start.tzinfo is None and self.end <= self.start:
                end_errors.append(FieldError(f"{prefix}end", "must be after the layer's start"))
            errors += end_errors
        errors += self.turn_length.errors(prefix)
        if not self.participants:
            errors.append(FieldError(f"{prefix}participants", "a layer needs at least one participant"))
        elif len(self.participants) > self.MAX_PARTICIPANTS:
            errors.append(
                FieldError(f"{prefix}participants", f"at most {self.MAX_PARTICIPANTS} participants")
            )
        for i, user_id in enumerate(self.participants):
            if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id < 1:
                errors.append(FieldError(f"{prefix}participants[{i}]", "must be a user id"))
        if len(self.restrictions) > self.MAX_RESTRICTIONS:
            errors.append(
                FieldError(f"{prefix}restrictions", f"at most {self.MAX_RESTRICTIONS} restrictions")
            )
        for i, restriction in enumerate(self.restrictions):
            errors += restriction.errors(f"{prefix}restrictions[{i}].")
        if errors:
            raise ValidationFailed(errors)


@dataclass
class Schedule:
    """Who is on call, as layers of rotations in one IANA time zone (`time_zone`, e.g. Europe/Berlin)."""

    name: str
    time_zone: str
    layers: tuple[Layer, ...] = ()
    description: str | None = None
    team_id: int | None = None
    created_at: datetime | None = None
    id: int = 0

    NAME_MAX = 200
    DESCRIPTION_MAX = 2000
    MAX_LAYERS = 20

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone (valid once `validate()` passed)."""
        return ZoneInfo(self.time_zone)

    @property
    def participant_ids(self) -> set[int]:
        """Every user in any layer's rotation."""
        return {user_id for layer in self.layers for user_id in layer.participants}

    def validate(self) -> None:
        """Raises `ValidationFailed` naming every bad field, layers' fields as `layers[0].start`."""
        errors: list[FieldError] = []
        for name, value, maximum, multiline in (
            ("name", self.name, self.NAME_MAX, False),
            ("description", self.description, self.DESCRIPTION_MAX, True),
        ):
            try:
                check_text(name, value, maximum, required=name == "name", multiline=multiline)
            except ValidationFailed as invalid:
                errors += invalid.errors
        if self.time_zone not in _known_time_zones():
            errors.append(
                FieldError(
                    "time_zone", f"unknown time zone {self.time_zone!r}: use an IANA name like Europe/Berlin"
                )
            )
        if len(self.layers) > self.MAX_LAYERS:
            errors.append(FieldError("layers", f"at most {self.MAX_LAYERS} layers"))
        for i, layer in enumerate(self.layers):
            try:
                layer.validate(f"layers[{i}]")
            except ValidationFailed as invalid:
                errors += invalid.errors
        if errors:
            raise ValidationFailed(errors)


@dataclass
class Override:
    """`user_id` is on call from `start` to `end` (instants), above every layer of the schedule.

    Where overrides overlap, the one created last wins (`created_at`, then `id`, breaks the tie)."""

    user_id: int
    start: datetime
    end: datetime
    created_at: datetime
    schedule_id: int = 0
    created_by_id: int | None = None
    id: int = 0

    def validate(self) -> None:
        """Raises `ValidationFailed` when an instant is naive or out of range, or `end` is not after `start`."""
        errors = _instant_errors("start", self.start) + _instant_errors("end", self.end)
        if not errors and self.end <= self.start:
            errors.append(FieldError("end", "must be after start"))
        if errors:
            raise ValidationFailed(errors)


@dataclass
class CalendarFeed:
    """A calendar subscription of `user_id`'s: the shifts of `schedule_id`, or with None the user's own
    shifts on every schedule. Its URL holds a secret; only the secret's hash is stored."""

    user_id: int
    token_hash: str
    created_at: datetime
    schedule_id: int | None = None
    id: int = 0


class OnCallSource(StrEnum):
    """Where an on-call answer comes from."""

    OVERRIDE = "override"
    LAYER = "layer"


@dataclass(frozen=True)
class OnCall:
    """Who is on call at an instant: `user_ids` (empty, or the one user), from an override or from
    layer index `layer`, and `until`, the next instant the answer changes (None: it never does)."""

    user_ids: list[int]
    source: OnCallSource | None
    layer: int | None
    until: datetime | None


@dataclass(frozen=True)
class Shift:
    """`user_id` is on call from `start` to `end`, from an override or from layer index `layer`."""

    user_id: int
    start: datetime
    end: datetime
    source: OnCallSource
    layer: int | None


def oncall(schedule: Schedule, overrides: Iterable[Override], at: datetime) -> OnCall:
    """Who is on call at `at`, and until when.

    `OnCall.until` is exact: the answer (user, source, layer) is the same at every instant of
    [at, until) and differs at until. For that, `overrides` must hold every override of the schedule
    that ends after `at` (others are ignored); the schedule must have passed `Schedule.validate`.
    """
    at = _utc("at", at)
    return _FinalSchedule(schedule, overrides, after=at, before=None).at(at)


def shifts(
    schedule: Schedule, overrides: Iterable[Override], since: datetime, until: datetime
) -> list[Shift]:
    """The final schedule from `since` to `until`: who is on call when, adjacent equal shifts merged,
    the first and last clipped to the window; gaps where nobody is on call have no shift.

    The window length is not limited here (see `check_window` for the API's limit); an empty or
    inverted window has no shifts.
    """
    since, until = _utc("since", since), _utc("until", until)
    final = _FinalSchedule(schedule, overrides, after=since, before=until)
    found: list[Shift] = []
    here = since
    while here < until:
        answer = final.at(here)
        end = until if answer.until is None else min(answer.until, until)
        if answer.source is not None:
            found.append(Shift(answer.user_ids[0], here, end, answer.source, answer.layer))
        here = end
    return found


def check_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The window as UTC instants; refuses naive instants, `since` not before `until`, and a window
    longer than `MAX_WINDOW` (93 days)."""
    errors = _instant_errors("since", since) + _instant_errors("until", until)
    if not errors:
        if since >= until:
            errors.append(FieldError("until", "must be after since"))
        elif until - since > MAX_WINDOW:
            errors.append(FieldError("until", f"the window may span at most {MAX_WINDOW.days} days"))
    if errors:
        raise ValidationFailed(errors)
    return since.astimezone(UTC), until.astimezone(UTC)


def check_instant(field: str, value: datetime) -> datetime:
    """`value` in UTC; refuses a naive instant or one out of range, naming `field`."""
    return _utc(field, value)


def parse_time_of_day(text: str, field: str) -> time:
    """A restriction time from its wire form `HH:MM` (00:00 to 23:59); `field` names it in the error."""
    match = _TIME_OF_DAY.fullmatch(text)
    if match is None:
        raise ValidationFailed(FieldError(field, "must be a time of day as HH:MM, 00:00 to 23:59"))
    return time(int(match.group(1)), int(match.group(2)))


# ---------------------------------------------------------------------------------------- validation


@lru_cache(maxsize=1)
def _known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _local_time_errors(field: str, value: datetime) -> list[FieldError]:
    if value.tzinfo is not None:
        return [
            FieldError(field, "must be a local date-time without an offset (the schedule's zone applies)")
        ]
    if value.second or value.microsecond:
        return [FieldError(field, "must be a whole minute")]
    if not EARLIEST.replace(tzinfo=None) <= value < LATEST.replace(tzinfo=None):
        return [FieldError(field, f"must be in the years {EARLIEST.year} to {LATEST.year - 1}")]
    return []


def _instant_errors(field: str, value: datetime) -> list[FieldError]:
    if value.tzinfo is None or value.utcoffset() is None:
        return [FieldError(field, "must be an instant with a UTC offset, e.g. 2026-03-29T09:00:00Z")]
    if not EARLIEST <= value < LATEST:
        return [FieldError(field, f"must be in the years {EARLIEST.year} to {LATEST.year - 1}")]
    return []


def _utc(field: str, value: datetime) -> datetime:
    errors = _instant_errors(field, value)
    if errors:
        raise ValidationFailed(errors)
    return value.astimezone(UTC)


# ------------------------------------------------------------------------------------- wall-clock time


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The local wall-clock reading of `instant` (naive)."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a whole-minute local wall-clock time means: its first occurrence when the clocks
    went back, the first instant after the gap when they went forward past it."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first
    # In a gap, fold=0 reads the time with the offset from before the change and fold=1 with the one
    # from after it, so the change lies between the two readings; offsets change on whole seconds.
    before = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = int(first.timestamp())
    offset_after = first.astimezone(zone).utcoffset()
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _earliest(*instants: datetime | None) -> datetime | None:
    known = [i for i in instants if i is not None]
    return min(known) if known else None


@lru_cache(maxsize=1024)
def _weekly_windows(restrictions: tuple[Restriction, ...]) -> tuple[tuple[int, int], ...] | None:
    """The restriction windows as disjoint, non-touching minute ranges of a week from Monday 00:00
    (the last may run into the next week), or None when they leave no minute uncovered."""
    if not restrictions:
        return None
    pieces = []
    for restriction in restrictions:
        opens = restriction.start_time.hour * 60 + restriction.start_time.minute
        days = range(7) if restriction.days is None else [day.number for day in restriction.days]
        for day in days:
            # The weeks before and after too, so that windows crossing the week's end merge right.
            for week in (-_MINUTES_PER_WEEK, 0, _MINUTES_PER_WEEK):
                start = week + day * _MINUTES_PER_DAY + opens
                pieces.append((start, start + restriction.minutes))
    pieces.sort()
    merged: list[list[int]] = []
    for start, end in pieces:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if any(start <= 0 and end >= _MINUTES_PER_WEEK for start, end in merged):
        return None
    return tuple((start, end) for start, end in merged if 0 <= start < _MINUTES_PER_WEEK)


# ----------------------------------------------------------------------------------- the computation


@dataclass(frozen=True)
class _On:
    """The layer has `user_id` on call, and keeps the same user on call until `until` (None: forever)."""

    user_id: int
    until: datetime | None


@dataclass(frozen=True)
class _Off:
    """The layer has nobody on call until `until` (None: never again)."""

    until: datetime | None


class _Rotation:
    """One layer's rotation in its schedule's zone: handoff instants, windows, who is on when."""

    def __init__(self, layer: Layer, zone: ZoneInfo) -> None:
        self.zone = zone
        self.start = layer.start
        self.turn = layer.turn_length.wall_clock
        self.participants = tuple(layer.participants)
        self.one_user = len(set(self.participants)) == 1
        self.windows = _weekly_windows(tuple(layer.restrictions))
        self.window_ends = [end for _, end in self.windows or ()]
        self.first = self.handoff(0)
        self.end = None if layer.end is None else _instant(layer.end, zone)

    def handoff(self, turn: int) -> datetime:
        """The instant turn `turn` (0 = the first) begins."""
        return _instant(self.start + self.turn * turn, self.zone)

    def state(self, at: datetime) -> _On | _Off:
        """Who the layer has on call at `at` and until when, or when it next has someone."""
        if self.end is not None and at >= self.end:
            return _Off(None)
        if at < self.first:
            return _Off(self._first_on_from(self.first))
        stretch_end = None
        if self.windows is not None:
            inside, boundary = self._window(at)
            if not inside:
                return _Off(self._before_end(boundary))
            stretch_end = boundary
        turn = self._turn_at(at)
        user_id = self.participants[turn % len(self.participants)]
        return _On(user_id, _earliest(stretch_end, self._next_handoff_to_another(turn, user_id), self.end))

    def _before_end(self, instant: datetime) -> datetime | None:
        return instant if self.end is None or instant < self.end else None

    def _first_on_from(self, instant: datetime) -> datetime | None:
        if self.windows is not None:
            inside, boundary = self._window(instant)
            if not inside:
                instant = boundary
        return self._before_end(instant)

    def _turn_at(self, at: datetime) -> int:
        # Handoff k is at wall time start + k * turn, and wall time only moves forward except in a
        # fold, so this estimate is never too late and at most a fold's worth of turns too early.
        turn = max(0, (_wall(at, self.zone) - self.start) // self.turn)
        while self.handoff(turn + 1) <= at:
            turn += 1
        return turn

    def _next_handoff_to_another(self, turn: int, user_id: int) -> datetime | None:
        """When a turn of someone else than `user_id` begins after `turn` (turns lasting no time skipped)."""
        if self.one_user:
            return None
        following = turn + 1
        begins = self.handoff(following)
        while True:
            ends = self.handoff(following + 1)
            if begins < ends and self.participants[following % len(self.participants)] != user_id:
                return begins
            following, begins = following + 1, ends

    def _window(self, at: datetime) -> tuple[bool, datetime]:
        """Whether `at` is inside the restriction windows, and when that stretch of windows ends
        (inside) or the next one opens (outside)."""
        windows = self.windows
        assert windows is not None
        wall = _wall(at, self.zone)
        monday = datetime.combine(wall.date() - timedelta(days=wall.weekday()), time())
        minute = (wall - monday) / _MINUTE
        # Windows whose wall-clock close is not after `wall` closed before `at`: start at the first
        # other one (last week's windows may run into this week).
        week, index = -1, bisect_right(self.window_ends, minute + _MINUTES_PER_WEEK)
        if index == len(windows):
            week, index = 0, bisect_right(self.window_ends, minute)
        occurrences = self._occurrences(monday.date(), week, index)
        for opens, closes in occurrences:
            if closes > at and opens < closes:  # skip those a fold or a gap moved to or before `at`
                break
        if opens > at:
            return False, opens
        # Windows that touch once resolved (a gap may close the space between two) make one stretch.
        for following_opens, following_closes in occurrences:
            if following_opens > closes:
                break
            closes = max(closes, following_closes)
        return True, closes

    def _occurrences(self, monday: date, week: int, index: int) -> Iterator[tuple[datetime, datetime]]:
        """The restriction windows from window `index` of the week `week` weeks after `monday`, as instants."""
        windows = self.windows
        assert windows is not None
        while True:
            if index == len(windows):
                week, index = week + 1, 0
            opens, closes = windows[index]
            week_start = datetime.combine(monday + timedelta(weeks=week), time())
            yield (
                _instant(week_start + opens * _MINUTE, self.zone),
                _instant(week_start + closes * _MINUTE, self.zone),
            )
            index += 1


class _OverrideRuns:
    """The overrides reduced to who wins when: disjoint runs, each of one user, none touching another
    of the same user."""

    def __init__(self, overrides: Iterable[Override], after: datetime, before: datetime | None) -> None:
        relevant = []
        for i, override in enumerate(overrides):
            start = _utc(f"overrides[{i}].start", override.start)
            end = _utc(f"overrides[{i}].end", override.end)
            if end > after and (before is None or start < before) and start < end:
                relevant.append((override.created_at, override.id, start, end, override.user_id))
        relevant.sort()  # by creation: a higher index wins
        by_start = sorted(range(len(relevant)), key=lambda i: relevant[i][2])
        boundaries = sorted({r[2] for r in relevant} | {r[3] for r in relevant})
        covering: list[tuple[int, datetime, int]] = []  # heap of (-rank, end, user_id)
        self.starts: list[datetime] = []
        self.ends: list[datetime] = []
        self.user_ids: list[int] = []
        waiting = 0
        for here, following in pairwise(boundaries):
            while waiting < len(by_start) and relevant[by_start[waiting]][2] <= here:
                rank = by_start[waiting]
                heappush(covering, (-rank, relevant[rank][3], relevant[rank][4]))
                waiting += 1
            while covering and covering[0][1] <= here:
                heappop(covering)
            if not covering:
                continue
            user_id = covering[0][2]
            if self.ends and self.ends[-1] == here and self.user_ids[-1] == user_id:
                self.ends[-1] = following
            else:
                self.starts.append(here)
                self.ends.append(following)
                self.user_ids.append(user_id)

    def at(self, at: datetime) -> tuple[int, datetime] | None:
        """The winning override's user at `at` and the end of their run, or None."""
        i = bisect_right(self.starts, at) - 1
        if i >= 0 and at < self.ends[i]:
            return self.user_ids[i], self.ends[i]
        return None

    def next_start(self, at: datetime) -> datetime | None:
        """When the next run after `at` begins."""
        i = bisect_right(self.starts, at)
        return self.starts[i] if i < len(self.starts) else None


class _FinalSchedule:
    """Answers `oncall` for a schedule and its overrides; remembers each layer's state while it holds,
    so that walking forward through a window recomputes a layer only at its own changes."""

    def __init__(
        self, schedule: Schedule, overrides: Iterable[Override], after: datetime, before: datetime | None
    ) -> None:
        zone = schedule.zone
        self.rotations = [_Rotation(layer, zone) for layer in schedule.layers]
        self.overrides = _OverrideRuns(overrides, after, before)
        self.known: list[tuple[datetime, _On | _Off] | None] = [None] * len(self.rotations)

    def at(self, at: datetime) -> OnCall:
        won = self.overrides.at(at)
        if won is not None:
            user_id, run_end = won
            return OnCall([user_id], OnCallSource.OVERRIDE, None, run_end)
        # The answer holds until an override begins, a higher layer gets someone on call, or the
        # layer on call changes its user or goes off.
        until = self.overrides.next_start(at)
        for index in reversed(range(len(self.rotations))):
            state = self._state(index, at)
            until = _earliest(until, state.until)
            if isinstance(state, _On):
                return OnCall([state.user_id], OnCallSource.LAYER, index, until)
        return OnCall([], None, None, until)

    def _state(self, index: int, at: datetime) -> _On | _Off:
        known = self.known[index]
        if known is not None:
            since, state = known
            if since <= at and (state.until is None or at < state.until):
                return state
        state = self.rotations[index].state(at)
        self.known[index] = (at, state)
        return state

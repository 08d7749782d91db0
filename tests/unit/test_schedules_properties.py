"""Properties of `incidentcore.schedules`, proved with hypothesis over every time zone the system knows.

The reference below answers "who is on call" the slow, obvious way: it steps through a layer's
handoffs one by one from its start, checks restriction windows day by day, and resolves gaps by
walking the clock forward. The module must agree with it, with itself (oncall vs shifts, split
windows), and with the rules: no gaps or overlaps, turns in order, handoffs at the same wall time,
and an exact `until`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import assume, given
from hypothesis import strategies as st

from incidentcore.schedules import (
    LATEST,
    Layer,
    OnCall,
    OnCallSource,
    Override,
    Restriction,
    Schedule,
    Shift,
    TurnLength,
    TurnUnit,
    Weekday,
    oncall,
    shifts,
)
from incidentcore.testing.strategies import overrides, schedules, time_zones, turn_lengths

MICROSECOND = timedelta(microseconds=1)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
TEN_YEARS = timedelta(days=3653)
WEEKDAYS = list(Weekday)
# The reference steps through every handoff; keep hourly rotations from taking seconds per example.
MAX_REFERENCE_TURNS = 30_000

Answer = tuple[list[int], OnCallSource | None, int | None]


# ------------------------------------------------------------------------------------ the reference


def wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def reference_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The earliest instant whose wall time is `local`; if there is none (a gap), the first instant
    whose wall time is later, found by walking the clock forward."""
    readings = sorted({local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)})
    real = [instant for instant in readings if wall(instant, zone) == local]
    if real:
        return real[0]
    instant = readings[0]
    assert wall(instant, zone) < local
    while wall(instant, zone) <= local:
        instant += MINUTE
    while wall(instant - SECOND, zone) > local:
        instant -= SECOND
    return instant


@dataclass
class ReferenceLayer:
    layer: Layer
    zone: ZoneInfo
    handoffs: list[datetime] = field(default_factory=list)
    next_wall: datetime | None = None

    def handoffs_until(self, at: datetime) -> list[datetime]:
        """Every handoff instant up to the first after `at`, by adding one turn length at a time."""
        if self.next_wall is None:
            self.next_wall = self.layer.start
        while not self.handoffs or self.handoffs[-1] <= at:
            self.handoffs.append(reference_instant(self.next_wall, self.zone))
            self.next_wall += self.layer.turn_length.wall_clock
        return self.handoffs

    def turn(self, at: datetime) -> int | None:
        """The last turn that began at or before `at` (None before the first)."""
        return bisect_right(self.handoffs_until(at), at) - 1 if self.handoffs_until(at)[0] <= at else None

    def in_window(self, at: datetime) -> bool:
        if not self.layer.restrictions:
            return True
        today = wall(at, self.zone).date()
        for day in (today + timedelta(days=offset) for offset in range(-2, 2)):
            for restriction in self.layer.restrictions:
                if restriction.days is not None and WEEKDAYS[day.weekday()] not in restriction.days:
                    continue
                opens = datetime.combine(day, restriction.start_time)
                minutes = (
                    restriction.end_time.hour * 60
                    + restriction.end_time.minute
                    - restriction.start_time.hour * 60
                    - restriction.start_time.minute
                ) % (24 * 60) or 24 * 60
                closes = opens + timedelta(minutes=minutes)
                if reference_instant(opens, self.zone) <= at < reference_instant(closes, self.zone):
                    return True
        return False

    def user_at(self, at: datetime) -> int | None:
        if self.layer.end is not None and at >= reference_instant(self.layer.end, self.zone):
            return None
        turn = self.turn(at)
        if turn is None or not self.in_window(at):
            return None
        return self.layer.participants[turn % len(self.layer.participants)]


class Reference:
    def __init__(self, schedule: Schedule, overrides: list[Override]) -> None:
        self.layers = [ReferenceLayer(layer, ZoneInfo(schedule.time_zone)) for layer in schedule.layers]
        self.overrides = overrides

    def at(self, at: datetime) -> Answer:
        covering = [o for o in self.overrides if o.start <= at < o.end]
        if covering:
            return [max(covering, key=lambda o: (o.created_at, o.id)).user_id], OnCallSource.OVERRIDE, None
        for index in reversed(range(len(self.layers))):
            user_id = self.layers[index].user_at(at)
            if user_id is not None:
                return [user_id], OnCallSource.LAYER, index
        return [], None, None


def answer(found: OnCall) -> Answer:
    return found.user_ids, found.source, found.layer


def fits_reference(schedule: Schedule, at: datetime) -> bool:
    """Whether the reference can step to `at` within MAX_REFERENCE_TURNS turns of every layer."""
    return all(
        wall(at, ZoneInfo(schedule.time_zone)) - layer.start
        < layer.turn_length.wall_clock * MAX_REFERENCE_TURNS
        for layer in schedule.layers
    )


# ----------------------------------------------------------------------------------------- scenarios


def origin(schedule: Schedule) -> datetime:
    """About when the schedule's first layer starts, as a UTC instant (local time read as UTC)."""
    return min(layer.start for layer in schedule.layers).replace(tzinfo=UTC)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Schedule, list[Override], datetime]:
    """A schedule, a few overrides within ten years of its start, and an instant in that span."""
    schedule = draw(schedules())
    begin = origin(schedule) - timedelta(days=30)
    found = draw(
        st.lists(
            overrides(
                min_start=begin.replace(tzinfo=None), max_start=(begin + TEN_YEARS).replace(tzinfo=None)
            ),
            max_size=4,
        )
    )
    at = draw(instants_near(schedule, begin, begin + TEN_YEARS))
    return schedule, found, at


def zone_changes(zone: ZoneInfo, year: int) -> list[datetime]:
    """The instants in `year` where the zone's UTC offset changes, found by day steps and bisection."""
    found = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    while day.year == year:
        following = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
            low, high = day, following
            while high - low > SECOND:
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
        day = following
    return found


def instants_near(schedule: Schedule, begin: datetime, end: datetime) -> st.SearchStrategy[datetime]:
    """Instants in [begin, end): anywhere, or close to one of the zone's offset changes."""
    anywhere = st.datetimes(
        min_value=begin.replace(tzinfo=None), max_value=end.replace(tzinfo=None), timezones=st.just(UTC)
    )

    @st.composite
    def near_a_change(draw: st.DrawFn) -> datetime:
        zone = ZoneInfo(schedule.time_zone)
        year = draw(st.integers(begin.year, end.year - 1))
        changes = zone_changes(zone, year)
        if not changes:
            return draw(anywhere)
        offset = draw(
            st.sampled_from([0, 1, -1, 1800, -1800, 3600, -3600, 86400]) | st.integers(-2 * 86400, 2 * 86400)
        )
        return draw(st.sampled_from(changes)) + timedelta(seconds=offset)

    return anywhere | near_a_change()


def join(*parts: list[Shift]) -> list[Shift]:
    """Concatenate shift lists, merging a shift that ends where an equal one begins."""
    joined: list[Shift] = []
    for shift in (s for part in parts for s in part):
        last = joined[-1] if joined else None
        if (
            last
            and last.end == shift.start
            and (last.user_id, last.source, last.layer)
            == (
                shift.user_id,
                shift.source,
                shift.layer,
            )
        ):
            joined[-1] = Shift(last.user_id, last.start, shift.end, last.source, last.layer)
        else:
            joined.append(shift)
    return joined


windows = st.integers(60, 93 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes))


# ---------------------------------------------------------------------------------------- properties


@given(scenarios(), st.data())
def test_oncall_equals_stepping_through_every_handoff_for_ten_years(
    scenario: tuple[Schedule, list[Override], datetime], data: st.DataObject
) -> None:
    schedule, found, at = scenario
    assume(fits_reference(schedule, at))
    reference = Reference(schedule, found)
    assert answer(oncall(schedule, found, at)) == reference.at(at)
    # Walk a few changes from there: each `until` and the instant before it agree with the reference too.
    for _ in range(data.draw(st.integers(1, 6))):
        until = oncall(schedule, found, at).until
        if until is None or until >= LATEST - TEN_YEARS or not fits_reference(schedule, until):
            break
        assert answer(oncall(schedule, found, until - MICROSECOND)) == reference.at(until - MICROSECOND)
        assert answer(oncall(schedule, found, until)) == reference.at(until)
        at = until


@given(scenarios(), st.data())
def test_until_is_the_exact_next_change(
    scenario: tuple[Schedule, list[Override], datetime], data: st.DataObject
) -> None:
    schedule, found, at = scenario
    now = oncall(schedule, found, at)
    if now.until is None:
        for years in (1, 5, 20):
            later = at + timedelta(days=365 * years)
            if later < LATEST:
                assert answer(oncall(schedule, found, later)) == answer(now)
        return
    assert now.until > at
    inside = data.draw(
        st.datetimes(
            min_value=at.replace(tzinfo=None),
            max_value=now.until.replace(tzinfo=None) - MICROSECOND,
            timezones=st.just(UTC),
        )
    )
    assert answer(oncall(schedule, found, inside)) == answer(now)
    assert answer(oncall(schedule, found, now.until - MICROSECOND)) == answer(now)
    assert answer(oncall(schedule, found, now.until)) != answer(now)


@given(scenarios(), windows)
def test_oncall_agrees_with_the_shift_covering_the_instant(
    scenario: tuple[Schedule, list[Override], datetime], window: timedelta
) -> None:
    schedule, found, at = scenario
    since = at - window / 2
    final = shifts(schedule, found, since, since + window)
    covering = [s for s in final if s.start <= at < s.end]
    now = oncall(schedule, found, at)
    if not covering:
        assert answer(now) == ([], None, None)
        return
    (shift,) = covering
    assert answer(now) == ([shift.user_id], shift.source, shift.layer)
    if shift.end < since + window:
        assert now.until == shift.end


@given(scenarios(), windows, st.floats(0.0, 1.0))
def test_a_window_split_anywhere_joins_back_into_the_same_shifts(
    scenario: tuple[Schedule, list[Override], datetime], window: timedelta, split: float
) -> None:
    schedule, found, since = scenario
    until = since + window
    middle = since + window * split
    whole = shifts(schedule, found, since, until)
    assert join(shifts(schedule, found, since, middle), shifts(schedule, found, middle, until)) == whole
    # The final schedule is merged, ordered, and inside the window.
    assert join(whole) == whole
    assert all(s.start < s.end for s in whole)
    assert all(a.end <= b.start for a, b in pairwise(whole))
    assert all(since <= s.start and s.end <= until for s in whole)


@st.composite
def single_layers(draw: st.DrawFn, /, **layer_options: object) -> tuple[Schedule, Layer]:
    schedule = draw(schedules(min_layers=1, max_layers=1, **layer_options))  # type: ignore[arg-type]
    return schedule, schedule.layers[0]


def span(schedule: Schedule, layer: Layer) -> tuple[datetime, datetime | None]:
    zone = ZoneInfo(schedule.time_zone)
    end = None if layer.end is None else reference_instant(layer.end, zone)
    return reference_instant(layer.start, zone), end


@given(single_layers(max_restrictions=0), st.integers(0, 3653 * 24 * 60), windows)
def test_an_unrestricted_layer_has_no_gaps_and_no_overlaps_in_its_span(
    scenario: tuple[Schedule, Layer], offset_minutes: int, window: timedelta
) -> None:
    schedule, layer = scenario
    first, end = span(schedule, layer)
    since = first + timedelta(minutes=offset_minutes)
    until = since + window if end is None else min(since + window, end)
    assume(since < until)
    found = shifts(schedule, [], since, until)
    assert found[0].start == since
    assert found[-1].end == until
    assert all(a.end == b.start for a, b in pairwise(found))


@given(single_layers(max_restrictions=0, ends=False), st.integers(0, 3653 * 24 * 60), windows)
def test_participants_take_turns_in_order(
    scenario: tuple[Schedule, Layer], offset_minutes: int, window: timedelta
) -> None:
    schedule, layer = scenario
    since = span(schedule, layer)[0] + timedelta(minutes=offset_minutes)
    until = since + window
    assume(fits_reference(schedule, until))
    reference = ReferenceLayer(layer, ZoneInfo(schedule.time_zone))
    handoffs = reference.handoffs_until(until)
    # Turns that last some time and overlap the window, in order; equal neighbours are one shift.
    expected: list[int] = []
    for turn, (begins, ends) in enumerate(pairwise(handoffs)):
        if begins < ends and ends > since and begins < until:
            user_id = layer.participants[turn % len(layer.participants)]
            if not expected or expected[-1] != user_id:
                expected.append(user_id)
    assert [s.user_id for s in shifts(schedule, [], since, until)] == expected


def is_handoff_of(instant: datetime, local: datetime, zone: ZoneInfo) -> bool:
    """Whether `instant` is where local time `local` falls: its first occurrence, or, when the clocks
    skip it, the first instant after the gap."""
    reading = instant.astimezone(zone)
    if reading.replace(tzinfo=None) == local:
        return reading.fold == 0
    exists = local.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local
    return not exists and wall(instant - MICROSECOND, zone) < local < wall(instant, zone)


@given(
    single_layers(max_restrictions=0, ends=False, user_ids=st.integers(1, 1000)),
    st.integers(0, 3653),
    windows,
)
def test_every_handoff_falls_at_the_layers_wall_clock_time(
    scenario: tuple[Schedule, Layer], offset_days: int, window: timedelta
) -> None:
    schedule, layer = scenario
    assume(len(set(layer.participants)) == len(layer.participants) > 1)
    zone = ZoneInfo(schedule.time_zone)
    since = span(schedule, layer)[0] + timedelta(days=offset_days)
    turn = layer.turn_length.wall_clock
    for shift in shifts(schedule, [], since, since + window)[1:]:
        # The handoff of turn k is at local start + k * turn; find k from the wall time, allowing
        # for the hour a gap or fold moves it.
        estimate = (wall(shift.start, zone) - layer.start) // turn
        candidates = [layer.start + turn * k for k in (estimate - 1, estimate, estimate + 1)]
        assert any(is_handoff_of(shift.start, local, zone) for local in candidates), shift
        if layer.turn_length.unit is not TurnUnit.HOURS:
            assert any(
                is_handoff_of(shift.start, datetime.combine(day, layer.start.time()), zone)
                for day in (wall(shift.start, zone).date() + timedelta(days=d) for d in (-1, 0))
            ), shift


@st.composite
def around_a_change(draw: st.DrawFn) -> tuple[Schedule, list[Override], datetime]:
    """A schedule whose handoffs and restriction edges sit in, at and around one of its zone's offset
    changes (a gap or a fold), and that change's instant. Random instants rarely land there."""
    zone_name = draw(time_zones())
    zone = ZoneInfo(zone_name)
    changes = zone_changes(zone, draw(st.integers(1975, 2035)))
    assume(changes)
    change = draw(st.sampled_from(changes))
    # The clock reads `before` just before the change and `after` at it: between them lies what a
    # gap skips or a fold repeats.
    before, after = wall(change - MICROSECOND, zone), wall(change, zone)
    low, high = min(before, after), max(before, after)
    inside = int((high - low) / MINUTE)
    # Local times at the edges of the skipped or repeated stretch (half of them), inside it, or up to
    # 90 minutes around it.
    edges = st.sampled_from([0, 1, inside, inside + 1])
    minutes = edges | edges | st.integers(0, inside) | st.integers(-90, inside + 90)

    def local_near() -> datetime:
        return (low + timedelta(minutes=draw(minutes))).replace(second=0, microsecond=0)

    def layer() -> Layer:
        # One-hour turns fit inside a one-hour gap: a whole turn is skipped.
        turn = draw(st.just(TurnLength(TurnUnit.HOURS, 1)) | turn_lengths())
        restrictions = [
            Restriction(
                draw(st.none() | st.just(frozenset({WEEKDAYS[local_near().weekday()]}))),
                local_near().time(),
                local_near().time(),
            )
            for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3])))
        ]
        return Layer(
            "near a change",
            local_near() - turn.wall_clock * draw(st.integers(0, 3)),
            turn,
            # Turns given to the wrong participant show with distinct ones; a skipped turn between two
            # of the same participant's only shows in `until`.
            draw(
                st.sampled_from([(1, 2, 3), (1, 2), (1, 2, 1, 3)])
                | st.lists(st.integers(1, 3), min_size=1).map(tuple)
            ),
            tuple(restrictions),
        )

    schedule = Schedule("s", zone_name, tuple(layer() for _ in range(draw(st.sampled_from([1, 1, 2])))))
    found: list[Override] = []
    for _ in range(draw(st.integers(0, 2))):
        start = change + timedelta(minutes=draw(st.integers(-180, 180)))
        end = start + timedelta(minutes=draw(st.integers(1, 180)))
        # Created when it starts; distinct ids settle which of two created at once is the later.
        found.append(Override(draw(st.integers(1, 3)), start, end, start, id=len(found) + 1))
    return schedule, found, change


@given(around_a_change())
def test_gaps_and_folds_at_handoffs_and_window_edges_match_the_reference(
    scenario: tuple[Schedule, list[Override], datetime],
) -> None:
    schedule, found, change = scenario
    reference = Reference(schedule, found)
    since, until = change - timedelta(hours=4), change + timedelta(hours=4)
    probes = [since + timedelta(minutes=5 * i) for i in range(97)] + [change - MICROSECOND, change]
    for at in probes:
        now = oncall(schedule, found, at)
        assert answer(now) == reference.at(at), at
        if now.until is not None:  # a real change, and the first one
            assert reference.at(now.until - MICROSECOND) == answer(now) != reference.at(now.until), at
    # Every change in the final schedule is real (merged shifts), and exactly where the reference has it.
    final = shifts(schedule, found, since, until)
    assert join(final) == final
    for shift in final:
        assert reference.at(shift.start) == ([shift.user_id], shift.source, shift.layer)
        if shift.start > since:
            assert reference.at(shift.start - MICROSECOND) != reference.at(shift.start)
        assert reference.at(shift.end - MICROSECOND) == ([shift.user_id], shift.source, shift.layer)

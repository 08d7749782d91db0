"""On-call schedules: worked scenarios with exact UTC instants, precedence, `until`, and validation.

The rules hold for every zone and layer in `test_schedules_properties.py`; these pin the behaviour
people check by hand: DST handoffs in Berlin and New York, gaps and folds, restrictions, overrides.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from incidentcore.errors import ValidationFailed
from incidentcore.schedules import (
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
    check_window,
    oncall,
    parse_time_of_day,
    shifts,
)

HOURS, DAYS, WEEKS = TurnUnit.HOURS, TurnUnit.DAYS, TurnUnit.WEEKS
LAYER, OVERRIDE = OnCallSource.LAYER, OnCallSource.OVERRIDE


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def layer(
    start: datetime,
    unit: TurnUnit,
    count: int,
    participants: tuple[int, ...],
    restrictions: tuple[Restriction, ...] = (),
    end: datetime | None = None,
) -> Layer:
    return Layer("rotation", start, TurnLength(unit, count), participants, restrictions, end)


def schedule(zone: str, *layers: Layer) -> Schedule:
    built = Schedule("ops", zone, layers)
    built.validate()
    return built


def handoffs(found: list[Shift]) -> list[tuple[int, datetime, datetime]]:
    return [(s.user_id, s.start, s.end) for s in found]


def answer(found: OnCall) -> tuple[list[int], OnCallSource | None, int | None]:
    return found.user_ids, found.source, found.layer


# ----------------------------------------------------------------------------------- DST handoffs


def test_berlin_weekly_monday_0900_handoff_stays_at_0900_across_both_changes() -> None:
    berlin = schedule("Europe/Berlin", layer(datetime(2026, 3, 23, 9, 0), WEEKS, 1, (1, 2)))

    spring = shifts(berlin, [], utc(2026, 3, 23), utc(2026, 4, 13))
    assert handoffs(spring) == [
        (1, utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)),  # 09:00 CET to 09:00 CEST: 167 hours
        (2, utc(2026, 3, 30, 7), utc(2026, 4, 6, 7)),
        (1, utc(2026, 4, 6, 7), utc(2026, 4, 13)),
    ]
    assert spring[0].end - spring[0].start == timedelta(hours=167)

    autumn = shifts(berlin, [], utc(2026, 10, 19), utc(2026, 11, 3))
    assert handoffs(autumn) == [
        (2, utc(2026, 10, 19), utc(2026, 10, 19, 7)),
        (1, utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)),  # 09:00 CEST to 09:00 CET: 169 hours
        (2, utc(2026, 10, 26, 8), utc(2026, 11, 2, 8)),
        (1, utc(2026, 11, 2, 8), utc(2026, 11, 3)),
    ]
    assert oncall(berlin, [], utc(2026, 10, 26, 7, 59)).until == utc(2026, 10, 26, 8)


def test_new_york_daily_0800_handoff_across_both_changes() -> None:
    new_york = schedule("America/New_York", layer(datetime(2026, 3, 6, 8, 0), DAYS, 1, (1, 2, 3)))

    assert handoffs(shifts(new_york, [], utc(2026, 3, 6, 13), utc(2026, 3, 10, 12))) == [
        (1, utc(2026, 3, 6, 13), utc(2026, 3, 7, 13)),
        (2, utc(2026, 3, 7, 13), utc(2026, 3, 8, 12)),  # 23 hours: the clocks went forward on Mar 8
        (3, utc(2026, 3, 8, 12), utc(2026, 3, 9, 12)),
        (1, utc(2026, 3, 9, 12), utc(2026, 3, 10, 12)),
    ]
    # Mar 6 to Oct 31 is 239 days: turn 239 is participant 239 % 3 = index 2.
    assert handoffs(shifts(new_york, [], utc(2026, 10, 31, 12), utc(2026, 11, 2, 13))) == [
        (3, utc(2026, 10, 31, 12), utc(2026, 11, 1, 13)),  # 25 hours: the clocks went back on Nov 1
        (1, utc(2026, 11, 1, 13), utc(2026, 11, 2, 13)),
    ]


def test_handoff_in_the_spring_gap_happens_at_the_first_instant_after_it() -> None:
    # 02:30 does not exist in New York on 2026-03-08: the clocks jump from 02:00 EST to 03:00 EDT.
    new_york = schedule("America/New_York", layer(datetime(2026, 3, 6, 2, 30), DAYS, 1, (1, 2, 3)))
    assert handoffs(shifts(new_york, [], utc(2026, 3, 6, 7, 30), utc(2026, 3, 10, 6, 30))) == [
        (1, utc(2026, 3, 6, 7, 30), utc(2026, 3, 7, 7, 30)),
        (2, utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7)),  # 03:00 EDT
        (3, utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)),  # then 02:30 EDT again
        (1, utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)),
    ]


def test_handoff_in_the_autumn_fold_happens_at_its_first_occurrence() -> None:
    # 01:30 happens twice in New York on 2026-11-01: 05:30Z (EDT) and 06:30Z (EST).
    new_york = schedule("America/New_York", layer(datetime(2026, 10, 30, 1, 30), DAYS, 1, (1, 2, 3)))
    assert handoffs(shifts(new_york, [], utc(2026, 10, 30, 5, 30), utc(2026, 11, 3, 6, 30))) == [
        (1, utc(2026, 10, 30, 5, 30), utc(2026, 10, 31, 5, 30)),
        (2, utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30)),
        (3, utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)),  # holds the repeated hour: 25 hours
        (1, utc(2026, 11, 2, 6, 30), utc(2026, 11, 3, 6, 30)),
    ]
    # The second 01:00 to 01:30 (EST) comes after the 01:30 handoff: participant 3's turn.
    assert answer(oncall(new_york, [], utc(2026, 11, 1, 6, 10))) == ([3], LAYER, 0)


def test_lord_howe_half_hour_change_moves_a_gap_handoff_to_0230() -> None:
    # Lord Howe Island moves from +10:30 to +11:00 at 02:00 on 2026-10-04: 02:15 does not exist.
    lord_howe = schedule("Australia/Lord_Howe", layer(datetime(2026, 10, 3, 2, 15), DAYS, 1, (1, 2)))
    assert handoffs(shifts(lord_howe, [], utc(2026, 10, 2, 15, 45), utc(2026, 10, 4, 15, 15))) == [
        (1, utc(2026, 10, 2, 15, 45), utc(2026, 10, 3, 15, 30)),  # 02:30 +11:00, 23h45m
        (2, utc(2026, 10, 3, 15, 30), utc(2026, 10, 4, 15, 15)),
    ]


def test_kathmandu_quarter_hour_offset() -> None:
    kathmandu = schedule("Asia/Kathmandu", layer(datetime(2026, 1, 5, 9, 0), DAYS, 1, (1, 2)))
    assert oncall(kathmandu, [], utc(2026, 1, 6, 3, 14)).until == utc(2026, 1, 6, 3, 15)  # 09:00 +05:45


# ------------------------------------------------------------------------------- hour-based turns


def test_hour_turns_are_counted_on_the_wall_clock_so_handoff_times_do_not_drift() -> None:
    # A 12-hour rotation handing off at 08:00 and 20:00 still does so after the change; the turn
    # spanning the change lasts 11 hours instead of 12.
    new_york = schedule("America/New_York", layer(datetime(2026, 3, 7, 8, 0), HOURS, 12, (1, 2)))
    assert handoffs(shifts(new_york, [], utc(2026, 3, 7, 13), utc(2026, 3, 9, 12))) == [
        (1, utc(2026, 3, 7, 13), utc(2026, 3, 8, 1)),  # 08:00 to 20:00 EST
        (2, utc(2026, 3, 8, 1), utc(2026, 3, 8, 12)),  # 20:00 EST to 08:00 EDT: 11 hours
        (1, utc(2026, 3, 8, 12), utc(2026, 3, 9)),  # 08:00 to 20:00 EDT
        (2, utc(2026, 3, 9), utc(2026, 3, 9, 12)),
    ]


def test_an_hour_turn_swallowed_by_the_gap_is_skipped_and_one_spanning_the_fold_lasts_longer() -> None:
    spring = schedule("America/New_York", layer(datetime(2026, 3, 8, 0, 0), HOURS, 1, (1, 2, 3)))
    # Turn 2 (02:00 to 03:00 local) does not exist on that night: participant 3 is skipped once.
    assert handoffs(shifts(spring, [], utc(2026, 3, 8, 5), utc(2026, 3, 8, 9))) == [
        (1, utc(2026, 3, 8, 5), utc(2026, 3, 8, 6)),
        (2, utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)),
        (1, utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)),
        (2, utc(2026, 3, 8, 8), utc(2026, 3, 8, 9)),
    ]
    # When the skipped turn is the other participant's, the one before and after is a single shift.
    skipping = schedule("America/New_York", layer(datetime(2026, 3, 8, 1, 0), HOURS, 1, (1, 2)))
    assert handoffs(shifts(skipping, [], utc(2026, 3, 8, 6), utc(2026, 3, 8, 9))) == [
        (1, utc(2026, 3, 8, 6), utc(2026, 3, 8, 8)),
        (2, utc(2026, 3, 8, 8), utc(2026, 3, 8, 9)),
    ]
    autumn = schedule("America/New_York", layer(datetime(2026, 11, 1, 0, 0), HOURS, 1, (1, 2)))
    assert handoffs(shifts(autumn, [], utc(2026, 11, 1, 4), utc(2026, 11, 1, 8))) == [
        (1, utc(2026, 11, 1, 4), utc(2026, 11, 1, 5)),
        (2, utc(2026, 11, 1, 5), utc(2026, 11, 1, 7)),  # 01:00 EDT to 02:00 EST: both 01:00 hours
        (1, utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)),
    ]


# ----------------------------------------------------------------------------------- restrictions

WEEKDAYS = frozenset({Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI})


def test_restricted_top_layer_falls_through_to_the_layer_below_outside_its_windows() -> None:
    office_hours = Restriction(WEEKDAYS, time(9, 0), time(17, 0))
    berlin = schedule(
        "Europe/Berlin",
        layer(datetime(2026, 5, 25, 9, 0), WEEKS, 1, (1,)),
        layer(datetime(2026, 6, 1, 9, 0), DAYS, 1, (2, 3), (office_hours,)),
    )
    # Monday 2026-06-01 (CEST, +02:00) and the next day.
    assert handoffs(shifts(berlin, [], utc(2026, 6, 1, 6), utc(2026, 6, 2, 16))) == [
        (1, utc(2026, 6, 1, 6), utc(2026, 6, 1, 7)),
        (2, utc(2026, 6, 1, 7), utc(2026, 6, 1, 15)),
        (1, utc(2026, 6, 1, 15), utc(2026, 6, 2, 7)),
        (3, utc(2026, 6, 2, 7), utc(2026, 6, 2, 15)),
        (1, utc(2026, 6, 2, 15), utc(2026, 6, 2, 16)),
    ]
    assert [s.layer for s in shifts(berlin, [], utc(2026, 6, 1, 6), utc(2026, 6, 1, 16))] == [0, 1, 0]
    # Saturday: the office-hours layer has nobody on call at all.
    assert answer(oncall(berlin, [], utc(2026, 6, 6, 12))) == ([1], LAYER, 0)


def test_a_window_ending_before_it_starts_runs_past_midnight_from_the_days_named() -> None:
    friday_night = Restriction(frozenset({Weekday.FRI}), time(17, 0), time(8, 0))
    utc_schedule = schedule("UTC", layer(datetime(2026, 6, 1, 0, 0), WEEKS, 1, (7,), (friday_night,)))
    # 2026-06-05 is a Friday.
    assert handoffs(shifts(utc_schedule, [], utc(2026, 6, 1), utc(2026, 6, 15))) == [
        (7, utc(2026, 6, 5, 17), utc(2026, 6, 6, 8)),
        (7, utc(2026, 6, 12, 17), utc(2026, 6, 13, 8)),
    ]


def test_a_window_ending_when_it_starts_lasts_24_hours() -> None:
    whole_saturday = Restriction(frozenset({Weekday.SAT}), time(0, 0), time(0, 0))
    saturday_0900 = Restriction(frozenset({Weekday.SAT}), time(9, 0), time(9, 0))
    start = datetime(2026, 6, 1, 0, 0)
    assert handoffs(
        shifts(
            schedule("UTC", layer(start, WEEKS, 1, (7,), (whole_saturday,))),
            [],
            utc(2026, 6, 1),
            utc(2026, 6, 8),
        )
    ) == [(7, utc(2026, 6, 6), utc(2026, 6, 7))]
    assert handoffs(
        shifts(
            schedule("UTC", layer(start, WEEKS, 1, (7,), (saturday_0900,))),
            [],
            utc(2026, 6, 1),
            utc(2026, 6, 8),
        )
    ) == [(7, utc(2026, 6, 6, 9), utc(2026, 6, 7, 9))]


def test_windows_that_touch_make_one_shift_and_windows_covering_the_week_mean_always_on() -> None:
    nights = Restriction(None, time(18, 0), time(0, 0))
    mornings = Restriction(None, time(0, 0), time(9, 0))
    touching = schedule("UTC", layer(datetime(2026, 6, 1, 0, 0), WEEKS, 1, (7,), (nights, mornings)))
    assert handoffs(shifts(touching, [], utc(2026, 6, 1, 12), utc(2026, 6, 3, 12))) == [
        (7, utc(2026, 6, 1, 18), utc(2026, 6, 2, 9)),
        (7, utc(2026, 6, 2, 18), utc(2026, 6, 3, 9)),
    ]
    every_day = Restriction(None, time(6, 0), time(6, 0))
    always = schedule("UTC", layer(datetime(2026, 6, 1, 0, 0), WEEKS, 1, (7,), (every_day,)))
    assert oncall(always, [], utc(2027, 1, 1)) == OnCall([7], LAYER, 0, None)


def test_a_restriction_window_keeps_its_wall_clock_hours_across_a_change() -> None:
    office_hours = Restriction(WEEKDAYS, time(9, 0), time(17, 0))
    new_york = schedule(
        "America/New_York", layer(datetime(2026, 3, 2, 9, 0), WEEKS, 1, (5,), (office_hours,))
    )
    assert handoffs(shifts(new_york, [], utc(2026, 3, 6), utc(2026, 3, 10))) == [
        (5, utc(2026, 3, 6, 14), utc(2026, 3, 6, 22)),  # Friday, EST
        (5, utc(2026, 3, 9, 13), utc(2026, 3, 9, 21)),  # Monday, EDT
    ]


def test_windows_the_gap_brings_together_make_one_shift_and_a_window_inside_it_none() -> None:
    before_the_gap = Restriction(None, time(0, 0), time(2, 15))
    after_the_gap = Restriction(None, time(2, 45), time(5, 0))
    inside_the_gap = Restriction(None, time(2, 10), time(2, 40))
    new_york = schedule(
        "America/New_York", layer(datetime(2026, 3, 1, 0, 0), WEEKS, 1, (5,), (before_the_gap, after_the_gap))
    )
    # On 2026-03-08 02:15 and 02:45 are both 03:00 EDT: the windows meet.
    assert handoffs(shifts(new_york, [], utc(2026, 3, 7), utc(2026, 3, 9))) == [
        (5, utc(2026, 3, 7, 5), utc(2026, 3, 7, 7, 15)),
        (5, utc(2026, 3, 7, 7, 45), utc(2026, 3, 7, 10)),
        (5, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9)),
    ]
    skipped = schedule(
        "America/New_York", layer(datetime(2026, 3, 1, 0, 0), WEEKS, 1, (5,), (inside_the_gap,))
    )
    assert oncall(skipped, [], utc(2026, 3, 8, 6)) == OnCall([], None, None, utc(2026, 3, 9, 6, 10))


def test_nobody_on_call_between_windows_until_the_next_one_opens() -> None:
    office_hours = Restriction(WEEKDAYS, time(9, 0), time(17, 0))
    utc_schedule = schedule("UTC", layer(datetime(2026, 6, 1, 9, 0), DAYS, 1, (1, 2), (office_hours,)))
    assert oncall(utc_schedule, [], utc(2026, 6, 5, 20)) == OnCall([], None, None, utc(2026, 6, 8, 9))
    # The rotation keeps turning while nobody is on call: Monday is turn 7.
    assert oncall(utc_schedule, [], utc(2026, 6, 8, 9)) == OnCall([2], LAYER, 0, utc(2026, 6, 8, 17))


# -------------------------------------------------------------------------------------- overrides

ROTATION = layer(datetime(2026, 6, 1, 9, 0), WEEKS, 1, (1, 2))


def override(user_id: int, start: datetime, end: datetime, created_minute: int, id: int = 0) -> Override:
    made = Override(user_id, start, end, created_at=utc(2026, 5, 1, 0, created_minute), id=id)
    made.validate()
    return made


def test_an_override_wins_over_every_layer_for_its_interval_only() -> None:
    ops = schedule("UTC", ROTATION)
    tonight = override(9, utc(2026, 6, 2, 18), utc(2026, 6, 3, 6), 0)
    assert oncall(ops, [tonight], utc(2026, 6, 2, 17)) == OnCall([1], LAYER, 0, utc(2026, 6, 2, 18))
    assert oncall(ops, [tonight], utc(2026, 6, 2, 18)) == OnCall([9], OVERRIDE, None, utc(2026, 6, 3, 6))
    assert oncall(ops, [tonight], utc(2026, 6, 3, 6)) == OnCall([1], LAYER, 0, utc(2026, 6, 8, 9))


def test_where_overrides_overlap_the_latest_created_wins_and_the_other_resumes_after() -> None:
    ops = schedule("UTC", ROTATION)
    week = override(8, utc(2026, 6, 2), utc(2026, 6, 5), 0)
    evening = override(9, utc(2026, 6, 3, 18), utc(2026, 6, 3, 22), 1)
    older_evening = override(7, utc(2026, 6, 3, 18), utc(2026, 6, 3, 22), 0)
    assert handoffs(shifts(ops, [evening, week, older_evening], utc(2026, 6, 2), utc(2026, 6, 5))) == [
        (8, utc(2026, 6, 2), utc(2026, 6, 3, 18)),
        (9, utc(2026, 6, 3, 18), utc(2026, 6, 3, 22)),
        (8, utc(2026, 6, 3, 22), utc(2026, 6, 5)),
    ]


def test_overrides_created_together_are_ordered_by_id() -> None:
    ops = schedule("UTC", ROTATION)
    first = override(8, utc(2026, 6, 2), utc(2026, 6, 3), 0, id=1)
    second = override(9, utc(2026, 6, 2), utc(2026, 6, 3), 0, id=2)
    assert oncall(ops, [second, first], utc(2026, 6, 2, 12)).user_ids == [9]


def test_back_to_back_overrides_of_one_user_are_one_shift_and_an_override_of_the_layers_user_is_not() -> None:
    ops = schedule("UTC", ROTATION)
    evening = override(1, utc(2026, 6, 2, 18), utc(2026, 6, 2, 22), 0)
    night = override(1, utc(2026, 6, 2, 22), utc(2026, 6, 3, 6), 1)
    found = shifts(ops, [night, evening], utc(2026, 6, 2, 12), utc(2026, 6, 3, 12))
    assert [(s.user_id, s.source, s.start, s.end) for s in found] == [
        (1, LAYER, utc(2026, 6, 2, 12), utc(2026, 6, 2, 18)),
        (1, OVERRIDE, utc(2026, 6, 2, 18), utc(2026, 6, 3, 6)),
        (1, LAYER, utc(2026, 6, 3, 6), utc(2026, 6, 3, 12)),
    ]


def test_an_override_on_a_schedule_without_layers() -> None:
    empty = schedule("UTC")
    cover = override(4, utc(2026, 6, 2), utc(2026, 6, 3), 0)
    assert oncall(empty, [cover], utc(2026, 6, 1)) == OnCall([], None, None, utc(2026, 6, 2))
    assert oncall(empty, [cover], utc(2026, 6, 3)) == OnCall([], None, None, None)


# ------------------------------------------------------------------------------------------ until


def test_until_skips_handoffs_that_keep_the_same_user() -> None:
    ops = schedule("UTC", layer(datetime(2026, 6, 1, 9, 0), WEEKS, 1, (1, 1, 2)))
    assert oncall(ops, [], utc(2026, 6, 2)) == OnCall([1], LAYER, 0, utc(2026, 6, 15, 9))


def test_until_is_none_when_nothing_ever_changes() -> None:
    alone = schedule("UTC", layer(datetime(2026, 6, 1, 9, 0), WEEKS, 1, (1,)))
    assert oncall(alone, [], utc(2030, 1, 1)) == OnCall([1], LAYER, 0, None)


def test_until_covers_layer_start_end_and_higher_layers_starting_later() -> None:
    ops = schedule(
        "Europe/Berlin",
        layer(datetime(2026, 6, 1, 9, 0), WEEKS, 1, (1,), end=datetime(2026, 9, 1, 0, 0)),
        layer(datetime(2026, 7, 1, 9, 0), WEEKS, 1, (2,)),
    )
    assert oncall(ops, [], utc(2026, 5, 1)) == OnCall([], None, None, utc(2026, 6, 1, 7))
    assert oncall(ops, [], utc(2026, 6, 1, 7)) == OnCall([1], LAYER, 0, utc(2026, 7, 1, 7))
    assert oncall(ops, [], utc(2026, 7, 1, 7)) == OnCall([2], LAYER, 1, None)

    ending = schedule("Europe/Berlin", ops.layers[0])
    assert oncall(ending, [], utc(2026, 8, 31, 21, 59)) == OnCall([1], LAYER, 0, utc(2026, 8, 31, 22))
    assert oncall(ending, [], utc(2026, 8, 31, 22)) == OnCall([], None, None, None)


def test_instants_in_any_offset_are_accepted_and_answers_are_in_utc() -> None:
    ops = schedule("UTC", ROTATION)
    found = oncall(ops, [], datetime(2026, 6, 2, 2, 0, tzinfo=timezone(timedelta(hours=2))))
    assert found.until == utc(2026, 6, 8, 9)
    assert found.until is not None and found.until.tzinfo is UTC
    assert shifts(
        ops, [], datetime(2026, 6, 8, 11, tzinfo=timezone(timedelta(hours=2))), utc(2026, 6, 8, 10)
    ) == [Shift(2, utc(2026, 6, 8, 9), utc(2026, 6, 8, 10), LAYER, 0)]


def test_an_empty_window_has_no_shifts() -> None:
    ops = schedule("UTC", ROTATION)
    assert shifts(ops, [], utc(2026, 6, 2), utc(2026, 6, 2)) == []
    assert shifts(ops, [], utc(2026, 6, 3), utc(2026, 6, 2)) == []


# ------------------------------------------------------------------------------------- validation


def fields(error: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.field for e in error.value.errors]


def test_schedule_validation_names_every_bad_field() -> None:
    bad = Schedule(
        "",
        "Mars/Olympus_Mons",
        (
            Layer("ok", datetime(2026, 1, 1, 9, 0), TurnLength(HOURS, 1), (1,)),
            Layer(
                "",
                datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
                TurnLength(WEEKS, 13),
                (),
                (Restriction(frozenset(), time(9, 0, 30), time(17, 0)),),
                datetime(2025, 1, 1),
            ),
        ),
    )
    with pytest.raises(ValidationFailed) as error:
        bad.validate()
    assert fields(error) == [
        "name",
        "time_zone",
        "layers[1].name",
        "layers[1].start",
        "layers[1].turn_length.count",
        "layers[1].participants",
        "layers[1].restrictions[0].days",
        "layers[1].restrictions[0].start_time",
    ]


@pytest.mark.parametrize(
    ("unit", "count", "valid"),
    [
        (HOURS, 0, False),
        (HOURS, 1, True),
        (HOURS, 2016, True),
        (HOURS, 2017, False),
        (DAYS, 84, True),
        (DAYS, 85, False),
        (WEEKS, 12, True),
        (WEEKS, 13, False),
        (WEEKS, -1, False),
    ],
)
def test_turn_length_runs_from_one_hour_to_twelve_weeks(unit: TurnUnit, count: int, valid: bool) -> None:
    candidate = Layer("l", datetime(2026, 1, 1), TurnLength(unit, count), (1,))
    if valid:
        candidate.validate("layers[0]")
    else:
        with pytest.raises(ValidationFailed) as error:
            candidate.validate("layers[0]")
        assert fields(error) == ["layers[0].turn_length.count"]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (datetime(2026, 1, 1, 9, 0, 30), None, "start"),
        (datetime(1899, 12, 31), None, "start"),
        (datetime(2026, 1, 1), datetime(2026, 1, 1), "end"),
        (datetime(2026, 1, 1), datetime(2026, 2, 1, tzinfo=UTC), "end"),
        (datetime(2026, 1, 1), datetime(2200, 1, 1), "end"),
    ],
)
def test_layer_start_and_end_are_whole_local_minutes_in_order(
    start: datetime, end: datetime | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        Layer("l", start, TurnLength(DAYS, 1), (1,), end=end).validate()
    assert fields(error) == [field]


def test_sizes_are_bounded_and_units_known() -> None:
    one = Layer("l", datetime(2026, 1, 1), TurnLength(DAYS, 1), (1,))
    with pytest.raises(ValidationFailed) as error:
        Schedule("ops", "UTC", (one,) * (Schedule.MAX_LAYERS + 1)).validate()
    assert fields(error) == ["layers"]
    every_day = Restriction(None, time(9, 0), time(17, 0))
    crowded = Layer(
        "l",
        datetime(2026, 1, 1),
        TurnLength("fortnights", 1),  # type: ignore[arg-type]
        tuple(range(1, Layer.MAX_PARTICIPANTS + 2)),
        (every_day,) * (Layer.MAX_RESTRICTIONS + 1),
    )
    with pytest.raises(ValidationFailed) as error:
        crowded.validate()
    assert fields(error) == ["turn_length.unit", "participants", "restrictions"]


def test_participants_are_user_ids() -> None:
    with pytest.raises(ValidationFailed) as error:
        Layer("l", datetime(2026, 1, 1), TurnLength(DAYS, 1), (1, 0, 3)).validate()
    assert fields(error) == ["participants[1]"]


def test_a_valid_schedule_passes() -> None:
    Schedule(
        "ops",
        "America/New_York",
        (
            Layer(
                "weekdays",
                datetime(2026, 1, 5, 9, 0),
                TurnLength(DAYS, 1),
                (1, 2, 1),
                (Restriction(WEEKDAYS, time(9, 0), time(17, 0)), Restriction(None, time(22, 0), time(6, 0))),
                datetime(2027, 1, 1),
            ),
        ),
        description="primary\non call",
    ).validate()


@pytest.mark.parametrize(
    ("text", "parsed"), [("00:00", time(0, 0)), ("09:30", time(9, 30)), ("23:59", time(23, 59))]
)
def test_restriction_times_parse_from_hh_mm(text: str, parsed: time) -> None:
    assert parse_time_of_day(text, "layers[0].restrictions[0].start_time") == parsed


@pytest.mark.parametrize("text", ["9:00", "24:00", "12:60", "12:00:00", "noon", "", " 09:00"])
def test_restriction_times_other_than_hh_mm_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        parse_time_of_day(text, "layers[0].restrictions[0].end_time")
    assert fields(error) == ["layers[0].restrictions[0].end_time"]


def test_override_needs_instants_in_order() -> None:
    with pytest.raises(ValidationFailed) as error:
        Override(1, utc(2026, 6, 2), utc(2026, 6, 2), created_at=utc(2026, 6, 1)).validate()
    assert fields(error) == ["end"]
    with pytest.raises(ValidationFailed) as error:
        Override(1, datetime(2026, 6, 2), utc(2026, 6, 3), created_at=utc(2026, 6, 1)).validate()
    assert fields(error) == ["start"]


def test_naive_instants_are_refused_naming_the_argument() -> None:
    ops = schedule("UTC", ROTATION)
    with pytest.raises(ValidationFailed) as error:
        oncall(ops, [], datetime(2026, 6, 2))
    assert fields(error) == ["at"]
    with pytest.raises(ValidationFailed) as error:
        shifts(ops, [], utc(2026, 6, 2), datetime(2026, 6, 3))
    assert fields(error) == ["until"]
    naive_override = Override(1, datetime(2026, 6, 2), datetime(2026, 6, 3), created_at=utc(2026, 6, 1))
    with pytest.raises(ValidationFailed) as error:
        oncall(ops, [naive_override], utc(2026, 6, 2))
    assert fields(error) == ["overrides[0].start"]


def test_instants_out_of_range_are_refused() -> None:
    with pytest.raises(ValidationFailed) as error:
        oncall(schedule("UTC", ROTATION), [], utc(9999, 12, 31))
    assert fields(error) == ["at"]


def test_check_window_allows_at_most_93_days_forward() -> None:
    since = utc(2026, 1, 1)
    assert check_window(since, since + timedelta(days=93)) == (since, since + timedelta(days=93))
    for until, field in (
        (since + timedelta(days=93, microseconds=1), "until"),
        (since, "until"),
        (since - timedelta(days=1), "until"),
    ):
        with pytest.raises(ValidationFailed) as error:
            check_window(since, until)
        assert fields(error) == [field]
    with pytest.raises(ValidationFailed) as error:
        check_window(datetime(2026, 1, 1), datetime(2026, 1, 2))
    assert fields(error) == ["since", "until"]


def test_check_window_answers_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    since, until = check_window(
        datetime(2026, 1, 1, 2, tzinfo=plus_two), datetime(2026, 1, 2, 2, tzinfo=plus_two)
    )
    assert (since, until) == (utc(2026, 1, 1), utc(2026, 1, 2))
    assert since.tzinfo is UTC

"""Schedule arithmetic benchmark (pure core: no database, no INCIDENTCORE_TEST_POSTGRES_URL needed).

A three-layer Europe/Berlin schedule (weekly base rotation, office-hours daily layer, weekend
12-hour layer) with 50 overrides:

1. `oncall()` one day and ten years after the layers' start: the turn comes from wall-clock
   arithmetic, so both cost the same. Budget: well under 1 ms.
2. `shifts()` for a 93-day window (the API's longest) ten years in, the overrides inside it.
   Budget: under 10 ms.

Figures are medians of many runs. Exits non-zero when a budget is exceeded.

    python bench/bench_schedules.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from incidentcore.schedules import (
    Layer,
    Override,
    Restriction,
    Schedule,
    TurnLength,
    TurnUnit,
    Weekday,
    oncall,
    shifts,
)

START = datetime(2026, 1, 5, 9, 0)  # a Monday, local time
TEN_YEARS_ON = datetime(2036, 1, 7, 10, 30, tzinfo=UTC)
WINDOW = timedelta(days=93)
ONCALL_BUDGET = 1e-3
SHIFTS_BUDGET = 10e-3

WEEKDAYS = frozenset({Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI})
WEEKEND = frozenset({Weekday.SAT, Weekday.SUN})


def three_layers() -> Schedule:
    schedule = Schedule(
        "bench",
        "Europe/Berlin",
        (
            Layer("base", START, TurnLength(TurnUnit.WEEKS, 1), (1, 2, 3, 4, 5, 6)),
            Layer(
                "office hours",
                START,
                TurnLength(TurnUnit.DAYS, 1),
                (7, 8, 9, 10, 11),
                (Restriction(WEEKDAYS, clock(9, 0), clock(17, 0)),),
            ),
            Layer(
                "weekend",
                START,
                TurnLength(TurnUnit.HOURS, 12),
                (12, 13, 14, 15),
                (Restriction(WEEKEND, clock(8, 0), clock(20, 0)),),
            ),
        ),
    )
    schedule.validate()
    return schedule


def fifty_overrides(since: datetime) -> list[Override]:
    """50 overrides of 1 to 48 hours spread over the window, some overlapping."""
    rng = random.Random(11)
    found = []
    for i in range(50):
        start = since + timedelta(minutes=rng.randrange(0, int(WINDOW.total_seconds() // 60)))
        end = start + timedelta(hours=rng.randint(1, 48))
        override = Override(
            rng.randint(20, 30), start, end, created_at=since - timedelta(days=1, minutes=i), id=i + 1
        )
        override.validate()
        found.append(override)
    return found


def median_seconds(call: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main(runs: int) -> int:
    schedule = three_layers()
    since = TEN_YEARS_ON
    overrides = fifty_overrides(since)
    first_day = datetime(2026, 1, 6, 10, 30, tzinfo=UTC)

    near_start = median_seconds(lambda: oncall(schedule, overrides, first_day), runs)
    ten_years = median_seconds(lambda: oncall(schedule, overrides, TEN_YEARS_ON + timedelta(days=1)), runs)
    window = median_seconds(lambda: shifts(schedule, overrides, since, since + WINDOW), max(runs // 20, 20))
    count = len(shifts(schedule, overrides, since, since + WINDOW))

    print("schedule: 3 layers (weekly, office-hours daily, weekend 12-hour), Europe/Berlin, 50 overrides")
    print(f"oncall(), 1 day after the start       {near_start * 1e6:8.1f} µs (median of {runs})")
    print(f"oncall(), 10 years after the start    {ten_years * 1e6:8.1f} µs (median of {runs})")
    print(
        f"shifts(), 93 days, 10 years in        {window * 1e3:8.2f} ms (median of {max(runs // 20, 20)}; {count} shifts)"
    )

    failed = False
    for name, seconds, budget, words in (
        ("oncall() 10 years on", ten_years, ONCALL_BUDGET, "well under 1 ms"),
        ("shifts() for 93 days", window, SHIFTS_BUDGET, "under 10 ms"),
    ):
        ok = seconds < budget
        failed |= not ok
        print(f"{name}: {'OK, ' + words if ok else 'OVER BUDGET, expected ' + words}")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=2000, help="oncall() calls timed per case (default 2000)")
    # `nox -s bench` hands its arguments to every bench script; ignore the other scripts' options.
    args, _ = parser.parse_known_args()
    sys.exit(main(args.runs))

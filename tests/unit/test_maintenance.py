"""The maintenance window rules, pure: what a window covers and when, and how it may change over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentcore.errors import InvalidTransition, ValidationFailed
from incidentcore.maintenance import MaintenanceWindow, MaintenanceWindowChanges, covering
from incidentcore.model import Integration

T0 = datetime(2026, 12, 15, 22, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

instants = st.integers(-600, 600).map(lambda minutes: T0 + minutes * MINUTE)
ids = st.integers(1, 4)


def window(start: datetime = T0, end: datetime = T0 + 2 * HOUR, **fields: object) -> MaintenanceWindow:
    values: dict[str, object] = {"team_id": 1, **fields}
    return MaintenanceWindow("database upgrade", start, end, **values)  # type: ignore[arg-type]


@st.composite
def windows(draw: st.DrawFn) -> MaintenanceWindow:
    start = draw(instants)
    length = draw(st.integers(1, 600)) * MINUTE
    team_id = draw(st.none() | ids)
    integration_ids = tuple(draw(st.lists(ids, max_size=3)))
    return MaintenanceWindow("w", start, start + length, team_id, integration_ids, id=draw(ids))


@given(windows(), st.none() | ids, st.none() | ids, instants)
def test_a_window_covers_exactly_while_on_what_it_lists_or_its_teams(
    subject: MaintenanceWindow, team_id: int | None, integration_id: int | None, at: datetime
) -> None:
    on = subject.start <= at < subject.end
    listed = integration_id is not None and integration_id in subject.integration_ids
    teams = subject.team_id is not None and subject.team_id == team_id
    assert subject.covers(team_id, integration_id, at) is (on and (listed or teams))
    assert subject.is_active(at) is on


@given(st.lists(windows(), max_size=5), st.none() | ids, st.none() | ids, instants)
def test_covering_picks_the_lowest_id_among_the_windows_that_cover(
    found: list[MaintenanceWindow], team_id: int | None, integration_id: int | None, at: datetime
) -> None:
    covering_ones = [w for w in found if w.covers(team_id, integration_id, at)]
    chosen = covering(found, team_id, integration_id, at)
    if not covering_ones:
        assert chosen is None
    else:
        assert chosen is not None and chosen.id == min(w.id for w in covering_ones)


def test_without_an_integration_only_a_team_wide_window_covers_the_team() -> None:
    """What a team's own alerts with no integration (a heartbeat's, say) would ask."""
    assert window(team_id=1).covers(1, None, T0)
    assert not window(team_id=None, integration_ids=(5,)).covers(1, None, T0)
    assert not window(team_id=1).covers(None, None, T0)


def test_the_end_is_not_covered_and_the_start_is() -> None:
    subject = window()
    assert subject.covers(1, 9, T0)
    assert not subject.covers(1, 9, T0 - timedelta(microseconds=1))
    assert not subject.covers(1, 9, subject.end)


def test_validate_names_every_bad_field() -> None:
    naive = datetime(2026, 12, 15, 22, 0)
    with pytest.raises(ValidationFailed) as raised:
        MaintenanceWindow(" ", naive, T0, team_id=None).validate(T0 - HOUR)
    assert {e.field for e in raised.value.errors} == {"description", "start", "integration_ids"}
    with pytest.raises(ValidationFailed, match="end: must be after start"):
        window(end=T0).validate(T0 - HOUR)
    with pytest.raises(ValidationFailed, match="end: must be in the future"):
        window(start=T0 - 2 * HOUR, end=T0).validate(T0)
    with pytest.raises(ValidationFailed, match="at most 100 integrations"):
        window(integration_ids=tuple(range(1, 102))).validate(T0)


def test_validate_keeps_instants_in_utc_and_integrations_in_order_without_repeats() -> None:
    berlin = timezone(timedelta(hours=1))
    subject = window(start=T0.astimezone(berlin), integration_ids=(3, 1, 3))
    subject.validate(T0 - HOUR)  # a start already past is fine: the window is on from now
    assert (subject.start.tzinfo, subject.start, subject.integration_ids) == (UTC, T0, (1, 3))
    window(start=T0 - HOUR).validate(T0)


def test_a_window_that_has_not_started_changes_like_a_new_one() -> None:
    subject = window()
    moved = subject.changed(MaintenanceWindowChanges(start=T0 + HOUR, end=T0 + 3 * HOUR), T0 - HOUR)
    assert (moved.start, moved.end) == (T0 + HOUR, T0 + 3 * HOUR)
    assert (subject.start, subject.end) == (T0, T0 + 2 * HOUR)  # the original is left alone
    with pytest.raises(ValidationFailed, match="must be in the future"):
        subject.changed(MaintenanceWindowChanges(start=T0 - 3 * HOUR, end=T0 - 2 * HOUR), T0 - HOUR)
    with pytest.raises(ValidationFailed, match="needs a team_id or at least one integration"):
        subject.changed(MaintenanceWindowChanges(team_id=None), T0 - HOUR)


def test_ending_a_running_window_early_ends_it_now_whatever_earlier_end_is_sent() -> None:
    subject = window()
    now = T0 + 30 * MINUTE
    assert subject.changed(MaintenanceWindowChanges(end=now), now).end == now
    ended = subject.changed(MaintenanceWindowChanges(end=T0 - 5 * HOUR), now)
    assert ended.end == now  # not before its start, nor before the alerts it already suppressed
    assert not ended.covers(1, None, now)
    longer = subject.changed(MaintenanceWindowChanges(end=T0 + 5 * HOUR, integration_ids=(4,)), now)
    assert (longer.end, longer.integration_ids) == (T0 + 5 * HOUR, (4,))


def test_a_running_window_keeps_its_start() -> None:
    subject = window()
    now = T0 + MINUTE
    with pytest.raises(InvalidTransition, match="its start cannot change"):
        subject.changed(MaintenanceWindowChanges(start=T0 + 10 * MINUTE), now)
    same = subject.changed(MaintenanceWindowChanges(start=T0.astimezone(timezone(timedelta(hours=-5)))), now)
    assert same.start == T0


def test_a_window_that_has_ended_changes_only_its_description() -> None:
    subject = window()
    after = subject.end + HOUR
    assert subject.changed(MaintenanceWindowChanges(description="done: v16"), after).description == "done: v16"
    unchanged = MaintenanceWindowChanges(start=subject.start, end=subject.end, team_id=1, integration_ids=())
    assert subject.changed(unchanged, after) == subject
    for changes in (
        MaintenanceWindowChanges(end=after + HOUR),
        MaintenanceWindowChanges(team_id=2),
        MaintenanceWindowChanges(integration_ids=(1,)),
    ):
        with pytest.raises(InvalidTransition, match="only its description may change"):
            subject.changed(changes, after)
    with pytest.raises(ValidationFailed, match="description"):
        subject.changed(MaintenanceWindowChanges(description=""), after)


def test_the_teams_a_window_silences_are_its_own_and_its_integrations() -> None:
    integrations = [Integration("a", 2, "k1", id=5), Integration("b", 3, "k2", id=6)]
    assert window(team_id=1).teams_silenced(integrations) == {1, 2, 3}
    assert window(team_id=None).teams_silenced(integrations[:1]) == {2}
    assert window(team_id=None).teams_silenced([]) == frozenset()

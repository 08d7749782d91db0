"""Hypothesis strategies for the pure core: policies, escalation event sequences, incidents, schedules.

Needs hypothesis (a test-time dependency, not a runtime one). Delays are kept small by default
(0..120 minutes, repeat 0..3) so that state-machine runs stay short and tests stay fast. The entity
strategies (`escalation_policies`, `layers`, `schedules`, `overrides`) draw values that pass
`EscalationPolicy.validate`, `Layer.validate`, `Schedule.validate` and `Override.validate`; event
sequences are not filtered (`incidentcore.apply` refuses some events, as it should). For a
stateful test of the escalation state machine, see `incidentcore.testing.stateful`.

    from incidentcore.testing.strategies import runs, policy_snapshots

    @given(runs(policy_snapshots(min_steps=1)))
    def test_something(run):
        policy, start, events = run  # events: [(event, offset from start), ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import available_timezones

from hypothesis import strategies as st

from incidentcore.errors import ValidationFailed
from incidentcore.escalation import (
    Acknowledge,
    Escalate,
    EscalationStep,
    Event,
    PolicySnapshot,
    Resolve,
    Snooze,
    Target,
    TargetType,
    Tick,
)
from incidentcore.model import EscalationPolicy, Incident, Role, Severity
from incidentcore.schedules import Layer, Override, Restriction, Schedule, TurnLength, TurnUnit, Weekday

__all__ = [
    "DEFAULT_MIX",
    "DEFAULT_START",
    "EVENT_KINDS",
    "NOTABLE_TIME_ZONES",
    "TimedEvent",
    "escalation_policies",
    "event_sequences",
    "incidents",
    "instants",
    "layers",
    "local_datetimes",
    "multiline_text",
    "overrides",
    "policy_snapshots",
    "restrictions",
    "runs",
    "schedules",
    "severities",
    "single_line_text",
    "steps",
    "targets",
    "time_zones",
    "times_of_day",
    "turn_lengths",
]

MAX_DELAY_MINUTES = 120
MAX_REPEAT = 3
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
"""The trigger instant `event_sequences` assumes unless told another."""

EVENT_KINDS = ("tick", "acknowledge", "snooze", "resolve", "escalate")
"""The event kinds `event_sequences` can draw."""

DEFAULT_MIX = (*("tick",) * 3, *("acknowledge",) * 2, "snooze", *("escalate",) * 2, "resolve")
"""The kinds `event_sequences` draws by default: ticks most often, resolve rarely, so that most runs
get somewhere before they end."""

TimedEvent = tuple[Event, timedelta]
"""An escalation event and when it happens, as an offset from the trigger instant."""

ids = st.integers(min_value=1, max_value=1_000)


def instants(
    min_value: datetime = datetime(2000, 1, 1),
    max_value: datetime = datetime(2100, 1, 1),
) -> st.SearchStrategy[datetime]:
    """Timezone-aware UTC datetimes in a sane range (bounds are naive, read as UTC)."""
    return st.datetimes(min_value=min_value, max_value=max_value, timezones=st.just(UTC))


def severities() -> st.SearchStrategy[Severity]:
    """Any severity."""
    return st.sampled_from(Severity)


def targets(
    team_ids: st.SearchStrategy[int] = ids,
    *,
    user_ids: st.SearchStrategy[int] = ids,
    schedule_ids: st.SearchStrategy[int] | None = ids,
) -> st.SearchStrategy[Target]:
    """A user, a team, a role (in a named team, in the incident's team, or anywhere) or a schedule's
    on-call user; `schedule_ids=None` leaves schedules out."""
    kinds = [
        st.builds(Target, st.just(TargetType.USER), user_id=user_ids),
        st.builds(Target, st.just(TargetType.TEAM), team_id=team_ids),
        st.builds(
            Target,
            st.just(TargetType.ROLE),
            team_id=st.none() | team_ids,
            role=st.sampled_from([r.value for r in Role]),
        ),
    ]
    if schedule_ids is not None:
        kinds.append(st.builds(Target, st.just(TargetType.SCHEDULE), schedule_id=schedule_ids))
    return st.one_of(kinds)


_any_target = targets  # `steps` and `escalation_policies` name their parameter `targets` too


def steps(
    max_delay: int = MAX_DELAY_MINUTES, max_targets: int = 3, *, targets: st.SearchStrategy[Target] | None = None
) -> st.SearchStrategy[EscalationStep]:
    """Steps of 0..`max_delay` minutes (0, 1 and 5 often) with 1..`max_targets` targets (drawn from
    `targets`, by default `targets()`)."""
    return st.builds(
        EscalationStep,
        # zero and tiny delays make steps coincide, where ordering bugs hide
        delay_minutes=st.sampled_from([d for d in (0, 1, 5) if d <= max_delay])
        | st.integers(min_value=0, max_value=max_delay),
        targets=st.lists(
            targets if targets is not None else _any_target(), min_size=1, max_size=max_targets
        ).map(tuple),
    )


def _ack_timeouts(max_delay: int) -> st.SearchStrategy[int | None]:
    return st.none() | st.integers(min_value=1, max_value=max_delay)


def policy_snapshots(
    min_steps: int = 0,
    max_steps: int = 4,
    *,
    max_delay: int = MAX_DELAY_MINUTES,
    max_repeat: int = MAX_REPEAT,
    ack_timeouts: st.SearchStrategy[int | None] | None = None,
) -> st.SearchStrategy[PolicySnapshot]:
    """Snapshots as an incident carries them. With `min_steps=0` the no-policy snapshot is included."""

    @st.composite
    def build(draw: st.DrawFn) -> PolicySnapshot:
        chosen = draw(st.lists(steps(max_delay), min_size=min_steps, max_size=max_steps))
        if not chosen:
            return PolicySnapshot.none()
        return PolicySnapshot(
            policy_id=draw(ids),
            steps=tuple(chosen),
            repeat=draw(st.integers(min_value=0, max_value=max_repeat)),
            ack_timeout_minutes=draw(ack_timeouts if ack_timeouts is not None else _ack_timeouts(max_delay)),
        )

    return build()


# What `incidentcore.validation.check_text` accepts: no control characters (and no lone surrogates,
# which no database stores); multi-line text may also hold newlines and tabs.
_TEXT_EXCLUDED: tuple[Literal["Cc", "Cs", "Zl", "Zp"], ...] = ("Cc", "Cs", "Zl", "Zp")


def single_line_text(*, min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Text a title or a name may hold."""
    return st.text(st.characters(exclude_categories=_TEXT_EXCLUDED), min_size=min_size, max_size=max_size)


def multiline_text(*, min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Text a description or a comment may hold."""
    alphabet = st.characters(exclude_categories=_TEXT_EXCLUDED, include_characters="\n\t")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def escalation_policies(
    *,
    team_ids: st.SearchStrategy[int | None] | None = None,
    active: st.SearchStrategy[bool] | None = None,
    max_steps: int = 4,
    max_delay: int = MAX_DELAY_MINUTES,
    max_repeat: int = MAX_REPEAT,
    targets: st.SearchStrategy[Target] | None = None,
) -> st.SearchStrategy[EscalationPolicy]:
    """Policies that pass `EscalationPolicy.validate()`; active unless `active` says otherwise; their
    steps' targets drawn from `targets` (by default `targets()`)."""
    policies = st.builds(
        EscalationPolicy,
        name=single_line_text(max_size=30).filter(lambda s: s.strip() != ""),
        steps=st.lists(steps(max_delay, targets=targets), min_size=1, max_size=max_steps).map(tuple),
        description=st.none() | multiline_text(max_size=50),
        team_id=team_ids if team_ids is not None else st.none() | st.integers(1, 5),
        severities=st.frozensets(severities()),
        repeat=st.integers(min_value=0, max_value=max_repeat),
        ack_timeout_minutes=_ack_timeouts(max_delay),
        is_active=active if active is not None else st.just(True),
        id=ids,
    )
    return policies.filter(_is_valid)  # drops the few that repeat a loop of zero delays


def _is_valid(policy: EscalationPolicy) -> bool:
    try:
        policy.validate()
    except ValidationFailed:
        return False
    return True


def event_sequences(
    start: datetime = DEFAULT_START,
    *,
    min_size: int = 0,
    max_size: int = 12,
    max_gap_minutes: int = 90,
    max_snooze_minutes: int = MAX_DELAY_MINUTES,
    kinds: Sequence[str] = DEFAULT_MIX,
) -> st.SearchStrategy[list[TimedEvent]]:
    """Events after a trigger at `start`, as (event, offset from `start`) with non-decreasing offsets.

    A `Snooze` ends 1..`max_snooze_minutes` after its own instant (absolute, so it needs `start`).
    `kinds` picks the event types (repeat a kind to make it likelier). Sequences are not filtered for
    validity: acknowledging twice or acting after a resolve is meant to be rejected, and a run simply
    skips what `incidentcore.apply` refuses.
    """
    unknown = set(kinds) - set(EVENT_KINDS)
    if unknown:
        raise ValueError(f"unknown event kinds {sorted(unknown)}")

    @st.composite
    def build(draw: st.DrawFn) -> list[TimedEvent]:
        gaps = draw(st.lists(st.integers(0, max_gap_minutes), min_size=min_size, max_size=max_size))
        out: list[TimedEvent] = []
        offset = timedelta()
        for gap in gaps:
            offset += timedelta(minutes=gap, seconds=draw(st.sampled_from([0, 0, 0, 30])))
            kind = draw(st.sampled_from(list(kinds)))
            event: Event
            if kind == "tick":
                event = Tick()
            elif kind == "acknowledge":
                event = Acknowledge()
            elif kind == "snooze":
                length = draw(st.integers(min_value=1, max_value=max_snooze_minutes))
                event = Snooze(start + offset + timedelta(minutes=length))
            elif kind == "resolve":
                event = Resolve()
            else:
                event = Escalate()
            out.append((event, offset))
        return out

    return build()


def runs(
    policies: st.SearchStrategy[PolicySnapshot] | None = None, **sequence_options: object
) -> st.SearchStrategy[tuple[PolicySnapshot, datetime, list[TimedEvent]]]:
    """(policy, trigger instant, events after the trigger): one whole escalation run to replay."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[PolicySnapshot, datetime, list[TimedEvent]]:
        policy = draw(policies if policies is not None else policy_snapshots())
        start = draw(instants())
        events = draw(event_sequences(start, **sequence_options))  # type: ignore[arg-type]
        return policy, start, events

    return build()


def incidents(
    *,
    triggered: bool = False,
    policies: st.SearchStrategy[PolicySnapshot] | None = None,
    team_ids: st.SearchStrategy[int | None] | None = None,
) -> st.SearchStrategy[Incident]:
    """Fresh incidents; with `triggered=True` they have triggered on a drawn policy at
    `Incident.created_at`."""

    @st.composite
    def build(draw: st.DrawFn) -> Incident:
        created_at = draw(instants())
        incident = Incident(
            title=draw(single_line_text(min_size=1, max_size=40)),
            created_at=created_at,
            severity=draw(severities()),
            description=draw(st.none() | multiline_text(max_size=80)),
            team_id=draw(team_ids if team_ids is not None else st.none() | st.integers(1, 5)),
            assignee_id=draw(st.none() | ids),
            created_by_id=draw(st.none() | ids),
            id=draw(ids),
        )
        if triggered:
            policy = draw(policies if policies is not None else policy_snapshots())
            incident.trigger(policy, created_at, incident.created_by_id)
        return incident

    return build()


# ------------------------------------------------------------------------------------------ schedules

NOTABLE_TIME_ZONES = tuple(
    zone
    for zone in (
        "America/New_York",
        "Europe/Berlin",
        "UTC",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Australia/Adelaide",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/St_Johns",
        "Pacific/Apia",
        "Pacific/Kwajalein",
        "Europe/Moscow",
        "Europe/Dublin",
        "Africa/Casablanca",
        "America/Sao_Paulo",
        "America/Santiago",
        "Asia/Tehran",
        "Antarctica/Troll",
    )
    if zone in available_timezones()
)
"""Where schedule arithmetic goes wrong: DST in both hemispheres and a negative one (Dublin), offsets of
:30 and :45, a 30-minute DST change (Lord Howe), whole days skipped (Apia 2011, Kwajalein 1993) and
rules that changed (Moscow, Casablanca, Sao Paulo, Tehran). Those the system's zone database lacks are
left out."""

# Times of day at and around the usual DST changes, and the usual handoff times.
_NOTABLE_TIMES = tuple(
    time(h, m) for h, m in ((0, 0), (1, 0), (1, 30), (2, 0), (2, 30), (3, 0), (9, 0), (23, 30))
)


def time_zones() -> st.SearchStrategy[str]:
    """IANA zone names: the notable ones half of the time, any the system knows otherwise."""
    return st.sampled_from(NOTABLE_TIME_ZONES) | st.sampled_from(sorted(available_timezones()))


def times_of_day() -> st.SearchStrategy[time]:
    """Whole-minute local times, often ones where DST changes happen."""
    return st.sampled_from(_NOTABLE_TIMES) | st.builds(
        time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59)
    )


def local_datetimes(min_year: int = 1975, max_year: int = 2035) -> st.SearchStrategy[datetime]:
    """Naive whole-minute local date-times, as layer starts are."""
    return st.builds(
        datetime.combine,
        st.dates(min_value=date(min_year, 1, 1), max_value=date(max_year, 12, 31)),
        times_of_day(),
    )


def turn_lengths() -> st.SearchStrategy[TurnLength]:
    """Valid turn lengths (1 hour to 12 weeks), often the common ones."""
    return st.one_of(
        st.builds(
            TurnLength, st.just(TurnUnit.HOURS), st.sampled_from([1, 8, 12, 24]) | st.integers(1, 2016)
        ),
        st.builds(TurnLength, st.just(TurnUnit.DAYS), st.sampled_from([1, 7]) | st.integers(1, 84)),
        st.builds(TurnLength, st.just(TurnUnit.WEEKS), st.integers(1, 12)),
    )


def restrictions() -> st.SearchStrategy[Restriction]:
    """Valid restrictions: some days or every day, windows wrapping midnight and whole days included."""
    return st.builds(
        Restriction,
        days=st.none() | st.frozensets(st.sampled_from(Weekday), min_size=1),
        start_time=times_of_day(),
        end_time=times_of_day(),
    )


def layers(
    *,
    user_ids: st.SearchStrategy[int] | None = None,
    starts: st.SearchStrategy[datetime] | None = None,
    max_participants: int = 4,
    max_restrictions: int = 2,
    ends: bool = True,
    lengths: st.SearchStrategy[TurnLength] | None = None,
) -> st.SearchStrategy[Layer]:
    """Layers that pass `Layer.validate()`; participants repeat now and then (ids 1..5 by default);
    turns as long as `lengths` draws (by default `turn_lengths()`)."""

    @st.composite
    def build(draw: st.DrawFn) -> Layer:
        start = draw(starts if starts is not None else local_datetimes())
        end = None
        if ends and draw(st.booleans()):
            end = start + timedelta(minutes=draw(st.integers(1, 3 * 365 * 24 * 60)))
        return Layer(
            name=draw(single_line_text(min_size=1, max_size=20).filter(lambda s: s.strip() != "")),
            start=start,
            turn_length=draw(lengths if lengths is not None else turn_lengths()),
            participants=tuple(
                draw(
                    st.lists(
                        user_ids if user_ids is not None else st.integers(1, 5),
                        min_size=1,
                        max_size=max_participants,
                    )
                )
            ),
            restrictions=tuple(draw(st.lists(restrictions(), max_size=max_restrictions))),
            end=end,
        )

    return build()


def schedules(
    *,
    zones: st.SearchStrategy[str] | None = None,
    min_layers: int = 1,
    max_layers: int = 3,
    **layer_options: object,
) -> st.SearchStrategy[Schedule]:
    """Schedules that pass `Schedule.validate()`; `layer_options` go to `layers()`."""
    return st.builds(
        Schedule,
        name=single_line_text(min_size=1, max_size=30).filter(lambda s: s.strip() != ""),
        time_zone=zones if zones is not None else time_zones(),
        layers=st.lists(layers(**layer_options), min_size=min_layers, max_size=max_layers).map(tuple),  # type: ignore[arg-type]
        description=st.none() | multiline_text(max_size=50),
        team_id=st.none() | st.integers(1, 5),
        id=ids,
    )


def overrides(
    *,
    user_ids: st.SearchStrategy[int] | None = None,
    min_start: datetime = datetime(1975, 1, 1),
    max_start: datetime = datetime(2035, 12, 31),
    max_minutes: int = 14 * 24 * 60,
) -> st.SearchStrategy[Override]:
    """Overrides that pass `Override.validate()`, starting between the (naive, UTC) bounds, lasting
    1 minute to `max_minutes`; `Override.created_at` varies so that overlapping ones have a clear winner."""

    @st.composite
    def build(draw: st.DrawFn) -> Override:
        start = draw(instants(min_start, max_start)).replace(second=0, microsecond=0)
        return Override(
            user_id=draw(user_ids if user_ids is not None else st.integers(1, 5)),
            start=start,
            end=start + timedelta(minutes=draw(st.integers(1, max_minutes))),
            created_at=draw(instants()),
            id=draw(ids),
        )

    return build()

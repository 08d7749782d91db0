"""Properties of the escalation state machine (`incidentcore.escalation`), proved with hypothesis.

A run is: Trigger at `start`, then events at `start + offset`. Events the machine refuses
(InvalidTransition / Conflict) are skipped, as a caller would reject the request and keep its state.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from incidentcore.errors import Conflict, InvalidTransition
from incidentcore.escalation import (
    Acknowledge,
    Effect,
    EffectKind,
    Escalate,
    EscalationState,
    EscalationStep,
    Event,
    NaiveDatetimeError,
    Phase,
    PolicySnapshot,
    Resolve,
    Snooze,
    Target,
    TargetType,
    Tick,
    Trigger,
    apply,
)
from incidentcore.model import EscalationPolicy
from incidentcore.testing.strategies import (
    TimedEvent,
    escalation_policies,
    event_sequences,
    instants,
    policy_snapshots,
    runs,
)

MINUTE = timedelta(minutes=1)
RunData = tuple[PolicySnapshot, datetime, list[TimedEvent]]
NOT_TICK = ("acknowledge", "snooze", "escalate", "resolve")
NEVER_RESOLVES = ("tick", "tick", "acknowledge", "snooze", "escalate")
NEVER_ESCALATES = ("tick", "tick", "acknowledge", "snooze", "resolve")
ESCALATE_HEAVY = ("tick", "acknowledge", "snooze", "escalate", "escalate", "escalate", "resolve")


# --------------------------------------------------------------------------------------------- helpers


@dataclass
class Step:
    event: Event
    now: datetime
    before: EscalationState
    after: EscalationState
    effects: tuple[Effect, ...]
    error: Exception | None = None


@dataclass
class Run:
    policy: PolicySnapshot
    start: datetime
    first_state: EscalationState  # right after the trigger
    trigger_effects: tuple[Effect, ...]
    steps: list[Step]

    @property
    def state(self) -> EscalationState:
        return self.steps[-1].after if self.steps else self.first_state

    @property
    def effects(self) -> list[Effect]:
        out = list(self.trigger_effects)
        for step in self.steps:
            out.extend(step.effects)
        return out

    @property
    def fires(self) -> list[Effect]:
        return [e for e in self.effects if e.is_fire]

    @property
    def last_instant(self) -> datetime:
        return self.steps[-1].now if self.steps else self.start


def replay(policy: PolicySnapshot, start: datetime, events: Iterable[TimedEvent]) -> Run:
    state, effects = apply(policy, None, Trigger(), start)
    run = Run(policy, start, state, effects, [])
    for event, offset in events:
        now = start + offset
        try:
            after, produced = apply(policy, state, event, now)
        except Conflict as exc:  # InvalidTransition is a Conflict
            run.steps.append(Step(event, now, state, state, (), exc))
            continue
        run.steps.append(Step(event, now, state, after, produced))
        state = after
    return run


def then(run: Run, event: Event, now: datetime) -> tuple[EscalationState, tuple[Effect, ...]]:
    return apply(run.policy, run.state, event, now)


def held_state(run: Run, now: datetime) -> EscalationState:
    """The run's state at `now`, acknowledged first unless it is held already: a snooze needs that."""
    state, _ = then(run, Tick(), now)
    if state.phase in (Phase.ACTIVE, Phase.EXHAUSTED):
        state, _ = apply(run.policy, state, Acknowledge(), now)
    return state


def fire_key(effect: Effect) -> tuple[object, ...]:
    return (effect.kind, effect.cycle, effect.step_index, effect.loop, effect.scheduled_at)


def offsets(
    min_minutes: int = 0, max_minutes: int = 600, min_size: int = 0, max_size: int = 8
) -> st.SearchStrategy[list[timedelta]]:
    """Sorted offsets with second resolution."""
    return st.lists(
        st.integers(min_minutes * 60, max_minutes * 60).map(lambda s: timedelta(seconds=s)),
        min_size=min_size,
        max_size=max_size,
    ).map(sorted)


def cycle_length(policy: PolicySnapshot) -> timedelta:
    return sum((s.delay_minutes * MINUTE for s in policy.steps), timedelta()) * (policy.repeat + 1)


def ticks(at: Sequence[timedelta]) -> list[TimedEvent]:
    return [(Tick(), offset) for offset in at]


# ------------------------------------------------------------------------------------------ determinism


@given(runs())
def test_same_inputs_give_the_same_state_and_effects(run: RunData) -> None:
    policy, start, events = run
    first, second = replay(policy, start, events), replay(policy, start, events)
    assert first.state == second.state
    assert first.effects == second.effects
    assert [(type(s.error), str(s.error)) for s in first.steps] == [
        (type(s.error), str(s.error)) for s in second.steps
    ]
    # and each single transition is a function of its inputs
    for step in first.steps:
        if step.error is None:
            assert apply(policy, step.before, step.event, step.now) == (step.after, step.effects)


# --------------------------------------------------------------------------------- tick-partition invariance


@given(policy_snapshots(), instants(), offsets(max_minutes=1500, min_size=1, max_size=10))
def test_ticking_at_any_instants_fires_what_one_tick_at_the_end_fires(
    policy: PolicySnapshot, start: datetime, at: list[timedelta]
) -> None:
    many = replay(policy, start, ticks(at))
    once = replay(policy, start, ticks(at[-1:]))
    assert [fire_key(e) for e in many.fires] == [fire_key(e) for e in once.fires]
    assert many.effects == once.effects
    assert many.state == once.state


@given(
    runs(kinds=NOT_TICK),
    offsets(max_minutes=1500, max_size=10),
    st.booleans(),
    st.integers(0, 300),
)
def test_extra_ticks_between_events_change_nothing(
    run: RunData,
    extra: list[timedelta],
    ticks_first: bool,
    tail_minutes: int,
) -> None:
    """With acknowledge/snooze/escalate/resolve at fixed instants, when the ticks happen is irrelevant."""
    policy, start, events = run
    end = max([o for _, o in events] + extra + [timedelta()]) + tail_minutes * MINUTE
    baseline = replay(policy, start, [*events, (Tick(), end)])
    # ticks placed before (or after) events that share their instant; sorted() is stable
    tie = 0 if ticks_first else 1
    merged = sorted(
        [(e, o, 1 - tie) for e, o in events] + [(Tick(), o, tie) for o in extra],
        key=lambda item: (item[1], item[2]),
    )
    ticked = replay(policy, start, [(e, o) for e, o, _ in merged] + [(Tick(), end)])
    assert [fire_key(e) for e in ticked.fires] == [fire_key(e) for e in baseline.fires]
    assert ticked.effects == baseline.effects
    assert ticked.state == baseline.state
    # and the same events are accepted and refused
    refused = [(type(s.event), s.now) for s in baseline.steps if s.error]
    assert [(type(s.event), s.now) for s in ticked.steps if s.error] == refused


# ---------------------------------------------------------------------------------------- idempotent tick


@given(runs(), st.integers(0, 300))
def test_ticking_twice_at_one_instant_does_nothing_the_second_time(run: RunData, later_minutes: int) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    now = done.last_instant + later_minutes * MINUTE
    once, _ = then(done, Tick(), now)
    twice, effects = apply(policy, once, Tick(), now)
    assert effects == ()
    assert twice == once


@given(runs())
def test_no_transition_leaves_a_timer_due(run: RunData) -> None:
    """After any accepted event at `now` the pending timer is in the future, so a tick at `now` is a no-op."""
    policy, start, events = run
    done = replay(policy, start, events)
    pairs = [(done.first_state, start)] + [(s.after, s.now) for s in done.steps if s.error is None]
    for state, now in pairs:
        assert state.next_at is None or state.next_at > now
        assert apply(policy, state, Tick(), now) == (state, ())


# ---------------------------------------------------------------------- nothing fires while held or resolved


@given(runs(kinds=("tick", "escalate")), st.integers(0, 120), st.data())
def test_nothing_fires_while_acknowledged(run: RunData, gap: int, data: st.DataObject) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    ack_at = done.last_instant + gap * MINUTE
    state, effects = then(done, Acknowledge(), ack_at)
    assert state.phase is Phase.ACKNOWLEDGED
    assert effects[-1] == Effect(EffectKind.ACKNOWLEDGED, state.cycle, ack_at)
    timeout = policy.ack_timeout_minutes
    horizon = timeout * 60 - 1 if timeout else 3000 * 60
    for second in data.draw(st.lists(st.integers(0, horizon), max_size=8).map(sorted)):
        state, effects = apply(policy, state, Tick(), ack_at + timedelta(seconds=second))
        assert effects == ()
        assert state.phase is Phase.ACKNOWLEDGED


@given(runs(kinds=("tick", "escalate", "acknowledge")), st.integers(0, 120), st.integers(1, 240), st.data())
def test_nothing_happens_while_snoozed(run: RunData, gap: int, length: int, data: st.DataObject) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    now = done.last_instant + gap * MINUTE
    until = now + length * MINUTE
    state, effects = apply(policy, held_state(done, now), Snooze(until), now)
    assert state.phase is Phase.SNOOZED
    assert effects[-1] == Effect(EffectKind.SNOOZED, state.cycle, now, reason=until.isoformat())
    for second in data.draw(st.lists(st.integers(0, length * 60 - 1), max_size=8).map(sorted)):
        state, effects = apply(policy, state, Tick(), now + timedelta(seconds=second))
        assert effects == ()
        assert state.phase is Phase.SNOOZED
        assert state.next_at == until


@given(runs(kinds=NEVER_RESOLVES), st.integers(0, 120), st.data())
def test_resolve_is_terminal(run: RunData, gap: int, data: st.DataObject) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    now = done.last_instant + gap * MINUTE
    resolved, effects = then(done, Resolve(), now)
    assert resolved.phase is Phase.RESOLVED
    assert resolved.next_at is None
    assert effects[-1] == Effect(EffectKind.STOPPED, resolved.cycle, now, reason="resolved")
    later: list[TimedEvent] = data.draw(event_sequences(now, max_size=10, kinds=("tick", *NOT_TICK)))
    for event, offset in later:
        at = now + offset
        if isinstance(event, Tick):
            assert apply(policy, resolved, event, at) == (resolved, ())
        else:
            with pytest.raises(InvalidTransition):
                apply(policy, resolved, event, at)


# ----------------------------------------------------------------------------------- bounds and ordering


@given(runs(kinds=ESCALATE_HEAVY, max_size=20))
def test_automatic_fires_per_cycle_are_bounded(run: RunData) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    per_cycle = Counter(e.cycle for e in done.effects if e.kind is EffectKind.FIRED)
    assert all(count <= policy.fires_per_cycle for count in per_cycle.values())


# delays of 0 or 1 minute: loops that take no time at all are likely, if validate let them through
TIGHT_VALID_POLICIES = escalation_policies(max_delay=1).map(EscalationPolicy.snapshot)


@given(runs(TIGHT_VALID_POLICIES, kinds=NEVER_ESCALATES, max_size=20))
def test_a_valid_policy_pages_at_most_one_loop_at_any_instant(run: RunData) -> None:
    """`EscalationPolicy.validate` makes a repeating policy's loop last at least a minute, so however
    a run goes, the schedule never fires more than one loop's steps at the same instant: no storm."""
    policy, start, events = run
    done = replay(policy, start, events)
    at_once = Counter((e.cycle, e.scheduled_at) for e in done.effects if e.kind is EffectKind.FIRED)
    assert all(count <= len(policy.steps) for count in at_once.values())


@given(policy_snapshots(), instants(), st.integers(0, 600))
def test_a_long_enough_wait_fires_every_step_of_every_loop_once(
    policy: PolicySnapshot, start: datetime, extra: int
) -> None:
    done = replay(policy, start, ticks([cycle_length(policy) + extra * MINUTE]))
    n = len(policy.steps)
    assert [(e.step_index, e.loop) for e in done.fires] == [
        (k % n, k // n) for k in range(policy.fires_per_cycle)
    ]
    assert done.state.phase is Phase.EXHAUSTED
    assert done.state.next_at is None


@given(runs(kinds=ESCALATE_HEAVY, max_size=20))
def test_step_order_is_monotonic_within_a_loop(run: RunData) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    by_loop: dict[tuple[int, int | None], list[int | None]] = defaultdict(list)
    for fire in done.fires:
        by_loop[fire.cycle, fire.loop].append(fire.step_index)
    for indices in by_loop.values():
        assert all(a is not None and b is not None and a < b for a, b in pairwise(indices))
    automatic: dict[tuple[int, int | None], list[int]] = defaultdict(list)
    for fire in done.effects:
        if fire.kind is EffectKind.FIRED:
            assert fire.step_index is not None
            automatic[fire.cycle, fire.loop].append(fire.step_index)
    for steps in automatic.values():
        assert steps == sorted(set(steps))  # strictly increasing
    times = [e.scheduled_at for e in done.effects]
    assert times == sorted(times)
    assert all(e.scheduled_at <= done.last_instant for e in done.effects)


@given(runs(kinds=ESCALATE_HEAVY, max_size=20))
def test_scheduled_times_are_exact(run: RunData) -> None:
    """The k-th automatic fire of a cycle is at cycle start + the delays of the k fires before it.

    A manual escalate re-bases the timers on the moment it happened, so a cycle is checked up to its
    first manual fire.
    """
    policy, start, events = run
    done = replay(policy, start, events)
    starts = {0: start}
    fired: dict[int, list[Effect]] = defaultdict(list)
    manual_seen: set[int] = set()
    for effect in done.effects:
        if effect.kind is EffectKind.RETRIGGERED and effect.reason != "manual":
            assert effect.cycle not in starts
            starts[effect.cycle] = effect.scheduled_at
        elif effect.kind is EffectKind.MANUAL:
            manual_seen.add(effect.cycle)
        elif effect.kind is EffectKind.FIRED and effect.cycle not in manual_seen:
            fired[effect.cycle].append(effect)
    n = len(policy.steps)
    for cycle, fires in fired.items():
        expected_at = starts[cycle]
        for k, fire in enumerate(fires):
            assert (fire.step_index, fire.loop) == (k % n, k // n)
            assert fire.scheduled_at == expected_at
            expected_at += policy.steps[k % n].delay_minutes * MINUTE


# ------------------------------------------------------------------------------------- the two re-triggers


@given(
    runs(kinds=("tick", "escalate", "acknowledge")),
    st.integers(0, 120),
    st.integers(1, 240),
    offsets(max_minutes=600, max_size=6),
    st.integers(0, 300),
)
def test_snooze_expiry_retriggers_exactly_once(
    run: RunData,
    gap: int,
    length: int,
    during: list[timedelta],
    after: int,
) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    now = done.last_instant + gap * MINUTE
    until = now + length * MINUTE
    state, _ = apply(policy, held_state(done, now), Snooze(until), now)
    cycle = state.cycle
    effects: list[Effect] = []
    for offset in [*during, length * MINUTE + after * MINUTE]:
        state, produced = apply(policy, state, Tick(), now + offset)
        effects.extend(produced)
    retriggers = [e for e in effects if e.kind is EffectKind.RETRIGGERED]
    assert retriggers == [Effect(EffectKind.RETRIGGERED, cycle + 1, until, reason="snooze_expired")]
    first_after = effects[effects.index(retriggers[0]) + 1 :][:1]
    if policy.steps:
        assert first_after == [Effect(EffectKind.FIRED, cycle + 1, until, 0, 0)]
    else:
        assert first_after == []
        assert state.phase is Phase.EXHAUSTED
    assert all(e.cycle == cycle + 1 and e.scheduled_at >= until for e in effects)


@given(
    runs(policy_snapshots(min_steps=1, ack_timeouts=st.integers(1, 120)), kinds=("tick", "escalate")),
    st.integers(0, 120),
    offsets(max_minutes=900, max_size=6),
    st.integers(0, 300),
)
def test_ack_timeout_retriggers_exactly_once(
    run: RunData,
    gap: int,
    during: list[timedelta],
    after: int,
) -> None:
    policy, start, events = run
    assert policy.ack_timeout_minutes is not None
    done = replay(policy, start, events)
    acked_at = done.last_instant + gap * MINUTE
    deadline = acked_at + policy.ack_timeout_minutes * MINUTE
    state, _ = then(done, Acknowledge(), acked_at)
    assert state.next_at == deadline
    cycle = state.cycle
    effects: list[Effect] = []
    for at in [acked_at + o for o in during] + [deadline + after * MINUTE]:
        state, produced = apply(policy, state, Tick(), at)
        effects.extend(produced)
    retriggers = [e for e in effects if e.kind is EffectKind.RETRIGGERED]
    assert retriggers == [Effect(EffectKind.RETRIGGERED, cycle + 1, deadline, reason="ack_timeout")]
    assert effects[0] == retriggers[0]
    assert effects[1] == Effect(EffectKind.FIRED, cycle + 1, deadline, 0, 0)
    assert state.phase in (Phase.ACTIVE, Phase.EXHAUSTED)


def test_no_ack_timeout_means_acknowledged_for_good() -> None:
    policy = PolicySnapshot(1, (EscalationStep(5, (Target(TargetType.USER, user_id=1),)),))
    start = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    done = replay(policy, start, [(Acknowledge(), MINUTE)])
    assert done.state.phase is Phase.ACKNOWLEDGED
    assert done.state.next_at is None
    assert then(done, Tick(), start + timedelta(days=365)) == (done.state, ())


@given(runs())
def test_only_an_acknowledged_incident_can_be_snoozed(run: RunData) -> None:
    """PagerDuty's rule: a snooze holds what an acknowledgement took. A triggered incident is refused,
    never acknowledged on the side, so no state change happens without its own event."""
    policy, start, events = run
    done = replay(policy, start, events)
    for step in done.steps:
        if not isinstance(step.event, Snooze):
            continue
        caught_up, _ = apply(policy, step.before, Tick(), step.now)
        if caught_up.phase in (Phase.ACKNOWLEDGED, Phase.SNOOZED) and step.event.until > step.now:
            assert step.error is None
            assert step.after.phase is Phase.SNOOZED
            assert [e.kind for e in step.effects] == [EffectKind.SNOOZED]  # no acknowledgement on the side
        else:
            assert isinstance(step.error, InvalidTransition)
            assert step.after == step.before


# ---------------------------------------------------------------------------------------- manual escalate


@given(runs(policy_snapshots(min_steps=1), kinds=("tick", "escalate", "escalate")), st.integers(0, 120))
def test_escalate_fires_the_next_step_now(run: RunData, gap: int) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    now = done.last_instant + gap * MINUTE
    due, _ = then(done, Tick(), now)  # what a punctual scheduler would have done by `now`
    state, effects = apply(policy, due, Escalate(), now)
    if due.phase is Phase.ACTIVE:
        expected = Effect(EffectKind.MANUAL, due.cycle, now, due.next_step, due.loop)
    else:
        assert due.phase is Phase.EXHAUSTED
        expected = Effect(EffectKind.MANUAL, due.cycle, now, len(policy.steps) - 1, due.loop)
    manual = [e for e in effects if e.kind is EffectKind.MANUAL]
    assert manual == [expected]
    after = effects[effects.index(expected) + 1 :]
    assert all(e.kind is EffectKind.FIRED and e.scheduled_at == now for e in after)
    assert state.last_fired_step is not None
    assert state.phase in (Phase.ACTIVE, Phase.EXHAUSTED)


@given(
    runs(policy_snapshots(min_steps=1), kinds=("tick", "escalate")),
    st.sampled_from(["acknowledge", "snooze"]),
    st.integers(0, 60),
)
def test_escalate_while_held_retriggers_then_fires(run: RunData, hold: str, gap: int) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    held_at = done.last_instant
    held, _ = then(done, Acknowledge(), held_at)
    if hold == "snooze":
        held, _ = apply(policy, held, Snooze(held_at + 61 * MINUTE), held_at)
    timeout = policy.ack_timeout_minutes
    if hold == "acknowledge" and timeout is not None:
        assume(gap < timeout)
    now = held_at + gap * MINUTE
    state, effects = apply(policy, held, Escalate(), now)
    assert effects[0] == Effect(EffectKind.RETRIGGERED, held.cycle, now, reason="manual")
    assert effects[1].kind is EffectKind.MANUAL
    assert (effects[1].cycle, effects[1].scheduled_at) == (held.cycle, now)
    assert state.phase in (Phase.ACTIVE, Phase.EXHAUSTED)


@given(runs(policy_snapshots(min_steps=1), kinds=ESCALATE_HEAVY, max_size=25))
def test_escalating_a_held_incident_goes_on_up_its_cycle(run: RunData) -> None:
    """Only the automatic re-triggers (ack timeout, snooze end) start a new cycle, at step 0. Escalate on
    an acknowledged or snoozed incident re-triggers it within its cycle and pages the next step not yet
    fired: within a cycle every fire is further along (loop, step) than the one before it."""
    policy, start, events = run
    done = replay(policy, start, events)
    cycle = 0
    furthest: dict[int, tuple[int, int]] = {}
    for effect in done.effects:
        if effect.kind is EffectKind.RETRIGGERED:
            expected_cycle = cycle if effect.reason == "manual" else cycle + 1
            assert effect.cycle == expected_cycle
            cycle = effect.cycle
        elif effect.is_fire:
            assert effect.cycle == cycle and effect.loop is not None and effect.step_index is not None
            at = (effect.loop, effect.step_index)
            assert at > furthest[cycle] if cycle in furthest else at == (0, 0)
            furthest[cycle] = at
    for step in done.steps:
        if not isinstance(step.event, Escalate) or step.error is not None:
            continue
        caught_up, _ = apply(policy, step.before, Tick(), step.now)
        if caught_up.phase not in (Phase.ACKNOWLEDGED, Phase.SNOOZED):
            continue
        (manual,) = [e for e in step.effects if e.kind is EffectKind.MANUAL]
        exhausted = caught_up.loop > policy.repeat
        expected_step = len(policy.steps) - 1 if exhausted else caught_up.next_step
        assert (manual.cycle, manual.step_index, manual.loop) == (
            caught_up.cycle,
            expected_step,
            caught_up.loop,
        )


@given(runs(kinds=NEVER_RESOLVES), st.integers(0, 60))
def test_escalate_on_resolved_is_an_invalid_transition(run: RunData, gap: int) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    resolved, _ = then(done, Resolve(), done.last_instant)
    with pytest.raises(InvalidTransition):
        apply(policy, resolved, Escalate(), done.last_instant + gap * MINUTE)


@given(runs(policy_snapshots(max_steps=0), kinds=NEVER_RESOLVES), st.integers(0, 60))
def test_escalate_without_steps_is_a_conflict(run: RunData, gap: int) -> None:
    policy, start, events = run
    done = replay(policy, start, events)
    assert all(not s.effects or not any(e.is_fire for e in s.effects) for s in done.steps)
    with pytest.raises(Conflict) as raised:
        then(done, Escalate(), done.last_instant + gap * MINUTE)
    assert type(raised.value) is Conflict  # not an InvalidTransition: the state is fine, the policy is empty


@given(runs(kinds=ESCALATE_HEAVY, max_size=25))
def test_fire_keys_never_repeat(run: RunData) -> None:
    """(cycle, step_index, loop) is the notification idempotency key: a repeat would swallow a page."""
    policy, start, events = run
    done = replay(policy, start, events)
    keys = [(f.cycle, f.step_index, f.loop) for f in done.fires]
    assert len(keys) == len(set(keys))


# ------------------------------------------------------------------------------------------- rejections


def test_refused_events() -> None:
    policy = PolicySnapshot(7, (EscalationStep(10, (Target(TargetType.TEAM, team_id=1),)),), repeat=1)
    t0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    with pytest.raises(InvalidTransition, match="must trigger"):
        apply(policy, None, Tick(), t0)
    state, effects = apply(policy, None, Trigger(), t0)
    assert effects == (Effect(EffectKind.FIRED, 0, t0, 0, 0),)
    assert (state.phase, state.next_at, state.last_fired_step) == (Phase.ACTIVE, t0 + 10 * MINUTE, 0)
    with pytest.raises(InvalidTransition, match="already triggered"):
        apply(policy, state, Trigger(), t0)
    with pytest.raises(InvalidTransition, match="acknowledge it first"):
        apply(policy, state, Snooze(t0 + MINUTE), t0)
    acked, _ = apply(policy, state, Acknowledge(), t0)
    with pytest.raises(InvalidTransition, match="acknowledged"):
        apply(policy, acked, Acknowledge(), t0)
    with pytest.raises(InvalidTransition, match="in the future"):
        apply(policy, acked, Snooze(t0), t0)
    snoozed, _ = apply(policy, acked, Snooze(t0 + MINUTE), t0)
    with pytest.raises(InvalidTransition, match="snoozed"):
        apply(policy, snoozed, Acknowledge(), t0)
    resolved, _ = apply(policy, state, Resolve(), t0)
    with pytest.raises(InvalidTransition, match="resolved"):
        apply(policy, resolved, Snooze(t0 + MINUTE), t0)
    with pytest.raises(InvalidTransition, match="already resolved"):
        apply(policy, resolved, Resolve(), t0)


def test_no_policy_snapshot() -> None:
    none = PolicySnapshot.none()
    assert (none.policy_id, none.steps, none.fires_per_cycle) == (None, (), 0)
    t0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    state, effects = apply(none, None, Trigger(), t0)
    assert (state.phase, state.next_at, effects) == (Phase.EXHAUSTED, None, ())
    assert Effect(EffectKind.STOPPED, 0, t0).is_fire is False


# ---------------------------------------------------------------------------------------------- examples

T0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")


def _step(delay: int) -> EscalationStep:
    return EscalationStep(delay, (Target(TargetType.USER, user_id=1),))


def test_an_event_first_fires_the_steps_that_came_due_before_it() -> None:
    """A late scheduler does not lose a page to an acknowledgement that arrives before its tick."""
    policy = PolicySnapshot(1, (_step(5), _step(5)))
    state, _ = apply(policy, None, Trigger(), T0)
    state, effects = apply(policy, state, Acknowledge(), T0 + 7 * MINUTE)
    assert effects == (
        Effect(EffectKind.FIRED, 0, T0 + 5 * MINUTE, 1, 0),
        Effect(EffectKind.ACKNOWLEDGED, 0, T0 + 7 * MINUTE),
    )
    assert state.phase is Phase.ACKNOWLEDGED


def test_an_expired_snooze_retriggers_before_the_next_event() -> None:
    policy = PolicySnapshot(1, (_step(30),))
    state, _ = apply(policy, None, Trigger(), T0)
    state, _ = apply(policy, state, Acknowledge(), T0)
    state, _ = apply(policy, state, Snooze(T0 + 10 * MINUTE), T0)
    state, effects = apply(policy, state, Acknowledge(), T0 + 20 * MINUTE)
    assert [e.kind for e in effects] == [EffectKind.RETRIGGERED, EffectKind.FIRED, EffectKind.ACKNOWLEDGED]
    assert effects[0] == Effect(EffectKind.RETRIGGERED, 1, T0 + 10 * MINUTE, reason="snooze_expired")
    assert state.phase is Phase.ACKNOWLEDGED


def test_escalate_past_a_zero_delay_step_fires_the_next_one_too() -> None:
    policy = PolicySnapshot(1, (_step(10), _step(0), _step(10), _step(10)))
    state, _ = apply(policy, None, Trigger(), T0)
    now = T0 + MINUTE
    state, effects = apply(policy, state, Escalate(), now)
    assert effects == (Effect(EffectKind.MANUAL, 0, now, 1, 0), Effect(EffectKind.FIRED, 0, now, 2, 0))
    assert (state.phase, state.next_at) == (Phase.ACTIVE, now + 10 * MINUTE)


def test_escalate_when_exhausted_pages_the_last_step_again_as_a_further_loop() -> None:
    policy = PolicySnapshot(1, (_step(1), _step(1)), repeat=1)
    state, _ = apply(policy, None, Trigger(), T0)
    state, _ = apply(policy, state, Tick(), T0 + 10 * MINUTE)
    assert (state.phase, state.loop) == (Phase.EXHAUSTED, 2)
    now = T0 + 11 * MINUTE
    state, effects = apply(policy, state, Escalate(), now)
    assert effects == (Effect(EffectKind.MANUAL, 0, now, 1, 2),)
    state, effects = apply(policy, state, Escalate(), now)
    assert effects == (Effect(EffectKind.MANUAL, 0, now, 1, 3),)
    assert (state.phase, state.next_at, state.last_fired_step) == (Phase.EXHAUSTED, None, 1)


def test_an_unvalidated_zero_delay_loop_would_page_every_loop_at_once() -> None:
    """Why the rule exists: the engine itself fires whatever a snapshot says."""
    storm = PolicySnapshot(1, (_step(0), _step(0)), repeat=9)
    _, effects = apply(storm, None, Trigger(), T0)
    assert [(e.scheduled_at, e.kind) for e in effects] == [(T0, EffectKind.FIRED)] * 20


@given(runs(), st.sampled_from(["now", "until", "next_at"]), st.integers(0, 120))
def test_a_naive_datetime_is_refused_with_a_clear_error(run: RunData, naive: str, gap: int) -> None:
    """Mixed naive and aware instants never reach a comparison (a bare TypeError): `apply` names them."""
    policy, start, events = run
    done = replay(policy, start, events)
    now = done.last_instant + gap * MINUTE
    state = done.state
    event: Event = Tick()
    if naive == "now":
        now = now.replace(tzinfo=None)
    elif naive == "until":
        event = Snooze(now.replace(tzinfo=None) + MINUTE)
    else:
        assume(state.next_at is not None)
        assert state.next_at is not None
        state = replace(state, next_at=state.next_at.replace(tzinfo=None))
    with pytest.raises(NaiveDatetimeError, match=f"^{naive}=.* has no timezone"):
        apply(policy, state, event, now)
    with pytest.raises(ValueError, match="has no timezone"):  # before the first trigger too
        apply(policy, None, Trigger(), start.replace(tzinfo=None))


# Zones whose wall clock jumps (DST both ways, a 30-minute shift, a 45-minute offset).
WALL_CLOCK_ZONES = [ZoneInfo(z) for z in ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kathmandu")]


def in_zone(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone)


@given(runs(), st.sampled_from(WALL_CLOCK_ZONES))
def test_instants_in_any_zone_give_what_their_utc_equivalents_give(run: RunData, zone: ZoneInfo) -> None:
    """The library's time rule: `apply` works in real elapsed time whatever zone an instant is written
    in, so an importer passing local times gets the same fires, at the same instants, in UTC."""
    policy, start, events = run
    in_utc = replay(policy, start, events)
    state, effects = apply(policy, None, Trigger(), in_zone(start, zone))
    assert (state, effects) == (in_utc.first_state, in_utc.trigger_effects)
    for step in in_utc.steps:
        event = Snooze(in_zone(step.event.until, zone)) if isinstance(step.event, Snooze) else step.event
        try:
            after, produced = apply(policy, state, event, in_zone(step.now, zone))
        except Conflict:
            assert step.error is not None
            continue
        assert (after, produced) == (step.after, step.effects)
        assert all(e.scheduled_at.tzinfo is UTC for e in produced)
        state = after


def test_an_hour_step_across_the_autumn_change_fires_an_hour_of_real_time_later() -> None:
    new_york = ZoneInfo("America/New_York")
    triggered = datetime(2026, 11, 1, 1, 30, tzinfo=new_york)  # the first 01:30 (EDT) of the night
    policy = PolicySnapshot(1, (EscalationStep(60, ()), EscalationStep(60, ())))
    state, _ = apply(policy, None, Trigger(), triggered)
    assert state.next_at == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, 60 real minutes on
    assert state.next_at - triggered == timedelta(minutes=60)

"""What an escalation policy will do: the pages it sends if nobody answers, and a replay of events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidentcore import (
    Conflict,
    Effect,
    EscalationPolicy,
    EscalationState,
    Event,
    PolicySnapshot,
    Target,
    Tick,
    Trigger,
    apply,
)


@dataclass(frozen=True)
class PlannedPage:
    """Step `step_index` of loop `loop` pages `targets` at `at`."""

    at: datetime
    step_index: int
    loop: int
    targets: tuple[Target, ...]


def forecast(policy: EscalationPolicy, triggered_at: datetime, horizon: timedelta) -> list[PlannedPage]:
    """The pages an incident on `policy` triggered at `triggered_at` sends within `horizon` when nobody
    acknowledges it: one tick at the end of the horizon fires exactly what punctual ticks would have."""
    snapshot = policy.snapshot()
    state, effects = apply(snapshot, None, Trigger(), triggered_at)
    _, later = apply(snapshot, state, Tick(), triggered_at + horizon)
    return [_planned(snapshot, effect) for effect in (*effects, *later) if effect.is_fire]


def _planned(snapshot: PolicySnapshot, effect: Effect) -> PlannedPage:
    assert effect.step_index is not None and effect.loop is not None  # a fire names its step and loop
    return PlannedPage(effect.scheduled_at, effect.step_index, effect.loop, snapshot.steps[effect.step_index].targets)


@dataclass
class Replay:
    """A run of the state machine: the final `state`, every effect in order, and the events it refused."""

    state: EscalationState
    effects: list[Effect] = field(default_factory=list)
    refused: list[tuple[Event, datetime, str]] = field(default_factory=list)

    @property
    def pages(self) -> list[Effect]:
        """The effects that paged someone."""
        return [effect for effect in self.effects if effect.is_fire]


def replay(policy: PolicySnapshot, triggered_at: datetime, events: Sequence[tuple[Event, datetime]]) -> Replay:
    """Triggers at `triggered_at`, then applies each event at its instant; an event the state does not
    allow is kept in `Replay.refused` with the reason, as an API would answer 409 and change nothing."""
    state, effects = apply(policy, None, Trigger(), triggered_at)
    run = Replay(state, list(effects))
    for event, at in events:
        try:
            run.state, effects = apply(policy, run.state, event, at)
        except Conflict as refusal:  # InvalidTransition is a Conflict
            run.refused.append((event, at, refusal.detail))
            continue
        run.effects.extend(effects)
    return run

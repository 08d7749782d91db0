"""The `EscalationMachine` that `incidentcore.testing.stateful` ships: it holds on the real state machine,
and a subclass sees every event through its hooks, so it can hold a system of its own to the same runs."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import settings
from hypothesis.stateful import invariant

from incidentcore.errors import Conflict
from incidentcore.escalation import Effect, EscalationState, Event, apply
from incidentcore.testing.stateful import EscalationMachine


class ReplayedRun(EscalationMachine):
    """A mirror that keeps only the accepted events and their instants and rebuilds the state from them:
    replaying must give the same state and effects, and a refused event must stay refused."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[tuple[Event, datetime]] = []

    def transitioned(self, event: Event, effects: tuple[Effect, ...]) -> None:
        assert effects == tuple(self.effects[len(self.effects) - len(effects) :])
        self.accepted.append((event, self.now))

    def refused(self, event: Event, refusal: Conflict) -> None:
        with pytest.raises(type(refusal)):  # nothing changed, so it is refused again
            apply(self.policy, self.state, event, self.now)

    @invariant()
    def replaying_the_accepted_events_gives_the_same_state_and_effects(self) -> None:
        state: EscalationState | None = None
        effects: list[Effect] = []
        for event, at in self.accepted:
            state, produced = apply(self.policy, state, event, at)
            effects.extend(produced)
        assert state == self.state
        assert effects == self.effects


EscalationMachine.TestCase.settings = settings(EscalationMachine.TestCase.settings, stateful_step_count=30)
ReplayedRun.TestCase.settings = settings(ReplayedRun.TestCase.settings, stateful_step_count=30)
TestEscalationMachine = EscalationMachine.TestCase
TestReplayedRun = ReplayedRun.TestCase

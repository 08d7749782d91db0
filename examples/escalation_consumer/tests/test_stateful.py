"""incidentcore's stateful test, subclassed: the consumer's `replay` must agree with the state machine
on every run hypothesis makes up, refused events included."""

from __future__ import annotations

from datetime import datetime

from hypothesis import settings
from hypothesis.stateful import invariant
from incidentcore import Conflict, Effect, Event, Trigger
from incidentcore.testing.stateful import EscalationMachine

from escalation_consumer import replay


class ReplayAgrees(EscalationMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[Event, datetime]] = []  # every event after the trigger, refused ones too
        self.refusals = 0

    def transitioned(self, event: Event, effects: tuple[Effect, ...]) -> None:
        if not isinstance(event, Trigger):
            self.sent.append((event, self.now))

    def refused(self, event: Event, refusal: Conflict) -> None:
        self.sent.append((event, self.now))
        self.refusals += 1

    @invariant()
    def replay_reaches_the_same_state_with_the_same_effects(self) -> None:
        run = replay(self.policy, self.triggered_at, self.sent)
        assert run.state == self.state
        assert run.effects == self.effects
        assert len(run.refused) == self.refusals


ReplayAgrees.TestCase.settings = settings(max_examples=50, stateful_step_count=20, deadline=None)
TestReplayAgrees = ReplayAgrees.TestCase

"""`EscalationMachine`: the escalation state machine (`incidentcore.apply`) under a hypothesis stateful
test, to run as it is or to subclass. Needs hypothesis.

A run triggers an incident on a drawn policy at a drawn instant, then lets time pass and sends ticks,
acknowledgements, snoozes, escalations and resolutions in any order, refused ones included. After
every step it checks what `apply` promises: effects come in time order and never ahead of the
clock, no timer is left due after an event, no page key (cycle, step, loop) repeats, a cycle fires at
most every step of every loop on its own, and resolving is final.

To hold a system of your own to the same runs, subclass it: override
`EscalationMachine.transitioned` to feed your system each accepted event (and
`EscalationMachine.refused` each refused one), and add `@invariant()` methods that compare your system
with `EscalationMachine.state` and `EscalationMachine.effects`. Override `EscalationMachine.policies`
to draw other policies.

    from hypothesis.stateful import invariant
    from incidentcore.testing.stateful import EscalationMachine

    class PagesMatch(EscalationMachine):
        def transitioned(self, event, effects):
            my_pager.handle(event, self.now)

        @invariant()
        def my_pager_paged_what_the_machine_fired(self):
            assert my_pager.pages == [e for e in self.effects if e.is_fire]

    TestPagesMatch = PagesMatch.TestCase
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from incidentcore.errors import Conflict
from incidentcore.escalation import (
    Acknowledge,
    Effect,
    EffectKind,
    Escalate,
    EscalationState,
    Event,
    Phase,
    PolicySnapshot,
    Resolve,
    Snooze,
    Tick,
    Trigger,
    apply,
)
from incidentcore.testing.strategies import instants, policy_snapshots

__all__ = ["EscalationMachine"]

_MINUTES = st.integers(min_value=1, max_value=150)


class EscalationMachine(RuleBasedStateMachine):
    """One escalation run per hypothesis example; see the module documentation.

    `policy` is the drawn policy, `triggered_at` when the incident triggered, `state` the state after
    the last accepted event, `now` the clock, `effects` every effect so far in order, and `synced_at`
    when `apply` last accepted an event.
    """

    policy: PolicySnapshot
    triggered_at: datetime
    state: EscalationState
    now: datetime
    effects: list[Effect]
    synced_at: datetime

    def policies(self) -> st.SearchStrategy[PolicySnapshot]:
        """The policies runs are drawn from (the no-policy snapshot included); override to change them."""
        return policy_snapshots()

    # ------------------------------------------------------------------------------------------- rules

    @initialize(data=st.data(), start=instants())
    def trigger(self, data: st.DataObject, start: datetime) -> None:
        """The incident triggers at `start` on a policy drawn from `policies`."""
        self.policy = data.draw(self.policies(), label="policy")
        self.triggered_at = self.now = self.synced_at = start
        self.state, effects = apply(self.policy, None, Trigger(), start)
        self.effects = list(effects)
        self.transitioned(Trigger(), effects)

    @rule(minutes=_MINUTES)
    def wait(self, minutes: int) -> None:
        """Time passes and nothing runs: the next event must catch up on whatever came due."""
        self.now += timedelta(minutes=minutes)

    @rule()
    def tick(self) -> None:
        """The scheduler ticks."""
        self.send(Tick())

    @rule()
    def acknowledge(self) -> None:
        """Someone acknowledges."""
        self.send(Acknowledge())

    @rule(minutes=_MINUTES)
    def snooze(self, minutes: int) -> None:
        """Someone snoozes for `minutes`."""
        self.send(Snooze(self.now + timedelta(minutes=minutes)))

    @rule()
    def escalate(self) -> None:
        """Someone escalates by hand."""
        self.send(Escalate())

    @rule()
    def resolve(self) -> None:
        """Someone resolves."""
        self.send(Resolve())

    def send(self, event: Event) -> None:
        """Applies `event` at `now`: an accepted event moves `state` on and goes to `transitioned`; one
        `apply` refuses (InvalidTransition, or Conflict for an escalation without steps) goes to
        `refused`, with `state` unchanged."""
        try:
            self.state, effects = apply(self.policy, self.state, event, self.now)
        except Conflict as refusal:  # InvalidTransition is a Conflict
            self.refused(event, refusal)
            return
        self.effects.extend(effects)
        self.synced_at = self.now
        self.transitioned(event, effects)

    # ------------------------------------------------------------------------------ hooks for subclasses

    def transitioned(self, event: Event, effects: tuple[Effect, ...]) -> None:
        """Called after each accepted event, the trigger included, with its effects; `state`, `effects`
        and `now` are already up to date. Does nothing here: feed your own system in a subclass."""

    def refused(self, event: Event, refusal: Conflict) -> None:
        """Called for each event `apply` refused, with its error; nothing changed. Does nothing here."""

    # -------------------------------------------------------------------------------------- invariants

    @invariant()
    def effects_come_in_time_order_and_never_ahead_of_the_clock(self) -> None:
        """Effects are scheduled in order, none after `now`."""
        times = [effect.scheduled_at for effect in self.effects]
        assert times == sorted(times), times
        assert not times or times[-1] <= self.now

    @invariant()
    def no_timer_is_left_due(self) -> None:
        """Whatever came due by the last accepted event has gone off."""
        assert self.state.next_at is None or self.state.next_at > self.synced_at, self.state

    @invariant()
    def page_keys_never_repeat(self) -> None:
        """No (cycle, step, loop) is paged twice: it is the key that makes paging idempotent."""
        keys = [(e.cycle, e.step_index, e.loop) for e in self.effects if e.is_fire]
        assert len(keys) == len(set(keys)), keys

    @invariant()
    def a_cycle_fires_each_step_of_each_loop_at_most_once_on_its_own(self) -> None:
        """Automatic fires per cycle are bounded by `PolicySnapshot.fires_per_cycle`."""
        fired = Counter(effect.cycle for effect in self.effects if effect.kind is EffectKind.FIRED)
        assert all(count <= self.policy.fires_per_cycle for count in fired.values()), fired

    @invariant()
    def resolving_is_final(self) -> None:
        """Once resolved, nothing more happens: no timer, and the stop is the last effect."""
        stopped = any(effect.kind is EffectKind.STOPPED for effect in self.effects)
        assert (self.state.phase is Phase.RESOLVED) is stopped
        if stopped:
            assert self.state.next_at is None
            assert self.effects[-1].kind is EffectKind.STOPPED

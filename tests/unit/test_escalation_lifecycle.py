"""The `model.Incident` lifecycle as a hypothesis state machine.

Every rule is tried whether or not it is allowed: an allowed action must do what it says, a refused
one must raise (InvalidTransition / Conflict / ValidationFailed) and leave the incident untouched.
"""

from __future__ import annotations

from collections import Counter
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from incidentcore.errors import Conflict, DomainError, InvalidTransition, ValidationFailed
from incidentcore.escalation import Effect, EffectKind, Phase, PolicySnapshot, Tick, apply
from incidentcore.model import (
    Incident,
    IncidentChanges,
    IncidentStatus,
    Outcome,
    Severity,
    TimelineEvent,
    TimelineKind,
)
from incidentcore.testing.strategies import instants, policy_snapshots

MINUTE = timedelta(minutes=1)
ACTOR = 11
EXPECTED_STATUS = {
    Phase.ACTIVE: IncidentStatus.TRIGGERED,
    Phase.EXHAUSTED: IncidentStatus.TRIGGERED,
    Phase.ACKNOWLEDGED: IncidentStatus.ACKNOWLEDGED,
    Phase.SNOOZED: IncidentStatus.ACKNOWLEDGED,
    Phase.RESOLVED: IncidentStatus.RESOLVED,
}


class IncidentLifecycle(RuleBasedStateMachine):
    incident: Incident
    now: datetime
    synced_at: datetime  # the last instant the escalation state was brought up to date
    effects: list[Effect]
    timeline: list[TimelineEvent]  # of the escalation actions, in the order they were recorded
    ever_resolved: bool

    # ------------------------------------------------------------------------------------------ helpers

    def attempt(self, expected: type[DomainError] | None, action: Any) -> Any:
        """Run `action`; if `expected` is an error type it must raise exactly that and change nothing."""
        before = deepcopy(self.incident)
        if expected is None:
            return action()
        with pytest.raises(expected) as raised:
            action()
        assert type(raised.value) is expected
        assert self.incident == before
        return None

    def caught_up_phase(self) -> Phase:
        """The phase the incident is really in at `now`: timers that came due go off first."""
        assert self.incident.escalation is not None
        return apply(self.incident.policy, self.incident.escalation, Tick(), self.now)[0].phase

    def record(self, outcome: Outcome) -> None:
        """Check an escalation outcome at `now` and remember its effects."""
        times = [e.scheduled_at for e in outcome.effects]
        assert times == sorted(times)
        assert all(self.synced_at <= t <= self.now for t in times)
        events = [e.created_at for e in outcome.timeline]
        assert events == sorted(events)
        assert all(self.synced_at <= t <= self.now for t in events)
        retriggered = [e for e in outcome.effects if e.kind is EffectKind.RETRIGGERED]
        assert [e.data["cycle"] for e in outcome.timeline if e.kind is TimelineKind.RETRIGGERED] == [
            e.cycle for e in retriggered
        ]
        self.effects.extend(outcome.effects)
        self.timeline.extend(outcome.timeline)
        self.synced_at = self.now

    # ------------------------------------------------------------------------------------------- rules

    @initialize(
        policy=policy_snapshots(),
        start=instants(),
        team_id=st.none() | st.integers(1, 3),
        severity=st.sampled_from(Severity),
    )
    def trigger(
        self, policy: PolicySnapshot, start: datetime, team_id: int | None, severity: Severity
    ) -> None:
        self.incident = Incident(
            title="disk full", created_at=start, severity=severity, team_id=team_id, created_by_id=ACTOR, id=1
        )
        self.now = self.synced_at = start
        self.effects = []
        self.timeline = []
        self.ever_resolved = False
        outcome = self.incident.trigger(policy, start, ACTOR)
        assert outcome.timeline[0].kind is TimelineKind.CREATED
        assert outcome.timeline[0].data["policy_id"] == policy.policy_id
        assert ("escalation" in outcome.timeline[0].data) is (policy.policy_id is None)
        assert self.incident.policy == policy
        self.record(outcome)

    @rule(policy=policy_snapshots())
    def trigger_again(self, policy: PolicySnapshot) -> None:
        self.attempt(InvalidTransition, lambda: self.incident.trigger(policy, self.now, ACTOR))

    @rule(minutes=st.integers(0, 150))
    def advance_and_tick(self, minutes: int) -> None:
        self.now += minutes * MINUTE
        state = self.incident.escalation
        assert state is not None
        if state.next_at is None or state.next_at > self.now:  # nothing due: a tick changes nothing
            before = deepcopy(self.incident)
            assert self.incident.tick(self.now).effects == ()
            assert self.incident == before
            return
        outcome = self.incident.tick(self.now)
        assert outcome.effects
        assert self.incident.updated_at == self.now
        self.record(outcome)

    @rule(minutes=st.integers(1, 150))
    def advance_without_tick(self, minutes: int) -> None:
        """The scheduler is late: the next action must catch up on its own."""
        self.now += minutes * MINUTE

    @rule()
    def acknowledge(self) -> None:
        allowed = self.caught_up_phase() in (Phase.ACTIVE, Phase.EXHAUSTED)
        outcome = self.attempt(
            None if allowed else InvalidTransition, lambda: self.incident.acknowledge(ACTOR, self.now)
        )
        if outcome is None:
            return
        assert self.incident.status is IncidentStatus.ACKNOWLEDGED
        assert self.incident.acknowledged_at == self.now
        assert self.incident.escalation is not None
        assert outcome.effects[-1] == Effect(
            EffectKind.ACKNOWLEDGED, self.incident.escalation.cycle, self.now
        )
        assert outcome.timeline[-1].kind is TimelineKind.ACKNOWLEDGED
        timeout = self.incident.policy.ack_timeout_minutes
        expected_next = self.now + timeout * MINUTE if timeout else None
        assert self.incident.next_escalation_at == expected_next
        self.record(outcome)

    @rule(minutes=st.integers(0, 150))
    def snooze(self, minutes: int) -> None:
        if minutes < 1:
            expected: type[DomainError] | None = ValidationFailed
        else:  # only an acknowledged (or snoozed) incident: never an acknowledgement on the side
            held = self.caught_up_phase() in (Phase.ACKNOWLEDGED, Phase.SNOOZED)
            expected = None if held else InvalidTransition
        acknowledged_at = self.incident.acknowledged_at
        outcome = self.attempt(expected, lambda: self.incident.snooze(ACTOR, minutes, self.now))
        if outcome is None:
            return
        until = self.now + minutes * MINUTE
        assert self.incident.snoozed_until == until
        assert self.incident.next_escalation_at == until
        assert self.incident.status is IncidentStatus.ACKNOWLEDGED
        assert self.incident.acknowledged_at == acknowledged_at is not None
        assert [e.kind for e in outcome.timeline] == [TimelineKind.SNOOZED]
        assert outcome.timeline[-1].data == {"minutes": minutes, "until": until.isoformat()}
        self.record(outcome)

    @rule(reason=st.none() | st.sampled_from(["fixed", "false alarm"]))
    def resolve(self, reason: str | None) -> None:
        expected = InvalidTransition if self.ever_resolved else None
        outcome = self.attempt(expected, lambda: self.incident.resolve(ACTOR, self.now, reason))
        if outcome is None:
            return
        self.ever_resolved = True
        assert self.incident.status is IncidentStatus.RESOLVED
        assert self.incident.resolved_at == self.now
        assert self.incident.next_escalation_at is None
        assert outcome.timeline[-1].kind is TimelineKind.RESOLVED
        assert outcome.timeline[-1].data == ({"reason": reason} if reason else {})
        assert outcome.effects[-1].kind is EffectKind.STOPPED
        self.record(outcome)

    @rule()
    def escalate(self) -> None:
        if self.ever_resolved:
            expected: type[DomainError] | None = InvalidTransition
        elif not self.incident.policy.steps:
            expected = Conflict
        else:
            expected = None
        held = self.caught_up_phase() in (Phase.ACKNOWLEDGED, Phase.SNOOZED)
        outcome = self.attempt(expected, lambda: self.incident.escalate(ACTOR, self.now))
        if outcome is None:
            return
        manual = [e for e in outcome.effects if e.kind is EffectKind.MANUAL]
        assert len(manual) == 1
        assert manual[0].scheduled_at == self.now
        assert manual[0] in fires(outcome)
        assert self.incident.status is IncidentStatus.TRIGGERED
        assert self.incident.acknowledged_at is None
        if held:
            assert outcome.timeline[-1].kind is TimelineKind.RETRIGGERED
            assert outcome.timeline[-1].data["reason"] == "manual"
        self.record(outcome)

    @rule(body=st.text(max_size=300))
    def comment(self, body: str) -> None:
        comment, outcome = self.incident.comment(ACTOR, body, self.now)
        assert (comment.incident_id, comment.author_id, comment.body) == (1, ACTOR, body)
        assert comment.created_at == self.now
        assert self.incident.updated_at == self.now
        assert [(e.kind, e.created_at) for e in outcome.timeline] == [(TimelineKind.COMMENTED, self.now)]
        assert outcome.timeline[0].data == {"body": body[:200]}
        assert outcome.effects == ()

    @rule(assignee=st.integers(1, 5), role=st.none() | st.just("team_lead"))
    def assign(self, assignee: int, role: str | None) -> None:
        previous = self.incident.assignee_id
        expected = InvalidTransition if self.ever_resolved else None
        outcome = self.attempt(expected, lambda: self.incident.assign(ACTOR, assignee, self.now, role))
        if outcome is None:
            return
        assert self.incident.assignee_id == assignee
        assert self.incident.updated_at == self.now
        (event,) = outcome.timeline
        assert (event.kind, event.created_at, event.actor_id) == (TimelineKind.ASSIGNED, self.now, ACTOR)
        expected_data: dict[str, Any] = {"assignee_id": assignee, "previous_assignee_id": previous}
        if role:
            expected_data["role"] = role
        assert event.data == expected_data

    @precondition(lambda self: not self.ever_resolved)
    @rule(severity=st.sampled_from(Severity), title=st.sampled_from(["disk full", "disk very full"]))
    def update(self, severity: Severity, title: str) -> None:
        before = deepcopy(self.incident)
        outcome = self.incident.update(ACTOR, IncidentChanges(severity=severity, title=title), self.now)
        changed = {k for k, v in (("severity", severity), ("title", title)) if getattr(before, k) != v}
        if not changed:
            assert outcome.timeline == []
            assert self.incident == before
        else:
            assert set(outcome.timeline[0].data["changes"]) == changed
            assert self.incident.updated_at == self.now

    # -------------------------------------------------------------------------------------- invariants

    @invariant()
    def status_follows_the_phase(self) -> None:
        state = self.incident.escalation
        assert state is not None
        assert self.incident.status is EXPECTED_STATUS[state.phase]
        assert self.incident.is_open is (state.phase is not Phase.RESOLVED)

    @invariant()
    def resolved_is_terminal(self) -> None:
        assert (self.incident.status is IncidentStatus.RESOLVED) is self.ever_resolved

    @invariant()
    def timestamps_agree_with_the_status(self) -> None:
        incident = self.incident
        status = incident.status
        assert (incident.resolved_at is not None) is (status is IncidentStatus.RESOLVED)
        if status is IncidentStatus.ACKNOWLEDGED:
            assert incident.acknowledged_at is not None
        if status is IncidentStatus.TRIGGERED:
            assert incident.acknowledged_at is None
        assert incident.updated_at is not None
        assert incident.created_at <= incident.updated_at <= self.now

    @invariant()
    def timers_agree_with_the_phase(self) -> None:
        incident = self.incident
        state = incident.escalation
        assert state is not None
        if incident.status is IncidentStatus.RESOLVED:
            assert incident.next_escalation_at is None
        if incident.snoozed_until is not None:
            assert state.phase is Phase.SNOOZED
            assert incident.status is IncidentStatus.ACKNOWLEDGED
        if state.phase in (Phase.SNOOZED, Phase.ACTIVE):
            assert incident.next_escalation_at is not None
        if state.phase is Phase.EXHAUSTED:
            assert incident.next_escalation_at is None
        # nothing is left overdue by the last action that touched the escalation state
        assert incident.next_escalation_at is None or incident.next_escalation_at > self.synced_at

    @invariant()
    def every_status_change_is_on_the_timeline(self) -> None:
        """Replaying the timeline's own events gives the incident's status: nothing changes unrecorded."""
        status_after = {
            TimelineKind.CREATED: IncidentStatus.TRIGGERED,
            TimelineKind.ACKNOWLEDGED: IncidentStatus.ACKNOWLEDGED,
            TimelineKind.RETRIGGERED: IncidentStatus.TRIGGERED,
            TimelineKind.RESOLVED: IncidentStatus.RESOLVED,
        }
        status = None
        for event in self.timeline:
            if event.kind is TimelineKind.SNOOZED:  # holds what an acknowledgement took
                assert status is IncidentStatus.ACKNOWLEDGED
            status = status_after.get(event.kind, status)
        assert status is self.incident.status

    @invariant()
    def fires_are_bounded_and_never_repeat(self) -> None:
        automatic = Counter(e.cycle for e in self.effects if e.kind is EffectKind.FIRED)
        assert all(n <= self.incident.policy.fires_per_cycle for n in automatic.values())
        keys = [(e.cycle, e.step_index, e.loop) for e in self.effects if e.is_fire]
        assert len(keys) == len(set(keys))
        times = [e.scheduled_at for e in self.effects]
        assert times == sorted(times)

    @invariant()
    def escalation_level_is_the_last_step_paged_this_cycle(self) -> None:
        state = self.incident.escalation
        assert state is not None
        fires = [e for e in self.effects if e.is_fire and e.cycle == state.cycle]
        assert self.incident.escalation_level == (fires[-1].step_index if fires else None)
        assert self.incident.escalation_policy_id == self.incident.policy.policy_id


IncidentLifecycle.TestCase.settings = settings(IncidentLifecycle.TestCase.settings, stateful_step_count=30)
TestIncidentLifecycle = IncidentLifecycle.TestCase


def fires(outcome: Outcome) -> list[Effect]:
    return [e for e in outcome.effects if e.is_fire]

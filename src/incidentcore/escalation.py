"""The escalation state machine: pure functions of (policy snapshot, state, event, now).

Timing follows PagerDuty: step 0 fires when the incident triggers; a step waits its `delay_minutes`
for an acknowledgement before the next one fires; after the last step the policy loops from step 0
while `repeat` loops remain. Every fire's scheduled time is computed from the previous fire's
scheduled time, never from the moment a tick happened to run, so a late or partitioned tick fires
exactly what one punctual tick would have fired (no drift, nothing skipped, nothing twice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from incidentcore.errors import Conflict, InvalidTransition


class TargetType(StrEnum):
    """Whom a `Target` names: one user, a team's members, or the holders of a role."""

    USER = "user"
    TEAM = "team"
    ROLE = "role"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class Target:
    """Who a step pages, resolved to users only when the step fires.

    user: `user_id`. team: every active member of `team_id`. role: users holding `role` in `team_id`,
    or in the incident's team when `team_id` is None; nobody when neither names a team (the
    escalated timeline event then says the step reached no one). schedule: whoever is on call on
    `schedule_id` at the fire's scheduled time.
    """

    type: TargetType
    user_id: int | None = None
    team_id: int | None = None
    role: str | None = None
    schedule_id: int | None = None


@dataclass(frozen=True)
class EscalationStep:
    """One step of a policy: it pages its `targets`, then waits `delay_minutes` for an acknowledgement
    before the next step fires."""

    delay_minutes: int
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class PolicySnapshot:
    """The policy as it was when the incident triggered; later edits do not reach it.

    An incident without a policy carries `PolicySnapshot.none()`: no steps, so nothing ever fires,
    but snooze expiry and the other timers still behave the same way.
    """

    policy_id: int | None
    steps: tuple[EscalationStep, ...]
    repeat: int = 0
    ack_timeout_minutes: int | None = None

    @classmethod
    def none(cls) -> PolicySnapshot:
        """The snapshot of an incident that no policy matched: no steps."""
        return cls(policy_id=None, steps=())

    @property
    def fires_per_cycle(self) -> int:
        """The most automatic fires one cycle makes: every step of every loop."""
        return len(self.steps) * (self.repeat + 1)


class Phase(StrEnum):
    """Where an incident is in its policy; `EscalationState.next_at` means something different in each."""

    ACTIVE = "active"  # unacknowledged, steps still to fire at `next_at`
    EXHAUSTED = "exhausted"  # unacknowledged, every step of every loop has fired
    ACKNOWLEDGED = "acknowledged"  # `next_at` is the ack timeout, if the policy has one
    SNOOZED = "snoozed"  # `next_at` is when the snooze ends
    RESOLVED = "resolved"


@dataclass(frozen=True)
class EscalationState:
    """Where an incident is in its policy.

    `cycle` counts runs of the policy from step 0: the trigger starts cycle 0, and each automatic
    re-trigger (ack timeout, snooze end) starts the next cycle at step 0. A manual escalate of an
    acknowledged or snoozed incident re-triggers it within its cycle and goes on up the chain from the
    next step not yet fired, so (cycle, step, loop) never repeats: it is the page key.
    `next_step`/`loop` point at the step that fires next. `next_at` is the one pending timer: the
    next step (active), the ack timeout (acknowledged) or the snooze end (snoozed); None when no
    timer is pending.
    """

    phase: Phase
    cycle: int = 0
    next_step: int = 0
    loop: int = 0
    next_at: datetime | None = None
    last_fired_step: int | None = None


class EffectKind(StrEnum):
    """What an `Effect` records: a step fired on schedule (FIRED) or by hand (MANUAL), an acknowledgement,
    a snooze, a re-trigger (the reason says why), or the stop at resolve."""

    FIRED = "fired"
    MANUAL = "manual"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RETRIGGERED = "retriggered"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Effect:
    """Something the caller must record; FIRED and MANUAL effects page the step's targets."""

    kind: EffectKind
    cycle: int
    scheduled_at: datetime
    step_index: int | None = None
    loop: int | None = None
    reason: str | None = None

    @property
    def is_fire(self) -> bool:
        """Whether the effect pages a step's targets (FIRED or MANUAL)."""
        return self.kind in (EffectKind.FIRED, EffectKind.MANUAL)


@dataclass(frozen=True)
class Trigger:
    """The incident opens: step 0 fires at once. Only the first event, and only then."""


@dataclass(frozen=True)
class Tick:
    """Time passes: whatever came due by the instant `apply` is given goes off, each at its own scheduled
    time; nothing else changes."""


@dataclass(frozen=True)
class Acknowledge:
    """Someone took the incident: paging stops, and the policy's ack timeout, if it has one, starts."""


@dataclass(frozen=True)
class Snooze:
    """Hold an acknowledged incident until `until` (in the future), when it re-triggers at step 0."""

    until: datetime


@dataclass(frozen=True)
class Resolve:
    """The incident is over: every timer stops for good."""


@dataclass(frozen=True)
class Escalate:
    """Page the next step now, by hand; an acknowledged or snoozed incident re-triggers first."""


Event = Trigger | Tick | Acknowledge | Snooze | Resolve | Escalate
"""Any event `apply` takes."""


class NaiveDatetimeError(ValueError):
    """A datetime without a timezone reached the state machine: a caller's bug, named as such."""


Transition = tuple[EscalationState, tuple[Effect, ...]]
"""What `apply` returns: the new state, and the effects to record, in time order.

An event the state does not allow raises instead: InvalidTransition (acknowledging twice, anything
after Resolve), or Conflict (Escalate on a policy without steps). The state passed in is frozen and
never changed, so a caller that gets an error keeps the state it had."""


def apply(policy: PolicySnapshot, state: EscalationState | None, event: Event, now: datetime) -> Transition:
    """Apply one event at `now`. `state` is None only before the first Trigger.

    Every instant must be timezone-aware: a naive `now`, snooze end or timer raises NaiveDatetimeError
    here instead of a TypeError from deep inside a comparison. Aware instants in any zone are turned
    into UTC first, so delays are real elapsed minutes: a 60-minute step triggered at 01:30 in New York
    on the night clocks go back fires 60 minutes later, not at 02:30 local (120 minutes on).
    """
    now = _utc("now", now)
    if isinstance(event, Snooze):
        event = Snooze(_utc("until", event.until))
    if state is not None and state.next_at is not None:
        state = replace(state, next_at=_utc("next_at", state.next_at))
    if state is None:
        if not isinstance(event, Trigger):
            raise InvalidTransition("an incident must trigger before anything else happens to it")
        return _start_cycle(policy, cycle=0, at=now, now=now, effects=[])
    if isinstance(event, Trigger):
        raise InvalidTransition("the incident has already triggered")
    # Timers that came due by `now` go off first, at their own scheduled times, exactly as a punctual
    # tick would have fired them: the outcome never depends on when the scheduler last ticked.
    state, due = _tick(policy, state, now)
    match event:
        case Tick():
            return state, due
        case Acknowledge():
            state, effects = _acknowledge(policy, state, now)
        case Snooze(until):
            state, effects = _snooze(state, until, now)
        case Resolve():
            if state.phase is Phase.RESOLVED:
                raise InvalidTransition("the incident is already resolved")
            effects = (Effect(EffectKind.STOPPED, state.cycle, now, reason="resolved"),)
            state = replace(state, phase=Phase.RESOLVED, next_at=None)
        case Escalate():
            state, effects = _escalate(policy, state, now)
        case _:  # pragma: no cover
            raise TypeError(f"unknown escalation event {event!r}")
    return state, due + effects


def _utc(name: str, instant: datetime) -> datetime:
    if instant.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{name}={instant.isoformat()} has no timezone; escalation needs timezone-aware (UTC) times"
        )
    return instant.astimezone(UTC)


def _tick(policy: PolicySnapshot, state: EscalationState, now: datetime) -> Transition:
    if state.next_at is None or state.next_at > now:
        return state, ()
    if state.phase is Phase.ACTIVE:
        return _catch_up(policy, state, now, [])
    if state.phase is Phase.ACKNOWLEDGED:
        return _retrigger(policy, state, state.next_at, now, "ack_timeout")
    if state.phase is Phase.SNOOZED:
        return _retrigger(policy, state, state.next_at, now, "snooze_expired")
    return state, ()  # pragma: no cover - exhausted and resolved states hold no timer


def _retrigger(
    policy: PolicySnapshot, state: EscalationState, at: datetime, now: datetime, reason: str
) -> Transition:
    cycle = state.cycle + 1
    effects = [Effect(EffectKind.RETRIGGERED, cycle, at, reason=reason)]
    return _start_cycle(policy, cycle=cycle, at=at, now=now, effects=effects)


def _start_cycle(
    policy: PolicySnapshot, *, cycle: int, at: datetime, now: datetime, effects: list[Effect]
) -> Transition:
    fresh = EscalationState(phase=Phase.ACTIVE, cycle=cycle, next_step=0, loop=0, next_at=at)
    if not policy.steps:
        return replace(fresh, phase=Phase.EXHAUSTED, next_at=None), tuple(effects)
    return _catch_up(policy, fresh, now, effects)


def _catch_up(
    policy: PolicySnapshot, state: EscalationState, now: datetime, effects: list[Effect]
) -> Transition:
    """Fire every step whose scheduled time has come, each at its own scheduled time."""
    while state.phase is Phase.ACTIVE and state.next_at is not None and state.next_at <= now:
        effects.append(Effect(EffectKind.FIRED, state.cycle, state.next_at, state.next_step, state.loop))
        state = _advance(policy, state, fired_at=state.next_at)
    return state, tuple(effects)


def _advance(policy: PolicySnapshot, state: EscalationState, *, fired_at: datetime) -> EscalationState:
    """Move the pointer past the step that just fired at `fired_at`."""
    fired = state.next_step
    next_at = fired_at + timedelta(minutes=policy.steps[fired].delay_minutes)
    if fired + 1 < len(policy.steps):
        return replace(state, next_step=fired + 1, next_at=next_at, last_fired_step=fired)
    if state.loop < policy.repeat:
        return replace(state, next_step=0, loop=state.loop + 1, next_at=next_at, last_fired_step=fired)
    return replace(
        state, phase=Phase.EXHAUSTED, next_step=0, loop=state.loop + 1, next_at=None, last_fired_step=fired
    )


def _acknowledge(policy: PolicySnapshot, state: EscalationState, now: datetime) -> Transition:
    if state.phase not in (Phase.ACTIVE, Phase.EXHAUSTED):
        raise InvalidTransition(f"cannot acknowledge an incident that is {state.phase.value}")
    timeout = policy.ack_timeout_minutes
    next_at = now + timedelta(minutes=timeout) if timeout else None
    acknowledged = replace(state, phase=Phase.ACKNOWLEDGED, next_at=next_at)
    return acknowledged, (Effect(EffectKind.ACKNOWLEDGED, state.cycle, now),)


def _snooze(state: EscalationState, until: datetime, now: datetime) -> Transition:
    """Hold an acknowledged (or already snoozed) incident until `until`, as PagerDuty does.

    A triggered incident is refused rather than acknowledged on the side: who took it, and when,
    must be an acknowledgement of its own, on the timeline and in the escalation events.
    """
    if state.phase is Phase.RESOLVED:
        raise InvalidTransition("cannot snooze a resolved incident")
    if state.phase not in (Phase.ACKNOWLEDGED, Phase.SNOOZED):
        raise InvalidTransition("only an acknowledged incident can be snoozed: acknowledge it first")
    if until <= now:
        raise InvalidTransition("a snooze must end in the future")
    snoozed = replace(state, phase=Phase.SNOOZED, next_at=until)
    return snoozed, (Effect(EffectKind.SNOOZED, state.cycle, now, reason=until.isoformat()),)


def _escalate(policy: PolicySnapshot, state: EscalationState, now: datetime) -> Transition:
    """Fire the next step now; from acknowledged or snoozed this re-triggers the incident first,
    within its cycle: escalating asks for the next level up, not for the first responder again.

    Past the last loop the final step is paged again, each time as a further loop, so a responder
    can always wake the top of the chain and every page keeps a distinct (cycle, step, loop).
    """
    if state.phase is Phase.RESOLVED:
        raise InvalidTransition("cannot escalate a resolved incident")
    if not policy.steps:
        raise Conflict("the incident follows no escalation policy, so there is no step to escalate to")
    effects: list[Effect] = []
    if state.phase in (Phase.ACKNOWLEDGED, Phase.SNOOZED):
        effects.append(Effect(EffectKind.RETRIGGERED, state.cycle, now, reason="manual"))
    if state.loop > policy.repeat:  # exhausted: page the final step again
        last = len(policy.steps) - 1
        effects.append(Effect(EffectKind.MANUAL, state.cycle, now, last, state.loop))
        exhausted = replace(
            state, phase=Phase.EXHAUSTED, loop=state.loop + 1, next_at=None, last_fired_step=last
        )
        return exhausted, tuple(effects)
    effects.append(Effect(EffectKind.MANUAL, state.cycle, now, state.next_step, state.loop))
    # a step after a zero-delay one is due at once, as it is when the incident triggers
    return _catch_up(policy, _advance(policy, replace(state, phase=Phase.ACTIVE), fired_at=now), now, effects)

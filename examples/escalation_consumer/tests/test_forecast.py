"""The state machine, run for a policy and a sequence of events, and a property of the forecast built
from incidentcore's exported strategies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from incidentcore import (
    Acknowledge,
    EffectKind,
    Escalate,
    EscalationPolicy,
    EscalationStep,
    Phase,
    Resolve,
    Snooze,
    Target,
    TargetType,
    Tick,
)
from incidentcore.testing.strategies import escalation_policies, instants

from escalation_consumer import forecast, replay

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
ANA = Target(TargetType.USER, user_id=7)
WEB_TEAM = Target(TargetType.TEAM, team_id=2)
POLICY = EscalationPolicy(
    "web", steps=(EscalationStep(10, (ANA,)), EscalationStep(20, (WEB_TEAM,))), repeat=1, ack_timeout_minutes=30, id=1
)


def test_the_forecast_pages_every_step_of_every_loop_on_time() -> None:
    pages = forecast(POLICY, T0, timedelta(hours=2))
    assert [(p.at - T0, p.step_index, p.loop, p.targets) for p in pages] == [
        (0 * MINUTE, 0, 0, (ANA,)),
        (10 * MINUTE, 1, 0, (WEB_TEAM,)),
        (30 * MINUTE, 0, 1, (ANA,)),
        (40 * MINUTE, 1, 1, (WEB_TEAM,)),
    ]
    assert forecast(POLICY, T0, 15 * MINUTE) == pages[:2]


def test_a_replay_acknowledges_snoozes_retriggers_and_resolves() -> None:
    run = replay(
        POLICY.snapshot(),
        T0,
        [
            (Acknowledge(), T0 + 5 * MINUTE),  # before step 1: only Ana was paged
            (Acknowledge(), T0 + 6 * MINUTE),  # refused: it is acknowledged already
            (Snooze(T0 + 60 * MINUTE), T0 + 20 * MINUTE),
            (Tick(), T0 + 61 * MINUTE),  # the snooze ended at 60: a new cycle pages Ana again
            (Escalate(), T0 + 62 * MINUTE),  # the next step now, by hand
            (Resolve(), T0 + 63 * MINUTE),
            (Tick(), T0 + 3 * 60 * MINUTE),  # nothing happens after a resolve
        ],
    )
    assert [(e.kind, e.scheduled_at - T0, e.cycle, e.step_index) for e in run.effects] == [
        (EffectKind.FIRED, 0 * MINUTE, 0, 0),
        (EffectKind.ACKNOWLEDGED, 5 * MINUTE, 0, None),
        (EffectKind.SNOOZED, 20 * MINUTE, 0, None),
        (EffectKind.RETRIGGERED, 60 * MINUTE, 1, None),
        (EffectKind.FIRED, 60 * MINUTE, 1, 0),
        (EffectKind.MANUAL, 62 * MINUTE, 1, 1),
        (EffectKind.STOPPED, 63 * MINUTE, 1, None),
    ]
    assert [(type(event), at - T0) for event, at, _ in run.refused] == [(Acknowledge, 6 * MINUTE)]
    assert run.state.phase is Phase.RESOLVED
    assert run.state.next_at is None


@given(
    policy=escalation_policies(),
    triggered_at=instants(),
    tick_minutes=st.lists(st.integers(min_value=0, max_value=6 * 60), max_size=8),
)
def test_ticking_whenever_pages_what_the_forecast_says(
    policy: EscalationPolicy, triggered_at: datetime, tick_minutes: list[int]
) -> None:
    """However late or often the scheduler ticks, an unanswered incident pages exactly the forecast."""
    horizon = timedelta(hours=6)
    ticks = [(Tick(), triggered_at + m * MINUTE) for m in sorted(tick_minutes)]
    run = replay(policy.snapshot(), triggered_at, [*ticks, (Tick(), triggered_at + horizon)])
    planned = forecast(policy, triggered_at, horizon)
    assert [(e.scheduled_at, e.step_index, e.loop) for e in run.pages] == [
        (p.at, p.step_index, p.loop) for p in planned
    ]
    assert len(planned) <= policy.snapshot().fires_per_cycle
    assert run.refused == []

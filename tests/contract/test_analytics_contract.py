"""AnalyticsQueries on every backend: the incident report the database computes is the one
`incidentcore.analytics.incident_report` defines, on a hand-checked scenario (exact figures) and on
random incidents, acknowledgements, resolutions, escalations and pages (hypothesis)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from entity_builders import T0, UowFactory, page_for, stored_team, stored_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentcore.analytics import (
    Durations,
    IncidentFigures,
    IncidentReport,
    PageFigures,
    ResponderFigures,
    incident_report,
)
from incidentcore.escalation import (
    EffectKind,
    EscalationState,
    EscalationStep,
    Phase,
    PolicySnapshot,
    Target,
    TargetType,
)
from incidentcore.model import (
    EscalationEvent,
    Incident,
    Notification,
    NotificationStatus,
    Outcome,
    Severity,
    TimelineEvent,
    TimelineKind,
)
from incidentcore.ports import UnitOfWork

pytestmark = pytest.mark.anyio

WEEK = timedelta(days=7)
MINUTE = timedelta(minutes=1)
TWO_STEPS = PolicySnapshot(
    policy_id=7,
    steps=(
        EscalationStep(10, (Target(TargetType.USER, user_id=1),)),
        EscalationStep(10, (Target(TargetType.USER, user_id=2),)),
    ),
)
ZEROS = IncidentFigures()


async def record(uow: UnitOfWork, incident: Incident, outcome: Outcome, at: datetime) -> None:
    """Saves the incident with the timeline and escalation events its action caused, as the use cases do."""
    await uow.incidents.update(incident)
    await uow.timeline.add_many(outcome.timeline)
    await uow.escalation_events.add_many(
        [
            EscalationEvent(
                incident.id, incident.policy.policy_id, e.kind, e.cycle, e.scheduled_at, at, e.step_index, e.loop
            )
            for e in outcome.effects
        ]
    )


async def opened(
    uow: UnitOfWork, at: datetime, severity: Severity, team_id: int | None, policy: PolicySnapshot = TWO_STEPS
) -> Incident:
    incident = await uow.incidents.add(Incident("checkout down", at, severity, team_id=team_id))
    await record(uow, incident, incident.trigger(policy, at, None), at)
    return incident


async def hand_checked_world(uow: UnitOfWork) -> dict[str, int]:
    """The scenario the expected reports below are worked out for, by hand."""
    team_a, team_b = await stored_team(uow, "a"), await stored_team(uow, "b")
    ann, bob = await stored_user(uow, "ann@example.com"), await stored_user(uow, "bob@example.com")
    carol, dave = await stored_user(uow, "carol@example.com"), await stored_user(uow, "dave@example.com")

    async def act(incident: Incident, outcome: Outcome, at: datetime) -> None:
        await record(uow, incident, outcome, at)

    # I1, critical, team a: step 1 fires at +10 min (escalated), ann acknowledges at +12, resolves at +30
    c1 = T0 + timedelta(hours=1)
    i1 = await opened(uow, c1, Severity.CRITICAL, team_a.id)
    await act(i1, i1.tick(c1 + 10 * MINUTE), c1 + 10 * MINUTE)
    await act(i1, i1.acknowledge(ann.id, c1 + 12 * MINUTE), c1 + 12 * MINUTE)
    await act(i1, i1.resolve(ann.id, c1 + 30 * MINUTE), c1 + 30 * MINUTE)
    # I2, high, team a: bob acknowledges at +5; ann escalates at +10 (re-triggered, step 1 by hand) and
    # acknowledges at +20: its first acknowledgement counts
    c2 = T0 + timedelta(hours=2)
    i2 = await opened(uow, c2, Severity.HIGH, team_a.id)
    await act(i2, i2.acknowledge(bob.id, c2 + 5 * MINUTE), c2 + 5 * MINUTE)
    await act(i2, i2.escalate(ann.id, c2 + 10 * MINUTE), c2 + 10 * MINUTE)
    await act(i2, i2.acknowledge(ann.id, c2 + 20 * MINUTE), c2 + 20 * MINUTE)
    # I3, low, team b, no policy: resolved by its alert source after an hour, never acknowledged
    c3 = T0 + timedelta(hours=3)
    i3 = await opened(uow, c3, Severity.LOW, team_b.id, PolicySnapshot.none())
    await act(i3, i3.resolve(None, c3 + 60 * MINUTE), c3 + 60 * MINUTE)
    # I6, critical, team a: acknowledged by its alert source after 60.00025 s, resolved by ann at +10 min
    c6 = T0 + timedelta(hours=4)
    i6 = await opened(uow, c6, Severity.CRITICAL, team_a.id)
    await act(i6, i6.acknowledge(None, c6 + timedelta(seconds=60, microseconds=250)), c6 + MINUTE)
    await act(i6, i6.resolve(ann.id, c6 + 10 * MINUTE), c6 + 10 * MINUTE)
    # I7, info, no team, at the window's very start: nothing happens to it
    i7 = await opened(uow, T0, Severity.INFO, None)
    # outside the window: I4 at its end (excluded), I5 a microsecond before its start
    i4 = await opened(uow, T0 + WEEK, Severity.HIGH, team_a.id)
    await act(i4, i4.acknowledge(carol.id, T0 + WEEK + MINUTE), T0 + WEEK + MINUTE)
    i5 = await opened(uow, T0 - timedelta(microseconds=1), Severity.INFO, None)
    await act(i5, i5.acknowledge(ann.id, T0 + MINUTE), T0 + MINUTE)

    pages = [
        (i1, ann, NotificationStatus.SENT),
        (i1, bob, NotificationStatus.SENT),
        (i1, bob, NotificationStatus.FAILED),
        (i2, ann, NotificationStatus.SENT),
        (i3, bob, NotificationStatus.CANCELLED),
        (i4, ann, NotificationStatus.SENT),
        (i5, bob, NotificationStatus.FAILED),
        (i6, dave, NotificationStatus.PENDING),
        (i6, bob, NotificationStatus.RETRYING),
    ]
    await uow.notifications.add_new(
        [
            page_for(f"page-{n}", incident_id=incident.id, user_id=user.id, status=status)
            for n, (incident, user, status) in enumerate(pages)
        ]
    )
    del i7
    return {"team_a": team_a.id, "team_b": team_b.id, "ann": ann.id, "bob": bob.id}


def seconds(mean: float, p50: float, p90: float) -> Durations:
    return Durations(mean, p50, p90)


async def test_the_hand_checked_scenario(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ids = await hand_checked_world(uow)
        await uow.commit()
    critical = IncidentFigures(2, 2, 2, 1, seconds(390.000125, 60.00025, 720), seconds(1200, 600, 1800))
    high = IncidentFigures(1, 1, 0, 1, seconds(300, 300, 300), Durations())
    low = IncidentFigures(1, 0, 1, 0, Durations(), seconds(3600, 3600, 3600))
    info = IncidentFigures(1, 0, 0, 0)
    responders = [ResponderFigures(ids["ann"], 2, 2), ResponderFigures(ids["bob"], 1, 1)]
    expected = IncidentReport(
        since=T0,
        until=T0 + WEEK,
        team_id=None,
        totals=IncidentFigures(5, 3, 3, 2, seconds(360.000083, 300, 720), seconds(2000, 1800, 3600)),
        by_severity={
            Severity.CRITICAL: critical,
            Severity.HIGH: high,
            Severity.MEDIUM: ZEROS,
            Severity.LOW: low,
            Severity.INFO: info,
        },
        pages=PageFigures(sent=3, failed=1),
        responders=responders,
    )
    async with uow_factory() as uow:
        assert await uow.analytics.incident_report(T0, T0 + WEEK, None) == expected

        team_a = await uow.analytics.incident_report(T0, T0 + WEEK, ids["team_a"])
        assert team_a.totals == IncidentFigures(
            3, 3, 2, 2, seconds(360.000083, 300, 720), seconds(1200, 600, 1800)
        )
        assert team_a.by_severity == {**expected.by_severity, Severity.LOW: ZEROS, Severity.INFO: ZEROS}
        assert (team_a.pages, team_a.responders) == (PageFigures(3, 1), responders)

        team_b = await uow.analytics.incident_report(T0, T0 + WEEK, ids["team_b"])
        assert team_b.totals == low
        assert (team_b.pages, team_b.responders) == (PageFigures(0, 0), [])

        # one microsecond earlier: I5 joins (bob's failed page, ann's acknowledgement after a minute and a µs)
        earlier = await uow.analytics.incident_report(T0 - timedelta(microseconds=1), T0 + WEEK, None)
        assert (earlier.totals.count, earlier.by_severity[Severity.INFO].acknowledged) == (6, 1)
        assert earlier.by_severity[Severity.INFO].mtta_seconds == seconds(60.000001, 60.000001, 60.000001)
        assert earlier.pages == PageFigures(3, 2)
        assert earlier.responders == [ResponderFigures(ids["ann"], 2, 3), ResponderFigures(ids["bob"], 1, 1)]


async def test_an_empty_window_has_zeros_and_no_durations(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await hand_checked_world(uow)
        await uow.commit()
    async with uow_factory() as uow:
        report = await uow.analytics.incident_report(T0 + 2 * WEEK, T0 + 3 * WEEK, None)
    assert report == IncidentReport(
        T0 + 2 * WEEK, T0 + 3 * WEEK, None, ZEROS, {s: ZEROS for s in Severity}, PageFigures(), []
    )


# ----------------------------------------------------------------------------------- random worlds

SINCE, UNTIL = T0, T0 + timedelta(days=3)
SERIALS = itertools.count()  # every example stores a team of its own: examples share the database
# created from a day before the window to a day after it, to the microsecond, boundaries included
created_offsets = st.one_of(
    st.sampled_from([timedelta(0), UNTIL - SINCE, -timedelta(microseconds=1)]),
    st.integers(-86_400_000_000, 4 * 86_400_000_000).map(lambda us: timedelta(microseconds=us)),
)
delays = st.integers(0, 2 * 86_400_000_000).map(lambda us: timedelta(microseconds=us))
actors = st.sampled_from([0, 1, 2, None])  # index into the example's users; None: an alert source


@dataclass(frozen=True)
class IncidentPlan:
    """One incident and what happened to it, times relative to its creation."""

    created: timedelta
    severity: Severity
    acks: list[tuple[timedelta, int | None]]
    resolved_after: timedelta | None
    fires: list[tuple[EffectKind, int | None]]
    pages: list[tuple[int, NotificationStatus]]


incident_plans = st.builds(
    IncidentPlan,
    created=created_offsets,
    severity=st.sampled_from(Severity),
    acks=st.lists(st.tuples(delays, actors), max_size=3),
    resolved_after=st.none() | delays,
    fires=st.lists(st.tuples(st.sampled_from(EffectKind), st.none() | st.integers(0, 3)), max_size=4),
    pages=st.lists(st.tuples(st.sampled_from([0, 1, 2]), st.sampled_from(NotificationStatus)), max_size=4),
)


async def store_plans(uow: UnitOfWork, plans: list[IncidentPlan], serial: int) -> tuple[int, list[object]]:
    """A team of its own (so examples never see each other's rows) with the planned incidents; returns
    the team and every entity written, as stored."""
    team = await stored_team(uow, f"team-{serial}")
    users = [await stored_user(uow, f"u{n}-{serial}@example.com", team_id=team.id) for n in range(3)]
    written: list[object] = []
    for n, plan in enumerate(plans):
        created = SINCE + plan.created
        incident = Incident("t", created, plan.severity, team_id=team.id)
        phase = Phase.ACKNOWLEDGED if plan.acks else Phase.ACTIVE
        if plan.resolved_after is not None:
            phase, incident.resolved_at = Phase.RESOLVED, created + plan.resolved_after
        incident.escalation = EscalationState(phase)
        incident = await uow.incidents.add(incident)
        events = [
            TimelineEvent(incident.id, TimelineKind.ACKNOWLEDGED, created + delay, None if who is None else users[who].id)
            for delay, who in plan.acks
        ] + [TimelineEvent(incident.id, TimelineKind.CREATED, created)]
        await uow.timeline.add_many(events)
        fires = [EscalationEvent(incident.id, 1, kind, 0, created, created, step, 0) for kind, step in plan.fires]
        await uow.escalation_events.add_many(fires)
        pages = [
            page_for(f"p-{serial}-{n}-{k}", incident_id=incident.id, user_id=users[who].id, status=status)
            for k, (who, status) in enumerate(plan.pages)
        ]
        await uow.notifications.add_new(pages)
        written += [incident, *events, *fires, *pages]
    return team.id, written


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(plans=st.lists(incident_plans, max_size=12))
async def test_the_database_computes_what_the_definition_says(
    uow_factory: UowFactory, plans: list[IncidentPlan]
) -> None:
    serial = next(SERIALS)
    async with uow_factory() as uow:
        team_id, written = await store_plans(uow, plans, serial)
        await uow.commit()
    expected = incident_report(
        SINCE,
        UNTIL,
        team_id,
        [w for w in written if isinstance(w, Incident)],
        [w for w in written if isinstance(w, TimelineEvent)],
        [w for w in written if isinstance(w, EscalationEvent)],
        [w for w in written if isinstance(w, Notification)],
    )
    async with uow_factory() as uow:
        assert await uow.analytics.incident_report(SINCE, UNTIL, team_id) == expected

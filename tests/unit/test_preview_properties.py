"""The preview is what the service does: for random teams, users, preferences, schedules, overrides,
policies and incidents, `Policies.preview` lists, fire by fire, the instants, users and channels (and
who is left out) that the real use cases produce when the incident is opened on a fake clock and the
worker runs as time passes, late now and then, with the incident acknowledged when the preview was
told it would be."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentcore.escalation import EffectKind
from incidentcore.model import Channel, EscalationPolicy, NotificationPreference, Role, Severity, Team, User
from incidentcore.ports import Page
from incidentcore.reach import UnreachableReason
from incidentcore.schedules import Override, Schedule, TurnLength, TurnUnit
from incidentcore.services import NewIncident, PreviewOptions
from incidentcore.testing import FakeClock, InMemoryServices
from incidentcore.testing.strategies import (
    escalation_policies,
    instants,
    overrides,
    schedules,
    severities,
    targets,
    turn_lengths,
)

TEAM_IDS = (1, 2)
MINUTE = timedelta(minutes=1)
ADDRESSES = {Channel.EMAIL: "pager@example.com", Channel.SMS: "+15555550100", Channel.WEBHOOK: "https://hooks.example.com/p"}


@dataclass
class Person:
    role: Role
    team_id: int | None
    active: bool
    preferences: list[NotificationPreference]  # user_id filled in once the user exists


@dataclass
class Scenario:
    people: list[Person]
    schedules: list[Schedule]  # participants and override users are indexes into people, plus 1
    overrides: list[list[Override]]
    policy: EscalationPolicy
    start: datetime
    severity: Severity
    team_id: int | None
    hours: int
    acknowledge_after: int | None
    lateness: list[int]  # minutes each worker run comes after the timer it is for, in turn


def preferences() -> st.SearchStrategy[list[NotificationPreference]]:
    """No preferences (email by default), or some channels: enabled or not, email with or without its
    own address, a minimum severity now and then."""
    one = st.builds(
        lambda channel, enabled, own_address, minimum: NotificationPreference(
            0, channel, enabled, ADDRESSES[channel] if own_address or channel is not Channel.EMAIL else None, minimum
        ),
        st.sampled_from([Channel.EMAIL, Channel.SMS, Channel.WEBHOOK]),
        st.booleans(),
        st.booleans(),
        st.none() | severities(),
    )
    return st.lists(one, max_size=3, unique_by=lambda p: p.channel)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    people = draw(
        st.lists(
            st.builds(
                Person,
                st.sampled_from([Role.USER, Role.ONCALL_ENGINEER, Role.TEAM_LEAD, Role.MANAGER]),
                st.none() | st.sampled_from(TEAM_IDS),
                st.integers(0, 5).map(bool),  # mostly active
                preferences(),
            ),
            min_size=1,
            max_size=5,
        )
    )
    user_ids = st.integers(2, len(people) + 1)  # user 1 is the admin who acts
    start = draw(instants(datetime(2024, 1, 1), datetime(2030, 1, 1))).replace(second=0, microsecond=0)
    local = start.replace(tzinfo=None)
    near = st.integers(0, 21 * 24 * 60).map(lambda m: local - m * MINUTE)  # rotations that started lately
    # hourly rotations and short overrides around the incident: hands change between its fires
    hours = st.builds(TurnLength, st.just(TurnUnit.HOURS), st.integers(1, 4))
    rotations = schedules(max_layers=2, user_ids=user_ids, starts=near, max_participants=3, lengths=hours | turn_lengths())
    drawn_schedules = draw(st.lists(rotations, min_size=1, max_size=2))
    drawn_overrides = [
        draw(
            st.lists(
                overrides(
                    user_ids=user_ids,
                    min_start=local - timedelta(hours=2),
                    max_start=local + timedelta(hours=10),
                    max_minutes=3 * 60,
                ),
                max_size=4,
            )
        )
        for _ in drawn_schedules
    ]
    schedule_ids = st.sampled_from(range(1, len(drawn_schedules) + 1))
    policy = draw(
        escalation_policies(
            team_ids=st.none(),
            max_steps=3,
            max_delay=60,
            max_repeat=2,
            targets=targets(st.sampled_from(TEAM_IDS), user_ids=user_ids, schedule_ids=schedule_ids),
        )
    )
    return Scenario(
        people=people,
        schedules=drawn_schedules,
        overrides=drawn_overrides,
        policy=replace(policy, severities=frozenset()),  # the one policy, chosen for any incident
        start=start,
        severity=draw(severities()),
        team_id=draw(st.none() | st.sampled_from(TEAM_IDS)),
        hours=draw(st.integers(1, 12)),
        acknowledge_after=draw(st.none() | st.integers(0, 12 * 60) | st.sampled_from(fire_offsets(policy))),
        lateness=draw(st.lists(st.sampled_from([0, 0, 0, 1, 7, 45, 90]), max_size=10)),
    )


def fire_offsets(policy: EscalationPolicy) -> list[int]:
    """The minutes after the trigger at which an unanswered incident's steps fire: an acknowledgement
    at one of those instants comes as a step fires."""
    delays = [step.delay_minutes for step in policy.steps] * (policy.repeat + 1)
    return [sum(delays[:n]) for n in range(len(delays))]


Fire = tuple[datetime, int, int, int]  # scheduled_at, cycle, step, loop
Pages = list[tuple[int, Channel, str | None]]


async def build(world: InMemoryServices, scenario: Scenario) -> tuple[User, int]:
    """Stores the scenario's world; returns the admin and the policy's id."""
    admin = await world.admin()
    async with world.uow() as uow:
        for team_id in TEAM_IDS:
            assert (await uow.teams.add(Team(f"team {team_id}"))).id == team_id
        for n, person in enumerate(scenario.people, start=2):
            user = User(f"u{n}@example.com", f"User {n}", "", person.role, person.team_id, person.active)
            assert (await uow.users.add(user)).id == n
            for preference in person.preferences:
                await uow.preferences.upsert(replace(preference, user_id=n))
        for n, (schedule, schedule_overrides) in enumerate(zip(scenario.schedules, scenario.overrides, strict=True), 1):
            assert (await uow.schedules.add(replace(schedule, team_id=None, id=0))).id == n
            for override in schedule_overrides:
                await uow.overrides.add(replace(override, schedule_id=n, id=0))
        policy = await uow.policies.add(replace(scenario.policy, id=0))
        await uow.commit()
    return admin, policy.id


async def run(world: InMemoryServices, scenario: Scenario, admin: User) -> int:
    """Opens the incident at the start and runs the worker as the clock moves: at each timer, late by
    the scenario's lateness, and at the acknowledgement (the worker first, then the acknowledgement,
    as a responder who acknowledges a page that just came). Returns the incident's id."""
    clock = world.clock
    assert isinstance(clock, FakeClock)
    clock.set(scenario.start)
    new = NewIncident("checkout is down", severity=scenario.severity, team_id=scenario.team_id)
    incident = await world.incidents.open(admin, new)
    await world.run_worker()  # opening nudges the worker, which sends step 0's pages
    end = scenario.start + timedelta(hours=scenario.hours)
    acknowledge_at = None if scenario.acknowledge_after is None else scenario.start + scenario.acknowledge_after * MINUTE
    lateness = iter(scenario.lateness)
    while True:
        due = (await world.incidents.get(admin, incident.id)).next_escalation_at
        tick_at = due + next(lateness, 0) * MINUTE if due is not None and due < end else None
        if acknowledge_at is not None and acknowledge_at < end and (tick_at is None or acknowledge_at <= tick_at):
            clock.set(acknowledge_at)
            await world.run_worker()
            await world.incidents.acknowledge(admin, incident.id)
            acknowledge_at = None
        elif tick_at is not None:
            clock.set(tick_at)
            await world.run_worker()
        else:
            return incident.id


async def what_the_worker_did(
    world: InMemoryServices, admin: User, incident_id: int, end: datetime
) -> list[tuple[Fire, Pages, list[int], list[int], list[int]]]:
    """Each fire before `end`: its pages (user, channel, address), the users its event says it paged,
    the users its timeline entry says had no channel and the schedules with nobody on call."""
    everything = Page(limit=10_000)
    events = (await world.incidents.escalation_events(admin, incident_id, everything)).items
    pages = (await world.incidents.notifications(admin, incident_id, everything)).items
    timeline = (await world.incidents.timeline(admin, incident_id, everything)).items
    assert all(page.status.value == "sent" for page in pages)  # nothing withdrawn, nothing failed
    fires = []
    for event in events:
        if event.kind is not EffectKind.FIRED or event.scheduled_at >= end:
            continue
        assert event.step_index is not None and event.loop is not None
        fire = (event.scheduled_at, event.cycle, event.step_index, event.loop)
        prefix = f"incident:{incident_id}:cycle:{event.cycle}:step:{event.step_index}:loop:{event.loop}:"
        paged = sorted((p.user_id or 0, p.channel, p.address) for p in pages if p.idempotency_key.startswith(prefix))
        (escalated,) = [
            e.data
            for e in timeline
            if e.kind.value == "escalated"
            and (e.data["cycle"], e.data["step_index"], e.data["loop"]) == (event.cycle, event.step_index, event.loop)
        ]
        no_channel = escalated.get("unreachable_user_ids", [])
        unstaffed = escalated.get("unreachable_schedule_ids", [])
        fires.append((fire, paged, event.notified_user_ids, no_channel, unstaffed))
    return fires


@pytest.mark.timeout(300)  # passing takes seconds; shrinking a failure to its simplest case takes longer
@given(scenario=scenarios())
def test_the_preview_pages_whom_the_worker_pages_fire_by_fire(scenario: Scenario) -> None:
    asyncio.run(compare(scenario))


async def compare(scenario: Scenario) -> None:
    world = InMemoryServices(FakeClock(datetime(2020, 1, 1, tzinfo=UTC)))
    admin, policy_id = await build(world, scenario)
    options = PreviewOptions(
        at=scenario.start,
        severity=scenario.severity,
        team_id=scenario.team_id,
        hours=scenario.hours,
        acknowledge_after_minutes=scenario.acknowledge_after,
    )
    preview = await world.policies.preview(admin, policy_id, options)

    incident_id = await run(world, scenario, admin)

    no_channel = {UnreachableReason.NO_ENABLED_CHANNEL, UnreachableReason.BELOW_MINIMUM_SEVERITY}
    expected = [
        (
            (fire.scheduled_at, fire.cycle, fire.step_index, fire.loop),
            sorted((r.user.id, channel, address) for r in fire.resolution.paged for channel, address in r.channels),
            [r.user.id for r in fire.resolution.paged],
            [u.user_id for u in fire.resolution.unreachable if u.reason in no_channel],
            fire.resolution.unstaffed_schedule_ids,
        )
        for fire in preview.fires
    ]
    assert not preview.truncated
    assert await what_the_worker_did(world, admin, incident_id, preview.until) == expected

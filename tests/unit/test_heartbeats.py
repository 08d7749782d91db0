"""Heartbeat monitors on a fake clock: when a heartbeat counts as missed, the one incident a miss opens,
the ping that resolves it, and the use cases' rules (who manages, what is refused)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentcore.errors import NotFound, PermissionDenied, ValidationFailed
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.heartbeats import Heartbeat, HeartbeatStatus
from incidentcore.maintenance import MaintenanceWindow
from incidentcore.model import EscalationPolicy, Incident, IncidentStatus, Role, TimelineKind, User
from incidentcore.ports import IncidentFilter, Page
from incidentcore.services import HeartbeatChanges, HeartbeatState, NewHeartbeat
from incidentcore.services.accounts import hash_secret
from incidentcore.testing import FakeClock
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio

T0 = FakeClock.DEFAULT_START
ALL = Page(limit=500)
INTERVAL, GRACE = 60, 10
OVERDUE = timedelta(minutes=INTERVAL + GRACE)


def heartbeat(**fields: object) -> Heartbeat:
    values: dict[str, object] = {
        "name": "backup", "team_id": 1, "interval_minutes": INTERVAL, "grace_minutes": GRACE,
        "token_hash": "h", "created_at": T0,
    }  # fmt: skip
    return Heartbeat(**{**values, **fields})  # type: ignore[arg-type]


# --- the pure rules -----------------------------------------------------------------------------


def test_a_never_pinged_heartbeat_is_due_interval_plus_grace_after_its_creation() -> None:
    beat = heartbeat()
    assert beat.due_at == T0 + OVERDUE
    assert not beat.missed(T0 + OVERDUE - timedelta(seconds=1))
    assert beat.missed(T0 + OVERDUE)
    assert beat.status(T0) is HeartbeatStatus.WAITING
    assert beat.status(T0 + OVERDUE) is HeartbeatStatus.DOWN


def test_a_ping_moves_the_due_time_and_hands_back_the_incident_its_miss_opened() -> None:
    beat = heartbeat()
    assert beat.ping(T0 + timedelta(minutes=5)) is None
    assert beat.due_at == T0 + timedelta(minutes=5) + OVERDUE
    assert beat.status(T0 + timedelta(minutes=6)) is HeartbeatStatus.UP
    beat.record_incident(7)
    assert not beat.missed(T0 + timedelta(days=1))  # one incident per miss
    assert beat.status(T0 + timedelta(minutes=6)) is HeartbeatStatus.DOWN
    assert beat.ping(T0 + timedelta(days=1)) == 7
    assert beat.incident_id is None and beat.last_ping_at == T0 + timedelta(days=1)


def test_a_ping_older_than_the_last_one_does_not_move_the_due_time_back() -> None:
    beat = heartbeat(last_ping_at=T0 + timedelta(hours=2))
    beat.ping(T0 + timedelta(hours=1))
    assert beat.last_ping_at == T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"interval_minutes": 0}, "interval_minutes"),
        ({"interval_minutes": Heartbeat.MAX_INTERVAL_MINUTES + 1}, "interval_minutes"),
        ({"grace_minutes": -1}, "grace_minutes"),
        ({"grace_minutes": Heartbeat.MAX_GRACE_MINUTES + 1}, "grace_minutes"),
        ({"name": " "}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"name": "x" * (Heartbeat.NAME_MAX + 1)}, "name"),
    ],
)
def test_validate_names_the_bad_field(fields: dict[str, object], bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        heartbeat(**fields).validate()
    assert [e.field for e in refused.value.errors] == [bad]


def test_the_limits_themselves_are_valid() -> None:
    heartbeat(interval_minutes=1, grace_minutes=0).validate()
    heartbeat(interval_minutes=Heartbeat.MAX_INTERVAL_MINUTES, grace_minutes=Heartbeat.MAX_GRACE_MINUTES).validate()


# --- scenarios on the whole service ------------------------------------------------------------


class Monitor:
    """A team with a policy paging its lead, and a heartbeat of that team, on a fake clock."""

    def __init__(self, world: InMemoryServices, admin: User, lead: User, state: HeartbeatState) -> None:
        self.world = world
        self.admin = admin
        self.lead = lead
        self.heartbeat_id = state.heartbeat.id
        assert state.secret is not None
        self.secret = state.secret

    @classmethod
    async def create(cls, interval: int = INTERVAL, grace: int = GRACE) -> Monitor:
        world = InMemoryServices(FakeClock())
        admin = await world.admin()
        team = await world.teams.create(admin, "ops", None)
        lead = await world.user("lead@example.com", Role.TEAM_LEAD, team.id)
        step = EscalationStep(5, (Target(TargetType.USER, user_id=lead.id),))
        await world.policies.create(admin, EscalationPolicy("ops", (step,), team_id=team.id))
        state = await world.heartbeats.create(lead, NewHeartbeat("nightly backup", team.id, interval, grace))
        return cls(world, admin, lead, state)

    async def tick(self) -> None:
        await self.world.run_worker()

    async def ping(self) -> HeartbeatState:
        return await self.world.heartbeats.ping(self.secret)

    async def incidents(self) -> list[Incident]:
        """The heartbeat's incidents, oldest first."""
        everything = (await self.world.incidents.list(self.admin, IncidentFilter(), ALL)).items
        return sorted((i for i in everything if i.heartbeat_id == self.heartbeat_id), key=lambda i: i.id)

    async def open_incidents(self) -> list[Incident]:
        return [i for i in await self.incidents() if i.is_open]

    async def state(self) -> HeartbeatState:
        return await self.world.heartbeats.get(self.admin, self.heartbeat_id)


async def test_ping_on_time_miss_ping_again_and_miss_again() -> None:
    monitor = await Monitor.create()
    clock = monitor.world.clock

    clock.advance(minutes=INTERVAL)  # on time: no incident
    await monitor.ping()
    ping_at = clock.now()
    await monitor.tick()
    assert await monitor.incidents() == []
    assert (await monitor.state()).status is HeartbeatStatus.UP

    clock.set(ping_at + OVERDUE - timedelta(seconds=1))  # not a second early
    await monitor.tick()
    assert await monitor.incidents() == []

    clock.set(ping_at + OVERDUE)  # exactly interval + grace after the last ping
    await monitor.tick()
    (first,) = await monitor.incidents()
    assert first.is_open and first.created_at == ping_at + OVERDUE
    assert (first.source, first.dedup_key, first.severity.value) == ("heartbeat", f"heartbeat:{monitor.heartbeat_id}", "high")
    assert first.title == "Heartbeat nightly backup missed"
    assert first.team_id is not None and first.escalation_policy_id is not None  # the team's policy pages
    state = await monitor.state()
    assert (state.status, state.heartbeat.incident_id) == (HeartbeatStatus.DOWN, first.id)

    clock.advance(minutes=INTERVAL * 3)  # still silent: still the one incident (its escalation goes on)
    await monitor.tick()
    assert [i.id for i in await monitor.incidents()] == [first.id]

    pinged = await monitor.ping()  # back: the incident is resolved by the system
    assert pinged.status is HeartbeatStatus.UP and pinged.heartbeat.incident_id is None
    (resolved,) = await monitor.incidents()
    assert resolved.status is IncidentStatus.RESOLVED and resolved.resolved_at == clock.now()
    timeline = (await monitor.world.incidents.timeline(monitor.admin, first.id, ALL)).items
    (resolution,) = [e for e in timeline if e.kind is TimelineKind.RESOLVED]
    assert resolution.actor_id is None and resolution.data["reason"] == "heartbeat nightly backup pinged"

    second_ping_at = clock.now()
    clock.advance(OVERDUE)  # missed again: a new incident
    await monitor.tick()
    first_again, second = await monitor.incidents()
    assert first_again.id == first.id and not first_again.is_open
    assert second.is_open and second.created_at == second_ping_at + OVERDUE


async def test_a_never_pinged_heartbeat_fires_only_interval_plus_grace_after_creation() -> None:
    monitor = await Monitor.create()
    clock = monitor.world.clock
    clock.set(T0 + OVERDUE - timedelta(seconds=1))
    await monitor.tick()
    assert await monitor.incidents() == []
    assert (await monitor.state()).status is HeartbeatStatus.WAITING
    clock.set(T0 + OVERDUE)
    await monitor.tick()
    (incident,) = await monitor.incidents()
    assert incident.description is not None and "Never pinged" in incident.description


async def test_a_miss_under_a_team_wide_maintenance_window_waits_for_its_end() -> None:
    """A job stopped for maintenance pages nobody during the window; still silent at its end, it pages
    then; back during the window, it pages never. A window listing only integrations does not hold it."""
    monitor = await Monitor.create()
    clock, admin = monitor.world.clock, monitor.admin
    team_id = (await monitor.state()).heartbeat.team_id
    window_end = T0 + OVERDUE + timedelta(hours=1)
    await monitor.world.maintenance_windows.create(
        admin, MaintenanceWindow("database upgrade", T0, window_end, team_id=team_id)
    )
    clock.set(T0 + OVERDUE)
    await monitor.tick()
    assert await monitor.incidents() == []
    assert (await monitor.state()).status is HeartbeatStatus.DOWN  # what it is: silent past its due time
    clock.set(window_end - timedelta(seconds=1))
    await monitor.tick()
    assert await monitor.incidents() == []
    clock.set(window_end)
    await monitor.tick()
    (incident,) = await monitor.incidents()
    assert incident.created_at == window_end and incident.is_open

    other = await Monitor.create()
    team_id = (await other.state()).heartbeat.team_id
    await other.world.maintenance_windows.create(
        other.admin, MaintenanceWindow("upgrade", T0, T0 + 2 * OVERDUE, team_id=team_id)
    )
    other.world.clock.set(T0 + OVERDUE + timedelta(minutes=1))
    await other.tick()
    await other.ping()  # back during the window: due again a minute after it ends
    other.world.clock.set(T0 + 2 * OVERDUE)
    await other.tick()
    assert await other.incidents() == []
    assert (await other.state()).status is HeartbeatStatus.UP


async def test_the_missed_heartbeats_incident_pages_through_the_teams_policy() -> None:
    monitor = await Monitor.create()
    monitor.world.clock.set(T0 + OVERDUE)
    await monitor.tick()
    assert [(m.subject, m.channel.value) for m in monitor.world.notifier.sent] != []
    assert all("Heartbeat nightly backup missed" in m.subject for m in monitor.world.notifier.sent)


async def test_a_ping_after_a_person_resolved_the_incident_just_records_it() -> None:
    monitor = await Monitor.create()
    monitor.world.clock.set(T0 + OVERDUE)
    await monitor.tick()
    (incident,) = await monitor.incidents()
    await monitor.world.incidents.resolve(monitor.lead, incident.id)
    monitor.world.clock.advance(OVERDUE)
    await monitor.tick()  # resolved by a person, the job still silent: no second incident for this miss
    assert len(await monitor.incidents()) == 1
    assert (await monitor.state()).status is HeartbeatStatus.DOWN
    pinged = await monitor.ping()
    assert pinged.status is HeartbeatStatus.UP
    (still,) = await monitor.incidents()
    assert still.resolved_at == T0 + OVERDUE  # as the person left it


async def test_a_ping_resolves_an_acknowledged_incident_too() -> None:
    monitor = await Monitor.create()
    monitor.world.clock.set(T0 + OVERDUE)
    await monitor.tick()
    (incident,) = await monitor.incidents()
    await monitor.world.incidents.acknowledge(monitor.lead, incident.id)
    await monitor.ping()
    assert [i.status for i in await monitor.incidents()] == [IncidentStatus.RESOLVED]


async def test_deleting_a_heartbeat_leaves_its_incident_and_ends_its_ping_url() -> None:
    monitor = await Monitor.create()
    monitor.world.clock.set(T0 + OVERDUE)
    await monitor.tick()
    await monitor.world.heartbeats.delete(monitor.lead, monitor.heartbeat_id)
    (incident,) = await monitor.incidents()
    assert incident.is_open
    with pytest.raises(NotFound):
        await monitor.ping()


async def test_an_unknown_or_empty_secret_pings_nothing() -> None:
    monitor = await Monitor.create()
    for secret in ("", "not-the-secret"):
        with pytest.raises(NotFound):
            await monitor.world.heartbeats.ping(secret)


async def test_only_the_hash_of_the_secret_is_stored_and_rotation_ends_the_old_url() -> None:
    monitor = await Monitor.create()
    (stored,) = monitor.world.store.heartbeats.values()
    assert stored.token_hash == hash_secret(monitor.secret) != monitor.secret
    rotated = await monitor.world.heartbeats.update(
        monitor.lead, monitor.heartbeat_id, HeartbeatChanges(), rotate_secret=True
    )
    assert rotated.secret is not None and rotated.secret != monitor.secret
    with pytest.raises(NotFound):
        await monitor.ping()
    assert (await monitor.world.heartbeats.ping(rotated.secret)).status is HeartbeatStatus.UP
    plain = await monitor.world.heartbeats.update(monitor.lead, monitor.heartbeat_id, HeartbeatChanges(grace_minutes=0))
    assert plain.secret is None


async def test_who_may_manage_and_what_is_refused() -> None:
    monitor = await Monitor.create()
    world = monitor.world
    other = await world.teams.create(monitor.admin, "payments", None)
    member = await world.user("member@example.com", Role.ONCALL_ENGINEER, monitor.lead.team_id)
    outsider_lead = await world.user("outsider@example.com", Role.MANAGER, other.id)
    for actor in (member, outsider_lead):
        with pytest.raises(PermissionDenied):
            await world.heartbeats.update(actor, monitor.heartbeat_id, HeartbeatChanges(name="x"))
        with pytest.raises(PermissionDenied):
            await world.heartbeats.delete(actor, monitor.heartbeat_id)
        assert (await world.heartbeats.get(actor, monitor.heartbeat_id)).heartbeat.name == "nightly backup"
    with pytest.raises(PermissionDenied):  # moving it needs the right in the new team too
        await world.heartbeats.update(monitor.lead, monitor.heartbeat_id, HeartbeatChanges(team_id=other.id))
    with pytest.raises(ValidationFailed):
        await world.heartbeats.update(monitor.lead, monitor.heartbeat_id, HeartbeatChanges(interval_minutes=0))
    with pytest.raises(ValidationFailed):  # a team that does not exist
        await world.heartbeats.create(monitor.admin, NewHeartbeat("x", 999, 5))
    assert (await monitor.state()).heartbeat.interval_minutes == INTERVAL  # refusals changed nothing
    moved = await world.heartbeats.update(monitor.admin, monitor.heartbeat_id, HeartbeatChanges(team_id=other.id))
    assert moved.heartbeat.team_id == other.id


# --- the property -------------------------------------------------------------------------------

PING, TICK = "ping", "tick"
steps = st.lists(
    st.tuples(st.integers(0, 4 * (INTERVAL + GRACE)), st.sampled_from([PING, TICK, TICK])),  # minutes, then what
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(steps=steps)
def test_one_open_incident_at_most_and_one_exactly_while_overdue(steps: list[tuple[int, str]]) -> None:
    """Whatever the order of pings and ticks: never two open incidents for the heartbeat; after a tick,
    an incident is open exactly when the last ping (or the creation) is interval + grace old or more;
    after a ping none is; each incident opens when its miss is due, not before."""
    asyncio.run(run_pings_and_ticks(steps))


async def run_pings_and_ticks(steps: list[tuple[int, str]]) -> None:
    monitor = await Monitor.create()
    clock = monitor.world.clock
    last = T0
    for minutes, what in steps:
        clock.advance(minutes=minutes)
        if what == PING:
            await monitor.ping()
            last = clock.now()
            assert await monitor.open_incidents() == []
        else:
            await monitor.tick()
            open_now = await monitor.open_incidents()
            assert len(open_now) == (1 if clock.now() >= last + OVERDUE else 0)
            for incident in open_now:
                assert last + OVERDUE <= incident.created_at <= clock.now()
    incidents = await monitor.incidents()
    assert sum(i.is_open for i in incidents) <= 1

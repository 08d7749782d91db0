"""Schedules as use cases on the in-memory service: who may manage them, what bad input is refused,
what a delete leaves, and escalation steps that page whoever is on call at the fire's scheduled time.

The on-call arithmetic itself (DST, gaps, folds, restrictions) is proved in test_schedules*.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

import pytest

from incidentcore.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import EscalationPolicy, Role, TimelineKind, User
from incidentcore.ports import Page
from incidentcore.schedules import (
    Layer,
    OnCallSource,
    Restriction,
    Schedule,
    TurnLength,
    TurnUnit,
)
from incidentcore.services import NewIncident, NewOverride, PolicyChanges, ScheduleChanges, UserChanges
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
ALL = Page(limit=500)

# Monday 9 March 2026: Berlin is on CET (UTC+1), so the 09:00 handoff is at 08:00 UTC.
MONDAY = datetime(2026, 3, 9, tzinfo=UTC)
HANDOFF = MONDAY + timedelta(hours=8)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


WEEKS = TurnUnit.WEEKS


def weekly(*participants: int, restrictions: tuple[Restriction, ...] = ()) -> Layer:
    """Weekly, handing off on Mondays at 09:00 Berlin time, from 2 March 2026."""
    return Layer(
        "week", datetime(2026, 3, 2, 9, 0), TurnLength(TurnUnit.WEEKS, 1), participants, restrictions
    )


@dataclass
class Ops:
    world: InMemoryServices
    admin: User
    team_id: int
    lead: User  # team_lead of ops
    alice: User  # oncall_engineer of ops, on call the week of 2 March
    bob: User  # oncall_engineer of ops, on call the week of 9 March
    carol: User  # user of ops
    outsider: User  # team_lead of another team

    async def schedule(self, *participants: int, **fields: object) -> Schedule:
        layers = fields.pop("layers", (weekly(*participants),))
        new = Schedule("ops primary", "Europe/Berlin", layers, team_id=self.team_id, **fields)  # type: ignore[arg-type]
        return await self.world.schedules.create(self.lead, new)

    async def policy(self, *steps: tuple[int, tuple[Target, ...]], repeat: int = 0) -> EscalationPolicy:
        policy = EscalationPolicy(
            "ops", tuple(EscalationStep(delay, targets) for delay, targets in steps), repeat=repeat
        )
        return await self.world.policies.create(self.admin, policy)

    async def open(self, title: str = "db down") -> int:
        return (await self.world.incidents.open(self.admin, NewIncident(title, team_id=self.team_id))).id

    async def paged(self, incident_id: int) -> list[tuple[int, list[int]]]:
        """Each fire's (minutes after MONDAY it was scheduled for, who it paged)."""
        events = (await self.world.incidents.escalation_events(self.admin, incident_id, ALL)).items
        return [
            (int((e.scheduled_at - MONDAY) / timedelta(minutes=1)), e.notified_user_ids)
            for e in events
            if e.step_index is not None
        ]

    async def escalated(self, incident_id: int) -> list[dict[str, object]]:
        timeline = (await self.world.incidents.timeline(self.admin, incident_id, ALL)).items
        return [e.data for e in timeline if e.kind is TimelineKind.ESCALATED]


@pytest.fixture
async def ops() -> Ops:
    world = InMemoryServices()
    world.clock.set(MONDAY)
    admin = await world.admin()
    team = await world.teams.create(admin, "ops", None)
    other = await world.teams.create(admin, "search", None)
    return Ops(
        world,
        admin,
        team.id,
        await world.user("lead@example.com", Role.TEAM_LEAD, team.id),
        await world.user("alice@example.com", Role.ONCALL_ENGINEER, team.id),
        await world.user("bob@example.com", Role.ONCALL_ENGINEER, team.id),
        await world.user("carol@example.com", Role.USER, team.id),
        await world.user("outsider@example.com", Role.TEAM_LEAD, other.id),
    )


DEACTIVATE = UserChanges(is_active=False)
ADMINS = (Target(TargetType.ROLE, role=Role.ADMIN.value),)


def on_schedule(schedule: Schedule) -> tuple[Target, ...]:
    return (Target(TargetType.SCHEDULE, schedule_id=schedule.id),)


# --------------------------------------------------------------------------------------------- paging


async def test_a_step_pages_whoever_is_on_call_when_it_was_scheduled_even_when_the_worker_is_late(
    ops: Ops,
) -> None:
    """Steps due at 07:50 and 08:10 UTC straddle the 08:00 handoff; the worker, down, ticks at 10:00."""
    schedule = await ops.schedule(ops.alice.id, ops.bob.id)
    await ops.policy((20, on_schedule(schedule)), (20, on_schedule(schedule)), repeat=1)
    ops.world.clock.set(utc(9, 7, 30))
    incident_id = await ops.open()
    ops.world.clock.set(utc(9, 10, 0))
    await ops.world.run_worker()
    alice, bob = [ops.alice.id], [ops.bob.id]
    assert await ops.paged(incident_id) == [(450, alice), (470, alice), (490, bob), (510, bob)]
    sent_to = [m.address for m in ops.world.notifier.sent]
    assert sent_to == ["alice@example.com"] * 2 + ["bob@example.com"] * 2


async def test_an_override_for_tonight_pages_its_user_and_only_tonight(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id, ops.bob.id)
    await ops.policy((5, on_schedule(schedule)))
    tonight = NewOverride(ops.carol.id, utc(10, 19), utc(11, 5))
    await ops.world.schedules.add_override(ops.lead, schedule.id, tonight)

    opened = {}
    moments = {
        "evening": utc(10, 18, 59),
        "tonight": utc(10, 19),
        "late": utc(11, 4, 59),
        "morning": utc(11, 5),
    }
    for label, at in moments.items():
        ops.world.clock.set(at)
        opened[label] = await ops.open(label)
    who = {label: (await ops.paged(incident_id))[0][1] for label, incident_id in opened.items()}
    assert who == {
        "evening": [ops.bob.id],
        "tonight": [ops.carol.id],
        "late": [ops.carol.id],
        "morning": [ops.bob.id],
    }


async def test_nobody_on_call_is_recorded_like_an_unreachable_target(ops: Ops) -> None:
    """Office hours only: a night-time fire finds nobody; the user target beside it is still paged."""
    office_hours = Restriction(None, time(9, 0), time(17, 0))
    schedule = await ops.schedule(layers=(weekly(ops.alice.id, restrictions=(office_hours,)),))
    carol = Target(TargetType.USER, user_id=ops.carol.id)
    await ops.policy((5, on_schedule(schedule)), (5, (*on_schedule(schedule), carol)))
    ops.world.clock.set(utc(9, 22))
    incident_id = await ops.open()
    ops.world.clock.advance(minutes=5)
    await ops.world.run_worker()

    assert await ops.paged(incident_id) == [(22 * 60, []), (22 * 60 + 5, [ops.carol.id])]
    alone, with_carol = await ops.escalated(incident_id)
    assert alone["unreachable_schedule_ids"] == [schedule.id]
    assert alone["user_ids"] == []
    nobody = f"no one was paged: no one is on call on schedule {schedule.id} at the scheduled time"
    assert alone["warning"] == nobody
    assert with_carol["unreachable_schedule_ids"] == [schedule.id]
    assert "warning" not in with_carol


async def test_a_deactivated_on_call_user_or_a_deleted_schedule_reaches_no_one(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id)
    policy = await ops.policy((5, on_schedule(schedule)), (5, on_schedule(schedule)))
    await ops.world.accounts.update_user(ops.admin, ops.alice.id, DEACTIVATE)
    incident_id = await ops.open()
    # The incident keeps its policy snapshot: the schedule goes, the snapshot still names it.
    await ops.world.policies.update(ops.admin, policy.id, PolicyChanges(steps=(EscalationStep(5, ADMINS),)))
    await ops.world.schedules.delete(ops.lead, schedule.id)
    ops.world.clock.advance(minutes=5)
    await ops.world.run_worker()
    escalated = await ops.escalated(incident_id)
    assert [e["unreachable_schedule_ids"] for e in escalated] == [[schedule.id], [schedule.id]]
    assert await ops.paged(incident_id) == [(0, []), (5, [])]


# ------------------------------------------------------------------------------- managing schedules


async def test_team_leads_of_the_team_manage_its_schedules_and_anyone_reads(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id)
    schedules = ops.world.schedules
    for reader in (ops.carol, ops.outsider):
        assert (await schedules.get(reader, schedule.id)).layers == schedule.layers
    for stranger in (ops.carol, ops.alice, ops.outsider):
        with pytest.raises(PermissionDenied):
            await schedules.update(stranger, schedule.id, ScheduleChanges(name="mine"))
        with pytest.raises(PermissionDenied):
            await schedules.delete(stranger, schedule.id)
    with pytest.raises(PermissionDenied):  # a team lead may not give a schedule to another team
        await schedules.update(ops.lead, schedule.id, ScheduleChanges(team_id=None))
    renamed = await schedules.update(ops.lead, schedule.id, ScheduleChanges(name="ops secondary"))
    assert (renamed.name, renamed.layers) == ("ops secondary", schedule.layers)
    with pytest.raises(PermissionDenied):
        await schedules.create(ops.carol, Schedule("x", "UTC", (weekly(ops.carol.id),), team_id=ops.team_id))
    with pytest.raises(PermissionDenied):  # a schedule of no team is for admins
        await schedules.create(ops.lead, Schedule("x", "UTC", (weekly(ops.carol.id),)))
    assert (await schedules.create(ops.admin, Schedule("x", "UTC", (weekly(ops.carol.id),)))).team_id is None


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"layers": (weekly(),)}, "layers[0].participants"),
        ({"layers": (weekly(1, 999),)}, "layers[0].participants[1]"),
        ({"layers": (replace(weekly(1), turn_length=TurnLength(WEEKS, 13)),)}, "layers[0].turn_length.count"),
        (
            {"layers": (replace(weekly(1), turn_length=TurnLength(TurnUnit.HOURS, 0)),)},
            "layers[0].turn_length.count",
        ),
        (
            {"layers": (replace(weekly(1), restrictions=(Restriction(frozenset(), time(9), time(17)),)),)},
            "layers[0].restrictions[0].days",
        ),
        ({"team_id": 999}, "team_id"),
        ({"name": " "}, "name"),
    ],
)
async def test_bad_schedules_are_refused_naming_the_field_and_nothing_is_stored(
    ops: Ops, bad: dict[str, object], field: str
) -> None:
    new = replace(Schedule("ops", "Europe/Berlin", (weekly(ops.alice.id),), team_id=ops.team_id), **bad)  # type: ignore[arg-type]  # each case sets one field its own way
    with pytest.raises(ValidationFailed) as refused:
        await ops.world.schedules.create(ops.admin, new)
    assert field in [e.field for e in refused.value.errors]
    assert (await ops.world.schedules.list(ops.admin, None, ALL)).total == 0

    schedule = await ops.schedule(ops.alice.id)
    with pytest.raises(ValidationFailed) as refused:
        await ops.world.schedules.update(ops.admin, schedule.id, ScheduleChanges(**bad))  # type: ignore[arg-type]
    assert field in [e.field for e in refused.value.errors]
    assert await ops.world.schedules.get(ops.admin, schedule.id) == schedule


async def test_a_schedule_a_policy_pages_cannot_be_deleted_and_its_overrides_go_with_it(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id)
    an_hour = NewOverride(ops.bob.id, utc(9, 1), utc(9, 2))
    override = await ops.world.schedules.add_override(ops.lead, schedule.id, an_hour)
    policy = await ops.policy((5, on_schedule(schedule)))
    with pytest.raises(Conflict, match=f"escalation policy {policy.id} \\(ops\\) pages this schedule"):
        await ops.world.schedules.delete(ops.lead, schedule.id)
    await ops.world.policies.delete(ops.admin, policy.id)
    await ops.world.schedules.delete(ops.lead, schedule.id)
    with pytest.raises(NotFound):
        await ops.world.schedules.get(ops.admin, schedule.id)
    async with ops.world.uow() as uow:
        assert await uow.overrides.get(override.id) is None


async def test_a_policy_may_target_only_a_schedule_that_exists(ops: Ops) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await ops.policy((5, (Target(TargetType.SCHEDULE, schedule_id=999),)))
    missing = [("steps[0].targets[0].id", "schedule 999 does not exist")]
    assert [(e.field, e.message) for e in refused.value.errors] == missing
    with pytest.raises(ValidationFailed, match="needs the schedule's id"):
        await ops.policy((5, (Target(TargetType.SCHEDULE),)))


async def test_a_user_in_a_rotation_or_an_override_cannot_be_deleted(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id)
    in_rotation = f"schedule {schedule.id} \\(ops primary\\) has this user in its rotation"
    with pytest.raises(Conflict, match=in_rotation):
        await ops.world.accounts.delete_user(ops.admin, ops.alice.id)
    await ops.world.schedules.add_override(
        ops.lead, schedule.id, NewOverride(ops.carol.id, utc(9, 1), utc(9, 2))
    )
    with pytest.raises(Conflict, match="schedule overrides still reference the user"):
        await ops.world.accounts.delete_user(ops.admin, ops.carol.id)


# ---------------------------------------------------------------------------------------- overrides


async def test_members_put_themselves_on_call_and_take_back_only_their_own_overrides(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id)
    schedules = ops.world.schedules
    tonight = (utc(9, 19), utc(10, 7))
    mine = await schedules.add_override(ops.carol, schedule.id, NewOverride(ops.carol.id, *tonight))
    assert (mine.created_by_id, mine.schedule_id) == (ops.carol.id, schedule.id)
    with pytest.raises(PermissionDenied):  # someone else on call: team leads only
        await schedules.add_override(ops.carol, schedule.id, NewOverride(ops.bob.id, *tonight))
    with pytest.raises(PermissionDenied):  # another team's member, even for themselves
        await schedules.add_override(ops.outsider, schedule.id, NewOverride(ops.outsider.id, *tonight))
    by_lead = await schedules.add_override(ops.lead, schedule.id, NewOverride(ops.carol.id, *tonight))
    with pytest.raises(PermissionDenied):  # put on call by the lead: not carol's to take back
        await schedules.delete_override(ops.carol, schedule.id, by_lead.id)
    with pytest.raises(PermissionDenied):
        await schedules.delete_override(ops.bob, schedule.id, mine.id)
    await schedules.delete_override(ops.carol, schedule.id, mine.id)
    await schedules.delete_override(ops.lead, schedule.id, by_lead.id)
    assert (await schedules.overrides(ops.carol, schedule.id, None, None, ALL)).items == []


async def test_bad_overrides_are_refused(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id)
    await ops.world.accounts.update_user(ops.admin, ops.bob.id, DEACTIVATE)
    cases = [
        (NewOverride(999, utc(9, 1), utc(9, 2)), "user_id"),
        (NewOverride(ops.bob.id, utc(9, 1), utc(9, 2)), "user_id"),  # deactivated: would page no one
        (NewOverride(ops.carol.id, utc(9, 2), utc(9, 1)), "end"),
        (NewOverride(ops.carol.id, datetime(2026, 3, 9, 1), utc(9, 2)), "start"),
    ]
    for new, field in cases:
        with pytest.raises(ValidationFailed) as refused:
            await ops.world.schedules.add_override(ops.lead, schedule.id, new)
        assert [e.field for e in refused.value.errors] == [field]
    assert (await ops.world.schedules.overrides(ops.lead, schedule.id, None, None, ALL)).total == 0
    with pytest.raises(NotFound):
        await ops.world.schedules.add_override(ops.lead, 999, cases[0][0])


async def test_overrides_are_listed_by_window(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id)
    schedules = ops.world.schedules
    first = await schedules.add_override(
        ops.lead, schedule.id, NewOverride(ops.carol.id, utc(9, 1), utc(9, 2))
    )
    second = await schedules.add_override(
        ops.lead, schedule.id, NewOverride(ops.bob.id, utc(10, 1), utc(10, 2))
    )
    listed = schedules.overrides
    assert (await listed(ops.carol, schedule.id, utc(9, 2), None, ALL)).items == [second]
    assert (await listed(ops.carol, schedule.id, None, utc(9, 12), ALL)).items == [first]
    with pytest.raises(ValidationFailed, match="until: must be after since"):
        await listed(ops.carol, schedule.id, utc(10, 0), utc(9, 0), ALL)
    with pytest.raises(ValidationFailed, match="since"):
        await listed(ops.carol, schedule.id, datetime(2026, 3, 9), None, ALL)


# ------------------------------------------------------------------------------------ who is on call


async def test_who_is_on_call_on_one_schedule_and_across_schedules(ops: Ops) -> None:
    primary = await ops.schedule(ops.alice.id, ops.bob.id)
    secondary = await ops.schedule(ops.carol.id)
    await ops.world.schedules.add_override(
        ops.lead, primary.id, NewOverride(ops.carol.id, utc(9, 12), utc(9, 13))
    )
    ops.world.clock.set(utc(9, 7))  # before the handoff: alice

    at, now = await ops.world.schedules.oncall(ops.carol, primary.id, None)
    assert (at, now.user_ids, now.source, now.until) == (
        utc(9, 7),
        [ops.alice.id],
        OnCallSource.LAYER,
        HANDOFF,
    )
    _, later = await ops.world.schedules.oncall(ops.carol, primary.id, utc(9, 12, 30))
    assert (later.user_ids, later.source, later.until) == ([ops.carol.id], OnCallSource.OVERRIDE, utc(9, 13))

    _, everyone = await ops.world.schedules.oncall_everywhere(ops.carol, utc(9, 12, 30), None, None)
    assert [(s.schedule_id, s.user_id, s.start, s.end) for s in everyone] == [
        (primary.id, ops.carol.id, utc(9, 12), utc(9, 13)),
        # carol alone on her schedule since its first turn, for good
        (secondary.id, ops.carol.id, datetime(2026, 3, 2, 8, tzinfo=UTC), None),
    ]
    _, bobs = await ops.world.schedules.oncall_everywhere(ops.carol, utc(9, 14), None, ops.bob.id)
    assert [(s.schedule_id, s.start, s.end) for s in bobs] == [(primary.id, utc(9, 13), utc(16, 8))]
    _, elsewhere = await ops.world.schedules.oncall_everywhere(
        ops.carol, utc(9, 14), ops.outsider.team_id, None
    )
    assert elsewhere == []
    with pytest.raises(ValidationFailed, match="at"):
        await ops.world.schedules.oncall(ops.carol, primary.id, datetime(2026, 3, 9))


async def test_shifts_windows_are_at_most_93_days_and_ordered(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id, ops.bob.id)
    found = await ops.world.schedules.shifts(ops.carol, schedule.id, utc(9, 0), utc(23, 0))
    assert [(s.user_id, s.start, s.end) for s in found] == [
        (ops.alice.id, utc(9, 0), HANDOFF),
        (ops.bob.id, HANDOFF, utc(16, 8)),
        (ops.alice.id, utc(16, 8), utc(23, 0)),
    ]
    with pytest.raises(ValidationFailed, match="until: the window may span at most 93 days"):
        await ops.world.schedules.shifts(ops.carol, schedule.id, utc(9, 0), utc(9, 0) + timedelta(days=94))
    with pytest.raises(ValidationFailed, match="until: must be after since"):
        await ops.world.schedules.shifts(ops.carol, schedule.id, utc(10, 0), utc(9, 0))


# ----------------------------------------------------------------------------------- calendar feeds


async def test_a_feed_shows_the_shift_in_progress_and_the_next_90_days_until_revoked(ops: Ops) -> None:
    schedule = await ops.schedule(ops.alice.id, ops.bob.id)
    ops.world.clock.set(utc(11, 12))
    feed, secret = await ops.world.calendar_feeds.create(ops.carol, schedule.id)
    assert len(secret) >= 32 and secret not in feed.token_hash
    shown = await ops.world.calendar_feeds.read(secret)
    assert shown.name == "On call: ops primary"
    first, *rest = shown.shifts
    assert (first.user_name, first.shift.start, first.shift.end) == ("Bob", HANDOFF, utc(16, 8))
    assert rest[-1].shift.end == utc(11, 12) + timedelta(days=90)
    assert len(shown.shifts) == 14  # this week's and 13 more

    own, own_secret = await ops.world.calendar_feeds.create(ops.alice, None)
    assert {s.shift.user_id for s in (await ops.world.calendar_feeds.read(own_secret)).shifts} == {
        ops.alice.id
    }
    with pytest.raises(NotFound):  # only one's own feeds
        await ops.world.calendar_feeds.revoke(ops.carol, own.id)
    await ops.world.calendar_feeds.revoke(ops.carol, feed.id)
    with pytest.raises(NotFound):
        await ops.world.calendar_feeds.read(secret)
    await ops.world.accounts.update_user(ops.admin, ops.alice.id, DEACTIVATE)
    with pytest.raises(NotFound):  # a deactivated owner's feeds stop
        await ops.world.calendar_feeds.read(own_secret)
    with pytest.raises(ValidationFailed, match="schedule_id"):
        await ops.world.calendar_feeds.create(ops.carol, 999)

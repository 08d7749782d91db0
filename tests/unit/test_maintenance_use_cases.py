"""Maintenance windows as use cases on the in-memory service: alerts under a window open no incident and
page nobody but are kept; running incidents and manual ones are not the window's business; who may
manage a window; what changes, ends and deletes leave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incidentcore.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.maintenance import MaintenanceWindow, MaintenanceWindowChanges
from incidentcore.model import EscalationPolicy, IncidentStatus, Integration, Role, Severity, User
from incidentcore.ports import IncidentFilter, Page
from incidentcore.services import Alert, AlertAction, NewIncident
from incidentcore.testing import FakeClock
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
ALL = Page(limit=500)
T0 = datetime(2026, 12, 15, 22, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TRIGGER, ACKNOWLEDGE, RESOLVE = AlertAction.TRIGGER, AlertAction.ACKNOWLEDGE, AlertAction.RESOLVE


def alert(key: str = "disk-full", action: AlertAction = TRIGGER) -> Alert:
    return Alert("alertmanager", key, action, title="Disk full", severity=Severity.CRITICAL, data={"n": 1})


@dataclass
class Ops:
    world: InMemoryServices
    admin: User
    team_id: int
    other_team_id: int
    prometheus: Integration  # ops'
    kibana: Integration  # ops'
    billing: Integration  # the other team's
    lead: User  # team_lead of ops
    engineer: User  # oncall_engineer of ops, paged by ops' policy

    async def window(self, actor: User | None = None, hours: float = 2, **fields: object) -> MaintenanceWindow:
        values: dict[str, object] = {"team_id": self.team_id, **fields}
        now = self.world.clock.now()
        new = MaintenanceWindow("database upgrade", now, now + hours * HOUR, **values)  # type: ignore[arg-type]
        return await self.world.maintenance_windows.create(actor or self.admin, new)

    async def incidents(self) -> list[int]:
        return [i.id for i in (await self.world.incidents.list(self.admin, IncidentFilter(), ALL)).items]


@pytest.fixture
async def ops() -> Ops:
    world = InMemoryServices(FakeClock(T0))
    admin = await world.admin()
    team = await world.teams.create(admin, "ops", None)
    other = await world.teams.create(admin, "billing", None)
    prometheus = await world.integrations.create(admin, "prometheus", team.id)
    kibana = await world.integrations.create(admin, "kibana", team.id)
    billing = await world.integrations.create(admin, "billing", other.id)
    lead = await world.user("lead@example.com", Role.TEAM_LEAD, team.id)
    engineer = await world.user("oncall@example.com", Role.ONCALL_ENGINEER, team.id)
    steps = (
        EscalationStep(5, (Target(TargetType.USER, user_id=engineer.id),)),
        EscalationStep(5, (Target(TargetType.USER, user_id=lead.id),)),
    )
    await world.policies.create(admin, EscalationPolicy("ops", steps, team_id=team.id))
    return Ops(world, admin, team.id, other.id, prometheus, kibana, billing, lead, engineer)


async def test_an_alert_under_a_window_opens_nothing_pages_nobody_and_is_kept(ops: Ops) -> None:
    world = ops.world
    window = await ops.window()
    world.clock.advance(minutes=10)
    receipt = await world.alerts.receive(ops.prometheus.key, alert())
    assert (receipt.incident_id, receipt.action, receipt.maintenance_window_id) == (None, "suppressed", window.id)
    assert await ops.incidents() == []
    await world.run_worker()
    assert world.notifier.sent == []
    assert world.nudge.nudges == 0
    [kept] = (await world.maintenance_windows.suppressed_alerts(ops.engineer, window.id, ALL)).items
    assert (kept.window_id, kept.integration_id, kept.dedup_key, kept.source) == (
        window.id,
        ops.prometheus.id,
        "disk-full",
        "alertmanager",
    )
    assert (kept.title, kept.severity, kept.data) == ("Disk full", Severity.CRITICAL, {"n": 1})
    assert kept.received_at == T0 + timedelta(minutes=10)
    # the tool repeats it: kept again, still nothing opened
    assert (await world.alerts.receive(ops.prometheus.key, alert())).action == "suppressed"
    assert (await world.maintenance_windows.suppressed_alerts(ops.admin, window.id, ALL)).total == 2


async def test_alerts_before_and_after_a_window_open_incidents(ops: Ops) -> None:
    world = ops.world
    now = world.clock.now()
    later = MaintenanceWindow("upgrade", now + HOUR, now + 2 * HOUR, team_id=ops.team_id)
    await world.maintenance_windows.create(ops.admin, later)
    before = await world.alerts.receive(ops.prometheus.key, alert("before"))
    assert before.action == "created"
    world.clock.set(now + HOUR)  # its start is covered
    assert (await world.alerts.receive(ops.prometheus.key, alert("during"))).action == "suppressed"
    world.clock.set(now + 2 * HOUR)  # its end is not
    after = await world.alerts.receive(ops.prometheus.key, alert("after"))
    assert after.action == "created"
    assert set(await ops.incidents()) == {before.incident_id, after.incident_id}


async def test_a_window_listing_an_integration_covers_only_it(ops: Ops) -> None:
    world = ops.world
    await ops.window(team_id=None, integration_ids=(ops.kibana.id, ops.billing.id))
    assert (await world.alerts.receive(ops.kibana.key, alert())).action == "suppressed"
    assert (await world.alerts.receive(ops.billing.key, alert())).action == "suppressed"
    assert (await world.alerts.receive(ops.prometheus.key, alert())).action == "created"


async def test_a_team_window_covers_every_integration_of_the_team_and_no_other(ops: Ops) -> None:
    world = ops.world
    await ops.window()
    assert (await world.alerts.receive(ops.kibana.key, alert())).action == "suppressed"
    assert (await world.alerts.receive(ops.prometheus.key, alert())).action == "suppressed"
    assert (await world.alerts.receive(ops.billing.key, alert())).action == "created"


async def test_an_incident_open_when_the_window_starts_keeps_escalating_and_takes_its_alerts(ops: Ops) -> None:
    world = ops.world
    opened = await world.alerts.receive(ops.prometheus.key, alert())
    assert opened.incident_id is not None
    await world.run_worker()
    assert [m.address for m in world.notifier.sent] == [ops.engineer.email]
    window = await ops.window()
    world.clock.advance(minutes=5)
    await world.run_worker()  # step 1 fires during the window
    assert [m.address for m in world.notifier.sent] == [ops.engineer.email, ops.lead.email]
    repeat = await world.alerts.receive(ops.prometheus.key, alert())
    assert (repeat.incident_id, repeat.action) == (opened.incident_id, "updated")
    acknowledged = await world.alerts.receive(ops.prometheus.key, alert(action=ACKNOWLEDGE))
    assert acknowledged.action == "acknowledged"
    resolved = await world.alerts.receive(ops.prometheus.key, alert(action=RESOLVE))
    assert (resolved.incident_id, resolved.action) == (opened.incident_id, "resolved")
    incident = await world.incidents.get(ops.admin, opened.incident_id)
    assert (incident.status, incident.alert_count) == (IncidentStatus.RESOLVED, 2)
    assert (await world.maintenance_windows.suppressed_alerts(ops.admin, window.id, ALL)).total == 0
    # resolved, the next trigger of the key is a new alert: the window suppresses it
    assert (await world.alerts.receive(ops.prometheus.key, alert())).action == "suppressed"


async def test_acknowledge_and_resolve_with_nothing_open_are_ignored_not_kept(ops: Ops) -> None:
    world = ops.world
    window = await ops.window()
    for action in (ACKNOWLEDGE, RESOLVE):
        assert (await world.alerts.receive(ops.prometheus.key, alert(action=action))).action == "ignored"
    assert (await world.maintenance_windows.suppressed_alerts(ops.admin, window.id, ALL)).total == 0


async def test_one_delivery_mixes_running_incidents_suppressed_and_ignored_alerts(ops: Ops) -> None:
    world = ops.world
    running = await world.alerts.receive(ops.prometheus.key, alert("running"))
    window = await ops.window()
    group = [alert("new-1"), alert("running"), alert("gone", RESOLVE), alert("new-2")]
    receipts = await world.alerts.receive_all(ops.prometheus.key, group)
    assert [(r.action, r.incident_id) for r in receipts] == [
        ("suppressed", None),
        ("updated", running.incident_id),
        ("ignored", None),
        ("suppressed", None),
    ]
    kept = (await world.maintenance_windows.suppressed_alerts(ops.admin, window.id, ALL)).items
    assert [a.dedup_key for a in kept] == ["new-1", "new-2"]


async def test_manual_incidents_are_never_suppressed(ops: Ops) -> None:
    world = ops.world
    await ops.window()
    incident = await world.incidents.open(ops.engineer, NewIncident("checkout is slow", team_id=ops.team_id))
    assert incident.status is IncidentStatus.TRIGGERED
    await world.run_worker()
    assert [m.address for m in world.notifier.sent] == [ops.engineer.email]


async def test_a_window_ended_early_stops_suppressing(ops: Ops) -> None:
    world = ops.world
    window = await ops.window(hours=4)
    world.clock.advance(minutes=30)
    assert (await world.alerts.receive(ops.prometheus.key, alert("one"))).action == "suppressed"
    ended = await world.maintenance_windows.update(ops.lead, window.id, MaintenanceWindowChanges(end=T0))
    assert ended.end == world.clock.now() == T0 + HOUR / 2  # an end already past is taken as now
    assert (await world.alerts.receive(ops.prometheus.key, alert("two"))).action == "created"
    stored = await world.maintenance_windows.get(ops.engineer, window.id)
    assert (stored.end, stored.is_active(world.clock.now())) == (T0 + HOUR / 2, False)
    with pytest.raises(InvalidTransition, match="only its description may change"):
        await world.maintenance_windows.update(ops.lead, window.id, MaintenanceWindowChanges(end=T0 + 5 * HOUR))


async def test_who_may_manage_a_window(ops: Ops) -> None:
    world = ops.world
    outsider = await world.user("outsider@example.com", Role.TEAM_LEAD, ops.other_team_id)
    manager = await world.user("manager@example.com", Role.MANAGER, ops.team_id)
    # team leads and above of the team, for the team or for its integrations
    mine = await ops.window(ops.lead)
    await ops.window(manager, integration_ids=(ops.kibana.id,), team_id=None)
    refusals: list[tuple[User, dict[str, Any]]] = [
        (ops.engineer, {}),  # below team_lead
        (outsider, {}),  # another team's lead
        (ops.lead, {"integration_ids": (ops.billing.id,)}),  # lists another team's integration
        (manager, {"team_id": ops.other_team_id}),  # manager is not cross-team here
    ]
    for denied, fields in refusals:
        with pytest.raises(PermissionDenied):
            await ops.window(denied, **fields)
    with pytest.raises(PermissionDenied):
        await world.maintenance_windows.update(outsider, mine.id, MaintenanceWindowChanges(description="x"))
    with pytest.raises(PermissionDenied):  # moving it to a team where the lead has no right
        await world.maintenance_windows.update(ops.lead, mine.id, MaintenanceWindowChanges(team_id=ops.other_team_id))
    with pytest.raises(PermissionDenied):
        await world.maintenance_windows.delete(outsider, mine.id)
    both = await ops.window(integration_ids=(ops.billing.id,))  # the admin's, over two teams
    with pytest.raises(PermissionDenied):
        await world.maintenance_windows.delete(ops.lead, both.id)
    await world.maintenance_windows.delete(ops.admin, both.id)
    # anyone reads
    assert (await world.maintenance_windows.get(ops.engineer, mine.id)).id == mine.id
    assert (await world.maintenance_windows.list(outsider, None, None, ALL)).total == 2


async def test_references_must_exist_and_bad_input_changes_nothing(ops: Ops) -> None:
    world = ops.world
    with pytest.raises(ValidationFailed, match="integration 999 does not exist"):
        await ops.window(integration_ids=(ops.kibana.id, 999))
    with pytest.raises(ValidationFailed, match="team 999 does not exist"):
        await ops.window(team_id=999)
    with pytest.raises(ValidationFailed, match="needs a team_id or at least one integration"):
        await ops.window(team_id=None)
    with pytest.raises(ValidationFailed, match="end: must be after start"):
        await ops.window(hours=0)
    with pytest.raises(PermissionDenied):  # one who may not manage it learns nothing of the ids
        await ops.window(ops.lead, team_id=999)
    assert (await world.maintenance_windows.list(ops.admin, None, None, ALL)).total == 0
    with pytest.raises(NotFound):
        await world.maintenance_windows.get(ops.admin, 1)
    with pytest.raises(NotFound):
        await world.maintenance_windows.suppressed_alerts(ops.admin, 1, ALL)


async def test_lists_filter_by_team_and_by_being_on_now(ops: Ops) -> None:
    world = ops.world
    now = world.clock.now()
    on = await ops.window()
    later = await world.maintenance_windows.create(
        ops.admin, MaintenanceWindow("later", now + 3 * HOUR, now + 4 * HOUR, integration_ids=(ops.billing.id,))
    )
    windows = world.maintenance_windows
    assert [w.id for w in (await windows.list(ops.admin, None, None, ALL)).items] == [on.id, later.id]
    assert [w.id for w in (await windows.list(ops.admin, None, True, ALL)).items] == [on.id]
    assert [w.id for w in (await windows.list(ops.admin, None, False, ALL)).items] == [later.id]
    assert [w.id for w in (await windows.list(ops.admin, ops.team_id, None, ALL)).items] == [on.id]
    assert (await windows.list(ops.admin, ops.other_team_id, None, ALL)).items == []


async def test_a_window_that_suppressed_alerts_is_kept_and_one_that_did_not_can_go(ops: Ops) -> None:
    world = ops.world
    used = await ops.window()
    await world.alerts.receive(ops.prometheus.key, alert())
    with pytest.raises(Conflict, match="suppressed alerts"):
        await world.maintenance_windows.delete(ops.admin, used.id)
    unused = await ops.window(team_id=ops.other_team_id)
    await world.maintenance_windows.delete(ops.admin, unused.id)
    with pytest.raises(NotFound):
        await world.maintenance_windows.get(ops.admin, unused.id)
    quiet = await world.teams.create(ops.admin, "quiet", None)
    await ops.window(team_id=quiet.id)
    with pytest.raises(Conflict, match="maintenance windows still reference the team"):
        await world.teams.delete(ops.admin, quiet.id)


async def test_a_deleted_integration_leaves_its_windows_and_its_suppressed_alerts_stay(ops: Ops) -> None:
    world = ops.world
    window = await ops.window(integration_ids=(ops.kibana.id, ops.prometheus.id), team_id=None)
    await world.alerts.receive(ops.kibana.key, alert())
    await world.integrations.delete(ops.admin, ops.kibana.id)
    assert (await world.maintenance_windows.get(ops.admin, window.id)).integration_ids == (ops.prometheus.id,)
    [kept] = (await world.maintenance_windows.suppressed_alerts(ops.admin, window.id, ALL)).items
    assert (kept.integration_id, kept.dedup_key) == (None, "disk-full")

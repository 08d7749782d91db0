"""The monitor drives incidentcore's use cases on the in-memory adapters: a whole paging service in a
test, with a fake clock and a notifier that records what it sends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from incidentcore import (
    EffectKind,
    EscalationPolicy,
    EscalationStep,
    IncidentStatus,
    Page,
    Role,
    Target,
    TargetType,
    TimelineKind,
)
from incidentcore.testing import InMemoryServices

from escalation_consumer import CheckResult, UptimeMonitor, forecast, responders

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_failing_check_pages_up_the_policy_until_it_recovers() -> None:
    services = InMemoryServices()
    admin = await services.admin()
    web = await services.teams.create(admin, "web", None)
    ana = await services.user("ana@example.com", Role.ONCALL_ENGINEER, web.id)
    await services.user("bo@example.com", Role.TEAM_LEAD, web.id)
    robot = await services.user("uptime@example.com", Role.USER, web.id)
    policy = await services.policies.create(
        admin,
        EscalationPolicy(
            "web",
            steps=(
                EscalationStep(10, (Target(TargetType.USER, user_id=ana.id),)),
                EscalationStep(10, (Target(TargetType.ROLE, role=Role.TEAM_LEAD.value),)),
            ),
            team_id=web.id,
        ),
    )
    monitor = UptimeMonitor(lambda: services.incidents, robot, web.id)

    incident = await monitor.report(CheckResult("shop", ok=False, detail="HTTP 502"))
    assert incident is not None and incident.status is IncidentStatus.TRIGGERED
    assert await monitor.report(CheckResult("shop", ok=False)) is None  # one incident per outage
    await services.run_worker()
    assert [m.address for m in services.notifier.sent] == ["ana@example.com"]

    services.clock.advance(minutes=10)  # nobody answered: the team lead is next
    await services.run_worker()
    assert [m.address for m in services.notifier.sent] == ["ana@example.com", "bo@example.com"]

    events = await services.incidents.escalation_events(admin, incident.id, Page())
    fired = [e.scheduled_at for e in events.items if e.kind is EffectKind.FIRED]
    assert fired == [p.at for p in forecast(policy, incident.created_at, timedelta(minutes=15))]

    resolved = await monitor.report(CheckResult("shop", ok=True))
    assert resolved is not None and resolved.status is IncidentStatus.RESOLVED
    timeline = await services.incidents.timeline(admin, incident.id, Page())
    assert [e.kind for e in timeline.items if e.actor_id == robot.id] == [
        TimelineKind.CREATED,
        TimelineKind.RESOLVED,
    ]


async def test_who_may_acknowledge_follows_the_permission_table() -> None:
    services = InMemoryServices()
    admin = await services.admin()
    web = await services.teams.create(admin, "web", None)
    db = await services.teams.create(admin, "db", None)
    robot = await services.user("uptime@example.com", Role.USER, web.id)
    stranger = await services.user("cy@example.com", Role.ONCALL_ENGINEER, db.id)
    paged_stranger = await services.user("di@example.com", Role.ONCALL_ENGINEER, db.id)
    incident = await UptimeMonitor(lambda: services.incidents, robot, web.id).report(CheckResult("api", ok=False))
    assert incident is not None

    allowed = responders([robot, stranger, paged_stranger], incident, paged_user_ids={paged_stranger.id})

    assert allowed == [robot, paged_stranger]  # the creator, and whoever was paged, from any team


async def test_a_recovery_after_someone_resolved_the_incident_changes_nothing() -> None:
    services = InMemoryServices()
    admin = await services.admin()
    robot = await services.user("uptime@example.com")
    monitor = UptimeMonitor(lambda: services.incidents, robot, None)
    incident = await monitor.report(CheckResult("api", ok=False))
    assert incident is not None
    await services.incidents.resolve(admin, incident.id)

    assert await monitor.report(CheckResult("api", ok=True)) is None
    assert monitor.open == {}

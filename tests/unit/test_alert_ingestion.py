"""Alert ingestion, the one use case every tool's alerts go through, on the in-memory adapters:
one open incident per (integration, dedup key); trigger, acknowledge, resolve; alert storms."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentcore.errors import AuthenticationFailed
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import (
    EscalationPolicy,
    Incident,
    IncidentStatus,
    Integration,
    NotificationStatus,
    Severity,
    TimelineKind,
)
from incidentcore.ports import IncidentFilter, Page
from incidentcore.services import Alert, AlertAction, AlertIngestion, AlertLimits
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
ALL = Page(limit=Page.MAX_LIMIT)
TRIGGER, ACKNOWLEDGE, RESOLVE = AlertAction.TRIGGER, AlertAction.ACKNOWLEDGE, AlertAction.RESOLVE


def alert(action: AlertAction = TRIGGER, key: str = "disk-full", **fields: object) -> Alert:
    values: dict[str, object] = {"title": "Disk full on web-01", "data": {"payload": {"source": "web-01"}}}
    return Alert("events", key, action, **{**values, **fields})  # type: ignore[arg-type]


async def integration_of_a_team(world: InMemoryServices) -> Integration:
    admin = await world.admin()
    team = await world.teams.create(admin, "storage", None)
    return await world.integrations.create(admin, "monitoring", team.id)


async def timeline_kinds(world: InMemoryServices, incident_id: int) -> list[TimelineKind]:
    admin = await world.admin()
    return [e.kind for e in (await world.incidents.timeline(admin, incident_id, ALL)).items]


@pytest.fixture
def world() -> InMemoryServices:
    return InMemoryServices()


async def test_a_trigger_opens_an_incident_that_pages_through_its_teams_policy(world: InMemoryServices) -> None:
    integration = await integration_of_a_team(world)
    admin = await world.admin()
    oncall = await world.user("oncall@example.com", team_id=integration.team_id)
    step = EscalationStep(5, (Target(TargetType.USER, user_id=oncall.id),))
    await world.policies.create(admin, EscalationPolicy("storage", (step,), team_id=integration.team_id))
    receipt = await world.alerts.receive(integration.key, alert(severity=Severity.CRITICAL, description="1% free"))
    assert receipt.action == "created" and receipt.incident_id is not None
    incident = await world.incidents.get(admin, receipt.incident_id)
    assert (incident.title, incident.description, incident.severity, incident.source) == (
        "Disk full on web-01",
        "1% free",
        Severity.CRITICAL,
        "events",
    )
    assert (incident.team_id, incident.integration_id, incident.dedup_key) == (
        integration.team_id,
        integration.id,
        "disk-full",
    )
    assert (incident.created_by_id, incident.alert_count) == (None, 1)
    assert world.nudge.nudges == 1  # the worker is told at once
    await world.run_worker()
    [page] = world.notifier.sent  # no preferences: email to the account's address
    assert (page.address, "Disk full on web-01" in page.subject) == (oncall.email, True)


async def test_acknowledge_and_resolve_by_an_alert_are_the_systems_and_say_which_alert(
    world: InMemoryServices,
) -> None:
    integration = await integration_of_a_team(world)
    admin = await world.admin()
    opened = await world.alerts.receive(integration.key, alert())
    assert opened.incident_id is not None
    acknowledged = await world.alerts.receive(integration.key, alert(ACKNOWLEDGE, data={"by": "tool"}))
    assert (acknowledged.incident_id, acknowledged.action) == (opened.incident_id, "acknowledged")
    incident = await world.incidents.get(admin, opened.incident_id)
    assert incident.status is IncidentStatus.ACKNOWLEDGED and incident.acknowledged_at is not None
    events = (await world.incidents.timeline(admin, incident.id, ALL)).items
    [ack] = [e for e in events if e.kind is TimelineKind.ACKNOWLEDGED]
    assert ack.actor_id is None
    assert ack.data == {"source": "events", "dedup_key": "disk-full", "alert": {"by": "tool"}}
    # Already acknowledged: accepted, nothing changes.
    again = await world.alerts.receive(integration.key, alert(ACKNOWLEDGE))
    assert (again.incident_id, again.action) == (incident.id, "ignored")
    assert (await timeline_kinds(world, incident.id)).count(TimelineKind.ACKNOWLEDGED) == 1

    resolved = await world.alerts.receive(integration.key, alert(RESOLVE))
    assert (resolved.incident_id, resolved.action) == (incident.id, "resolved")
    events = (await world.incidents.timeline(admin, incident.id, ALL)).items
    [resolution] = [e for e in events if e.kind is TimelineKind.RESOLVED]
    assert (resolution.actor_id, resolution.data["reason"]) == (None, "events alert resolved")


async def test_acknowledging_by_an_alert_withdraws_the_pages_still_waiting(world: InMemoryServices) -> None:
    integration = await integration_of_a_team(world)
    admin = await world.admin()
    oncall = await world.user("oncall@example.com", team_id=integration.team_id)
    step = EscalationStep(5, (Target(TargetType.USER, user_id=oncall.id),))
    await world.policies.create(admin, EscalationPolicy("storage", (step,), team_id=integration.team_id))
    opened = await world.alerts.receive(integration.key, alert())
    assert opened.incident_id is not None
    await world.alerts.receive(integration.key, alert(ACKNOWLEDGE))
    [page] = (await world.incidents.notifications(admin, opened.incident_id, ALL)).items
    assert (page.status, page.cancel_reason) == (NotificationStatus.CANCELLED, "incident acknowledged")


@pytest.mark.parametrize("action", [ACKNOWLEDGE, RESOLVE])
async def test_acknowledge_or_resolve_with_nothing_open_is_accepted_and_changes_nothing(
    world: InMemoryServices, action: AlertAction
) -> None:
    integration = await integration_of_a_team(world)
    receipt = await world.alerts.receive(integration.key, alert(action))
    assert (receipt.incident_id, receipt.action) == (None, "ignored")
    admin = await world.admin()
    assert (await world.incidents.list(admin, IncidentFilter(), ALL)).total == 0


async def test_an_unknown_key_is_refused_and_nothing_is_stored(world: InMemoryServices) -> None:
    integration = await integration_of_a_team(world)
    for key in ("wrong", ""):
        with pytest.raises(AuthenticationFailed):
            await world.alerts.receive_all(key, [alert(), alert(key="other")])
    admin = await world.admin()
    assert (await world.incidents.list(admin, IncidentFilter(), ALL)).total == 0
    assert (await world.alerts.receive(integration.key, alert())).action == "created"


async def test_one_delivery_is_taken_whole_with_receipts_in_its_order(world: InMemoryServices) -> None:
    integration = await integration_of_a_team(world)
    receipts = await world.alerts.receive_all(
        integration.key,
        [alert(key="z"), alert(key="a"), alert(key="z"), alert(RESOLVE, key="a"), alert(RESOLVE, key="m")],
    )
    assert [r.action for r in receipts] == ["created", "created", "updated", "resolved", "ignored"]
    assert receipts[0].incident_id == receipts[2].incident_id
    assert receipts[1].incident_id == receipts[3].incident_id != receipts[0].incident_id
    assert world.nudge.nudges == 1


async def test_an_alert_that_loses_the_race_to_open_its_incident_counts_on_the_winners(
    world: InMemoryServices,
) -> None:
    """Between our lookup (nothing open) and our insert, another request opens the incident: the store
    refuses a second open incident for the key, and the alert is taken again, as a repeat."""
    integration = await integration_of_a_team(world)
    uow = world.uow()
    lookup = uow.incidents.find_open_by_dedup_key
    raced = False

    async def lookup_while_a_rival_opens_it(integration_id: int, dedup_key: str) -> Incident | None:
        nonlocal raced
        if raced:
            return await lookup(integration_id, dedup_key)
        raced = True
        assert (await world.alerts.receive(integration.key, alert())).action == "created"
        return None  # what the lookup saw, a moment before the rival committed

    uow.incidents.find_open_by_dedup_key = lookup_while_a_rival_opens_it  # type: ignore[method-assign]
    ingestion = AlertIngestion(uow, world.clock, world.nudge, world.paging, world.alert_limits)
    receipt = await ingestion.receive(integration.key, alert())
    assert receipt.action == "updated"
    admin = await world.admin()
    [incident] = (await world.incidents.list(admin, IncidentFilter(), ALL)).items
    assert (incident.id, incident.alert_count) == (receipt.incident_id, 2)


async def test_dedup_keys_are_per_integration(world: InMemoryServices) -> None:
    integration = await integration_of_a_team(world)
    admin = await world.admin()
    other = await world.integrations.create(admin, "other tool", integration.team_id)
    first = await world.alerts.receive(integration.key, alert())
    second = await world.alerts.receive(other.key, alert())
    assert first.action == second.action == "created" and first.incident_id != second.incident_id


async def test_an_alert_storm_leaves_one_incident_a_correct_count_and_a_bounded_timeline(
    world: InMemoryServices,
) -> None:
    integration = await integration_of_a_team(world)
    for n in range(10_000):
        await world.alerts.receive(integration.key, alert(data={"n": n}))
    admin = await world.admin()
    [incident] = (await world.incidents.list(admin, IncidentFilter(), ALL)).items
    assert incident.alert_count == 10_000
    events = (await world.incidents.timeline(admin, incident.id, ALL)).items
    alerts = [e.data["alert"]["n"] for e in events if e.kind is TimelineKind.ALERT]
    assert alerts == list(range(AlertLimits().timeline_events))  # the first 100, in order


async def test_the_timeline_bound_is_a_setting(world: InMemoryServices) -> None:
    world.alert_limits = AlertLimits(timeline_events=3)
    integration = await integration_of_a_team(world)
    for _ in range(10):
        receipt = await world.alerts.receive(integration.key, alert())
    assert receipt.incident_id is not None
    assert (await timeline_kinds(world, receipt.incident_id)).count(TimelineKind.ALERT) == 3


async def test_titles_and_descriptions_are_made_to_fit(world: InMemoryServices) -> None:
    integration = await integration_of_a_team(world)
    admin = await world.admin()
    untitled = await world.alerts.receive(integration.key, alert(key="k-1", title=" \x00 ", description="  \n "))
    assert untitled.incident_id is not None
    incident = await world.incidents.get(admin, untitled.incident_id)
    assert (incident.title, incident.description) == ("events alert k-1", None)
    long = await world.alerts.receive(
        integration.key, alert(key="k-2", title="a\x1bb" + "c" * 400, description="line\x07\n" + "d" * 30_000)
    )
    assert long.incident_id is not None
    incident = await world.incidents.get(admin, long.incident_id)
    assert incident.title.startswith("a b") and len(incident.title) == 300
    assert incident.description is not None and incident.description.startswith("line \n")
    assert len(incident.description) == 20_000


# A random stream of alerts over a few dedup keys must leave, per key, at most one open incident;
# each incident counts exactly the triggers it received while open.
alert_streams = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([TRIGGER, TRIGGER, ACKNOWLEDGE, RESOLVE])),
    max_size=40,
)


@given(stream=alert_streams)
def test_any_stream_of_alerts_keeps_one_open_incident_per_key_and_counts_its_triggers(
    stream: list[tuple[str, AlertAction]],
) -> None:
    async def run() -> None:
        world = InMemoryServices()
        world.alert_limits = AlertLimits(timeline_events=2)
        integration = await integration_of_a_team(world)
        admin = await world.admin()
        open_incident: dict[str, int] = {}
        triggers: dict[int, int] = {}
        for key, action in stream:
            receipt = await world.alerts.receive(integration.key, alert(action, key=key))
            expected = {
                (TRIGGER, True): "updated",
                (TRIGGER, False): "created",
                (RESOLVE, True): "resolved",
                (RESOLVE, False): "ignored",
                (ACKNOWLEDGE, False): "ignored",
            }.get((action, key in open_incident))
            if expected is not None:
                assert receipt.action == expected
            if receipt.action == "created":
                assert receipt.incident_id is not None
                open_incident[key] = receipt.incident_id
            if key in open_incident:
                assert receipt.incident_id == open_incident[key]
                triggers[receipt.incident_id] = triggers.get(receipt.incident_id, 0) + (action is TRIGGER)
            if receipt.action == "resolved":
                del open_incident[key]
        stored = (await world.incidents.list(admin, IncidentFilter(), ALL)).items
        assert {i.dedup_key: i.id for i in stored if i.is_open} == open_incident
        for incident in stored:
            assert incident.alert_count == triggers[incident.id]
            kinds = await timeline_kinds(world, incident.id)
            assert kinds.count(TimelineKind.ALERT) == min(incident.alert_count, 2)

    asyncio.run(run())

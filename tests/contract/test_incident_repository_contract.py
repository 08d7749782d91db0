"""IncidentRepository: escalation state round trip, fenced updates, filters, dedup keys, due claims."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from entity_builders import (
    T0,
    UowFactory,
    one_step_policy,
    rich_policy,
    stored_incident,
    stored_integration,
    stored_team,
    stored_user,
    triggered_incident,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentcore.errors import Conflict, NotFound, StaleState
from incidentcore.escalation import EscalationState, Phase
from incidentcore.model import EscalationPolicy, Incident, IncidentChanges, IncidentStatus, Severity
from incidentcore.ports import IncidentFilter, Page
from incidentcore.testing.strategies import incidents, instants, single_line_text

pytestmark = pytest.mark.anyio


async def stored_policy(uow_factory: UowFactory) -> EscalationPolicy:
    async with uow_factory() as uow:
        user = await stored_user(uow, "oncall@example.com")
        policy = await uow.policies.add(one_step_policy(user.id))
        await uow.commit()
    return policy


async def test_add_then_get_round_trips_an_untriggered_incident(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        creator = await stored_user(uow)
        integration = await stored_integration(uow, team.id)
        incident = await stored_incident(
            uow,
            title="checkout down",
            description="5xx on /pay",
            severity=Severity.CRITICAL,
            team_id=team.id,
            assignee_id=creator.id,
            created_by_id=creator.id,
            source="elastic",
            integration_id=integration.id,
            dedup_key="rule-1:svc-a",
        )
        await uow.commit()
    assert incident.id > 0
    async with uow_factory() as uow:
        stored = await uow.incidents.get(incident.id)
    assert stored == incident
    assert stored is not None
    assert stored.escalation is None
    assert stored.status is IncidentStatus.TRIGGERED


async def test_trigger_state_and_policy_snapshot_round_trip(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        user = await stored_user(uow, team_id=team.id)
        policy = await uow.policies.add(rich_policy(team.id, user.id))
        incident = await triggered_incident(uow, policy, team_id=team.id)
        await uow.commit()

    async with uow_factory() as uow:
        stored = await uow.incidents.get(incident.id)
    assert stored == incident
    assert stored is not None
    assert stored.policy == policy.snapshot()
    assert stored.escalation is not None
    assert stored.escalation.phase is Phase.ACTIVE
    # step 0 waits 0 minutes, so step 1 fires at the trigger too, and step 0 repeats 15 minutes on
    assert stored.escalation_level == 1
    assert stored.next_escalation_at == T0 + timedelta(minutes=15)
    assert stored.next_escalation_at is not None
    assert stored.next_escalation_at.utcoffset() == timedelta(0)


escalation_states = st.builds(
    EscalationState,
    phase=st.sampled_from(Phase),
    cycle=st.integers(0, 50),
    next_step=st.integers(0, 9),
    loop=st.integers(0, 3),
    next_at=st.none() | instants(),
    last_fired_step=st.none() | st.integers(0, 9),
)
maybe_instants = st.none() | instants()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    incident=incidents(triggered=True, team_ids=st.none()),
    state=st.none() | escalation_states,
    times=st.tuples(maybe_instants, maybe_instants, maybe_instants),
    source=st.none() | single_line_text(max_size=20),
    dedup_key=st.none() | single_line_text(max_size=20),
)
async def test_any_incident_reads_back_as_it_was_stored(
    uow_factory: UowFactory,
    incident: Incident,
    state: EscalationState | None,
    times: tuple[datetime | None, datetime | None, datetime | None],
    source: str | None,
    dedup_key: str | None,
) -> None:
    """Whatever its escalation state (or none: not triggered yet) and policy snapshot."""
    incident.assignee_id = incident.created_by_id = None  # no users stored to refer to
    incident.escalation = state
    incident.updated_at, incident.acknowledged_at, incident.resolved_at = times
    incident.source, incident.dedup_key = source, dedup_key
    async with uow_factory() as uow:
        await uow.incidents.add(incident)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.incidents.get(incident.id) == incident


async def test_update_saves_and_bumps_the_version(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)
    async with uow_factory() as uow:
        incident = await triggered_incident(uow, policy)
        await uow.commit()
    assert incident.version == 1

    async with uow_factory() as uow:
        loaded = await uow.incidents.get(incident.id, for_update=True)
        assert loaded is not None
        loaded.acknowledge(None, T0 + timedelta(minutes=1))
        loaded.update(None, IncidentChanges(title="checkout slow", severity=Severity.LOW), T0 + timedelta(minutes=2))
        await uow.incidents.update(loaded)
        await uow.commit()
    assert loaded.version == 2

    async with uow_factory() as uow:
        stored = await uow.incidents.get(incident.id)
    assert stored == loaded
    assert stored is not None
    assert stored.status is IncidentStatus.ACKNOWLEDGED


async def test_a_stale_copy_cannot_overwrite_a_newer_one(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)
    async with uow_factory() as uow:
        incident = await triggered_incident(uow, policy)
        await uow.commit()

    async with uow_factory() as uow:
        first = await uow.incidents.get(incident.id)
        await uow.commit()
    async with uow_factory() as uow:
        second = await uow.incidents.get(incident.id)
        await uow.commit()
    assert first is not None
    assert second is not None

    async with uow_factory() as uow:
        first.acknowledge(None, T0 + timedelta(minutes=1))
        await uow.incidents.update(first)
        await uow.commit()
    async with uow_factory() as uow:
        second.resolve(None, T0 + timedelta(minutes=2))
        with pytest.raises(StaleState):
            await uow.incidents.update(second)
    assert second.version == 1  # not bumped by the refused write

    async with uow_factory() as uow:
        stored = await uow.incidents.get(incident.id)
    assert stored == first


async def test_update_of_an_unknown_incident_is_not_found(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.incidents.update(Incident(title="ghost", created_at=T0, id=999))


async def test_list_is_newest_first_with_filters(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)
    async with uow_factory() as uow:
        payments = await stored_team(uow, "payments")
        search = await stored_team(uow, "search")
        ann = await stored_user(uow, "ann@example.com")
        oldest = await triggered_incident(uow, policy, T0, team_id=payments.id, severity=Severity.CRITICAL)
        middle = await triggered_incident(uow, policy, T0 + timedelta(minutes=1), team_id=search.id)
        newest = await triggered_incident(
            uow, policy, T0 + timedelta(minutes=2), team_id=payments.id, assignee_id=ann.id
        )
        tie = await triggered_incident(uow, policy, T0 + timedelta(minutes=2), team_id=search.id)
        newest.acknowledge(ann.id, T0 + timedelta(minutes=3))
        await uow.incidents.update(newest)
        middle.resolve(None, T0 + timedelta(minutes=3))
        await uow.incidents.update(middle)
        await uow.commit()

    async def ids(where: IncidentFilter, page: Page | None = None) -> list[int]:
        async with uow_factory() as uow:
            return [i.id for i in (await uow.incidents.list(where, page or Page())).items]

    assert await ids(IncidentFilter()) == [tie.id, newest.id, middle.id, oldest.id]
    assert await ids(IncidentFilter(team_id=payments.id)) == [newest.id, oldest.id]
    assert await ids(IncidentFilter(status=IncidentStatus.ACKNOWLEDGED)) == [newest.id]
    assert await ids(IncidentFilter(status=IncidentStatus.RESOLVED)) == [middle.id]
    assert await ids(IncidentFilter(status=IncidentStatus.TRIGGERED)) == [tie.id, oldest.id]
    assert await ids(IncidentFilter(severity=Severity.CRITICAL)) == [oldest.id]
    assert await ids(IncidentFilter(assignee_id=ann.id)) == [newest.id]
    assert await ids(IncidentFilter(team_id=search.id, status=IncidentStatus.TRIGGERED)) == [tie.id]
    assert await ids(IncidentFilter(), Page(limit=2, offset=1)) == [newest.id, middle.id]
    async with uow_factory() as uow:
        page = await uow.incidents.list(IncidentFilter(team_id=payments.id), Page(limit=1))
    assert page.total == 2


async def test_one_open_incident_per_integration_and_dedup_key(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)
    async with uow_factory() as uow:
        team = await stored_team(uow)
        kibana = await stored_integration(uow, team.id, "key-1")
        grafana = await stored_integration(uow, team.id, "key-2")
        first = await triggered_incident(uow, policy, integration_id=kibana.id, dedup_key="r1:a")
        await triggered_incident(uow, policy, integration_id=grafana.id, dedup_key="r1:a")
        await triggered_incident(uow, policy, integration_id=kibana.id, dedup_key="r1:b")
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="r1:a"):
            await stored_incident(uow, integration_id=kibana.id, dedup_key="r1:a")

    async with uow_factory() as uow:
        found = await uow.incidents.find_open_by_dedup_key(kibana.id, "r1:a")
        assert found == first
        assert await uow.incidents.find_open_by_dedup_key(kibana.id, "r1:zzz") is None
        first.resolve(None, T0 + timedelta(minutes=1))
        await uow.incidents.update(first)
        assert await uow.incidents.find_open_by_dedup_key(kibana.id, "r1:a") is None
        reopened = await stored_incident(uow, integration_id=kibana.id, dedup_key="r1:a")
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.incidents.find_open_by_dedup_key(kibana.id, "r1:a") == reopened


async def test_incidents_without_dedup_key_never_clash(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        kibana = await stored_integration(uow, team.id)
        await stored_incident(uow, integration_id=kibana.id)
        await stored_incident(uow, integration_id=kibana.id)
        await stored_incident(uow, dedup_key="same")
        await stored_incident(uow, dedup_key="same")
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.incidents.list(IncidentFilter(), Page())).total == 4


async def test_claim_due_returns_open_due_incidents_earliest_first(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)  # step 0 now, step 0 again (repeat) 5 minutes later
    async with uow_factory() as uow:
        late = await triggered_incident(uow, policy, T0 + timedelta(minutes=2))
        early = await triggered_incident(uow, policy, T0)
        not_yet = await triggered_incident(uow, policy, T0 + timedelta(minutes=30))
        resolved = await triggered_incident(uow, policy, T0)
        resolved.resolve(None, T0 + timedelta(minutes=1))
        await uow.incidents.update(resolved)
        await stored_incident(uow)  # never triggered: no timer
        await uow.commit()

    now = T0 + timedelta(minutes=10)
    async with uow_factory() as uow:
        claimed = await uow.incidents.claim_due(now, 10)
        assert [i.id for i in claimed] == [early.id, late.id]
        assert claimed[0] == early
    async with uow_factory() as uow:
        assert [i.id for i in await uow.incidents.claim_due(now, 1)] == [early.id]
        assert await uow.incidents.claim_due(now, 0) == []
        assert await uow.incidents.claim_due(T0, 10) == []
    assert not_yet.next_escalation_at is not None
    async with uow_factory() as uow:
        everything = await uow.incidents.claim_due(not_yet.next_escalation_at, 10)
        assert [i.id for i in everything] == [early.id, late.id, not_yet.id]


async def test_oldest_due_is_the_earliest_timer_past_due_of_an_open_incident(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)  # the next timer 5 minutes after the trigger
    async with uow_factory() as uow:
        assert await uow.incidents.oldest_due(T0 + timedelta(days=1)) is None  # nothing at all
        late = await triggered_incident(uow, policy, T0 + timedelta(minutes=2))
        early = await triggered_incident(uow, policy, T0)
        resolved = await triggered_incident(uow, policy, T0 - timedelta(hours=1))
        resolved.resolve(None, T0 - timedelta(minutes=30))
        await uow.incidents.update(resolved)
        await stored_incident(uow)  # never triggered: no timer
        await uow.commit()
    assert early.next_escalation_at is not None and late.next_escalation_at is not None

    async with uow_factory() as uow:
        assert await uow.incidents.oldest_due(early.next_escalation_at - timedelta(seconds=1)) is None
        assert await uow.incidents.oldest_due(early.next_escalation_at) == early.next_escalation_at
        assert await uow.incidents.oldest_due(T0 + timedelta(hours=1)) == early.next_escalation_at
        # it only reads: a claimer still gets them all
        assert [i.id for i in await uow.incidents.claim_due(T0 + timedelta(hours=1), 10)] == [early.id, late.id]


async def test_a_ticked_incident_is_not_due_until_its_next_step(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)
    async with uow_factory() as uow:
        incident = await triggered_incident(uow, policy)
        await uow.commit()

    now = T0 + timedelta(minutes=5)
    async with uow_factory() as uow:
        (claimed,) = await uow.incidents.claim_due(now, 10)
        claimed.tick(now)
        await uow.incidents.update(claimed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.incidents.claim_due(now, 10) == []
        stored = await uow.incidents.get(incident.id)
    assert stored is not None
    assert stored.escalation is not None
    assert stored.escalation.phase is Phase.EXHAUSTED
    assert stored.next_escalation_at is None


async def test_incidents_outlive_their_integration_and_policy(uow_factory: UowFactory) -> None:
    policy = await stored_policy(uow_factory)
    async with uow_factory() as uow:
        team = await stored_team(uow)
        kibana = await stored_integration(uow, team.id)
        incident = await triggered_incident(uow, policy, integration_id=kibana.id, dedup_key="r:a")
        await uow.commit()
    async with uow_factory() as uow:
        await uow.integrations.delete(kibana.id)
        await uow.policies.delete(policy.id)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.incidents.get(incident.id)
    assert stored is not None
    assert stored.policy == policy.snapshot()
    assert replace(stored, integration_id=incident.integration_id) == incident

"""PolicyRepository: steps, targets and conditions round trip; active ones listed for matching."""

from __future__ import annotations

from datetime import datetime

import pytest
from entity_builders import UowFactory, one_step_policy, rich_policy, stored_team, stored_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentcore.errors import NotFound
from incidentcore.model import EscalationPolicy, Severity
from incidentcore.ports import Page
from incidentcore.testing.strategies import escalation_policies, instants

pytestmark = pytest.mark.anyio


async def test_add_get_update_round_trip(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        user = await stored_user(uow, team_id=team.id)
        policy = await uow.policies.add(rich_policy(team.id, user.id))
        await uow.commit()
    assert policy.id > 0
    async with uow_factory() as uow:
        assert await uow.policies.get(policy.id) == policy
        assert await uow.policies.get(999) is None
        policy.severities = frozenset({Severity.INFO})
        policy.steps = policy.steps[:1]
        policy.team_id = None
        policy.ack_timeout_minutes = None
        await uow.policies.update(policy)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.policies.get(policy.id) == policy


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    policy=escalation_policies(team_ids=st.none(), active=st.booleans()),
    created_at=st.none() | instants(),
)
async def test_any_policy_reads_back_as_it_was_stored(
    uow_factory: UowFactory, policy: EscalationPolicy, created_at: datetime | None
) -> None:
    policy.created_at = created_at
    async with uow_factory() as uow:
        await uow.policies.add(policy)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.policies.get(policy.id) == policy


async def test_list_and_list_active(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        first = await uow.policies.add(one_step_policy(user.id))
        inactive = await uow.policies.add(one_step_policy(user.id, is_active=False))
        last = await uow.policies.add(one_step_policy(user.id))
        await uow.commit()
    async with uow_factory() as uow:
        listed = await uow.policies.list(Page(limit=2))
        active = await uow.policies.list_active()
    assert listed.items == [first, inactive]
    assert listed.total == 3
    assert active == [first, last]
    async with uow_factory() as uow:
        assert await uow.policies.list_all() == [first, inactive, last]


async def test_delete(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        policy = await uow.policies.add(one_step_policy(user.id))
        await uow.commit()
    async with uow_factory() as uow:
        await uow.policies.delete(policy.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.policies.get(policy.id) is None
        with pytest.raises(NotFound):
            await uow.policies.delete(policy.id)
        with pytest.raises(NotFound):
            await uow.policies.update(policy)

"""TeamRepository: unique names; a team still referenced cannot be deleted."""

from __future__ import annotations

import pytest
from entity_builders import UowFactory, new_team, one_step_policy, stored_incident, stored_team, stored_user

from incidentcore.errors import Conflict, NotFound
from incidentcore.model import EscalationPolicy, Integration
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


async def test_add_get_update(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await uow.teams.add(new_team("payments", description="cards and wallets"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.teams.get(team.id) == team
        team.name, team.description = "billing", None
        await uow.teams.update(team)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.teams.get(team.id) == team
        assert await uow.teams.get(999) is None


async def test_names_are_unique(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await stored_team(uow, "payments")
        search = await stored_team(uow, "search")
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="payments"):
            await uow.teams.add(new_team("payments"))
    async with uow_factory() as uow:
        search.name = "payments"
        with pytest.raises(Conflict, match="payments"):
            await uow.teams.update(search)


async def test_list_in_id_order(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        teams = [await stored_team(uow, name) for name in ("c", "a", "b")]
        await uow.commit()
    async with uow_factory() as uow:
        page = await uow.teams.list(Page(limit=2))
    assert page.items == teams[:2]
    assert page.total == 3


async def test_unknown_team_update_and_delete_are_not_found(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.teams.update(new_team(id=999))
        with pytest.raises(NotFound):
            await uow.teams.delete(999)


async def test_delete(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.teams.delete(team.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.teams.get(team.id) is None


@pytest.mark.parametrize("reference", ["user", "incident", "policy", "integration"])
async def test_delete_is_refused_while_referenced(uow_factory: UowFactory, reference: str) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        if reference == "user":
            await stored_user(uow, team_id=team.id)
        elif reference == "incident":
            await stored_incident(uow, team_id=team.id)
        elif reference == "policy":
            user = await stored_user(uow)
            policy: EscalationPolicy = one_step_policy(user.id, team_id=team.id)
            await uow.policies.add(policy)
        else:
            await uow.integrations.add(Integration("kibana", team.id, "key-1"))
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="team"):
            await uow.teams.delete(team.id)
    async with uow_factory() as uow:
        assert await uow.teams.get(team.id) == team


async def test_get_many_returns_the_teams_that_exist_by_id(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        first = await uow.teams.add(new_team("payments"))
        second = await uow.teams.add(new_team("search"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.teams.get_many([second.id, 999, first.id, second.id]) == [first, second]
        assert await uow.teams.get_many([]) == []

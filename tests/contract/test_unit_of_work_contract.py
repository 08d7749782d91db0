"""UnitOfWork: nothing is durable before commit; leaving without commit rolls back; commits go on."""

from __future__ import annotations

import pytest
from entity_builders import UowFactory, new_team, new_user

from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


async def team_names(uow_factory: UowFactory) -> list[str]:
    async with uow_factory() as uow:
        return [team.name for team in (await uow.teams.list(Page())).items]


async def test_commit_makes_writes_durable(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await uow.teams.add(new_team("payments"))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.teams.get(team.id) == team


async def test_leaving_without_commit_rolls_back(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await uow.teams.add(new_team("payments"))

    assert await team_names(uow_factory) == []


async def test_an_exception_rolls_back(uow_factory: UowFactory) -> None:
    class Boom(Exception):
        pass

    uow = uow_factory()
    try:
        async with uow:
            await uow.teams.add(new_team("payments"))
            raise Boom
    except Boom:
        pass

    assert await team_names(uow_factory) == []


async def test_rollback_discards_and_the_unit_of_work_goes_on(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await uow.teams.add(new_team("discarded"))
        await uow.rollback()
        await uow.teams.add(new_team("kept"))
        await uow.commit()

    assert await team_names(uow_factory) == ["kept"]


async def test_after_a_commit_the_next_transaction_is_separate(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await uow.teams.add(new_team("first"))
        await uow.commit()
        await uow.teams.add(new_team("second"))
        await uow.commit()
        await uow.teams.add(new_team("uncommitted"))

    assert await team_names(uow_factory) == ["first", "second"]


async def test_a_unit_of_work_can_be_entered_again(uow_factory: UowFactory) -> None:
    uow = uow_factory()
    async with uow:
        await uow.teams.add(new_team("first"))
        await uow.commit()
    async with uow:
        await uow.teams.add(new_team("second"))
        await uow.commit()

    assert await team_names(uow_factory) == ["first", "second"]


async def test_blocks_do_not_nest(uow_factory: UowFactory) -> None:
    uow = uow_factory()
    async with uow:
        with pytest.raises(RuntimeError):
            async with uow:
                pass


async def test_reads_see_own_uncommitted_writes(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await uow.teams.add(new_team())
        user = await uow.users.add(new_user(team_id=team.id))
        assert await uow.users.get(user.id) == user
        assert await uow.users.get_by_email(user.email) == user


async def test_ids_are_assigned_and_distinct(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        first = await uow.teams.add(new_team("a"))
        second = await uow.teams.add(new_team("b"))
        await uow.commit()
    assert first.id > 0
    assert second.id > 0
    assert first.id != second.id


async def test_uncommitted_writes_are_invisible_to_others(backend: str, uow_factory: UowFactory) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite runs one transaction at a time: the second one would wait for the first")
    async with uow_factory() as writer:
        await writer.teams.add(new_team("payments"))
        async with uow_factory() as reader:
            assert (await reader.teams.list(Page())).total == 0
        await writer.commit()
    assert await team_names(uow_factory) == ["payments"]

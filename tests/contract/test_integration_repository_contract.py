"""IntegrationRepository: alert sources by id and by their secret key; keys are unique."""

from __future__ import annotations

import pytest
from entity_builders import T0, UowFactory, stored_team

from incidentcore.errors import Conflict, NotFound
from incidentcore.model import Integration
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


async def test_add_get_by_id_and_key_list_delete(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        kibana = await uow.integrations.add(Integration("kibana", team.id, "secret-1", T0))
        grafana = await uow.integrations.add(Integration("grafana", team.id, "secret-2", T0))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.integrations.get(kibana.id) == kibana
        assert await uow.integrations.get_by_key("secret-2") == grafana
        assert await uow.integrations.get_by_key("secret-3") is None
        assert await uow.integrations.get(999) is None
        assert await uow.integrations.get_many([grafana.id, 999, kibana.id]) == [kibana, grafana]
        assert await uow.integrations.get_many([]) == []
        listed = await uow.integrations.list(Page(limit=1))
        assert listed.items == [kibana]
        assert listed.total == 2
        await uow.integrations.delete(kibana.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.integrations.get(kibana.id) is None
        with pytest.raises(NotFound):
            await uow.integrations.delete(kibana.id)


async def test_keys_are_unique(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        await uow.integrations.add(Integration("kibana", team.id, "secret-1", T0))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.integrations.add(Integration("copy", team.id, "secret-1", T0))

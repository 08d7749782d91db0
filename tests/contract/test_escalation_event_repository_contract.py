"""EscalationEventRepository: what the escalation did, oldest first, with who was paged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_incident

from incidentcore.escalation import EffectKind
from incidentcore.model import EscalationEvent
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


async def test_events_round_trip_oldest_first(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        incident = await stored_incident(uow)
        other = await stored_incident(uow)
        fired = EscalationEvent(
            incident.id, 7, EffectKind.FIRED, 0, T0, T0, step_index=0, loop=0, notified_user_ids=[3, 1]
        )
        stopped = EscalationEvent(
            incident.id, 7, EffectKind.STOPPED, 0, T0 + timedelta(minutes=3), T0 + timedelta(minutes=3)
        )
        manual = EscalationEvent(
            incident.id, None, EffectKind.MANUAL, 1, T0, T0 + timedelta(minutes=1), step_index=1, loop=2
        )
        await uow.escalation_events.add_many([fired, stopped])
        await uow.escalation_events.add_many([])
        await uow.escalation_events.add_many(
            [manual, EscalationEvent(other.id, 7, EffectKind.FIRED, 0, T0, T0, 0, 0)]
        )
        assert fired.id < stopped.id < manual.id
        await uow.commit()

    async with uow_factory() as uow:
        page = await uow.escalation_events.list_for_incident(incident.id, Page())
    assert page.items == [fired, manual, stopped]
    assert page.total == 3
    assert page.items[0].notified_user_ids == [3, 1]

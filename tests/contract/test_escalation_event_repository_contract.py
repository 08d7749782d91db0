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


async def test_nth_newest_counts_one_kind_of_one_incident_within_the_window(uow_factory: UowFactory) -> None:
    minute = timedelta(minutes=1)
    async with uow_factory() as uow:
        incident = await stored_incident(uow)
        other = await stored_incident(uow)

        def manual(incident_id: int, at: timedelta) -> EscalationEvent:
            return EscalationEvent(incident_id, None, EffectKind.MANUAL, 0, T0 + at, T0 + at, 0, 0)

        await uow.escalation_events.add_many(
            [
                manual(incident.id, -minute),  # before the window
                manual(incident.id, minute),
                manual(incident.id, 3 * minute),
                manual(other.id, 2 * minute),
                EscalationEvent(incident.id, 7, EffectKind.FIRED, 0, T0 + 4 * minute, T0 + 4 * minute, 0, 0),
                manual(incident.id, 0 * minute),
            ]
        )
        await uow.commit()

    async with uow_factory() as uow:
        newest = [await uow.escalation_events.nth_newest(incident.id, EffectKind.MANUAL, T0, n) for n in (1, 2, 3, 4)]
        fired = await uow.escalation_events.nth_newest(incident.id, EffectKind.FIRED, T0, 1)
        other_incident = await uow.escalation_events.nth_newest(other.id, EffectKind.MANUAL, T0, 2)
    assert newest == [T0 + 3 * minute, T0 + minute, T0, None]
    assert fired == T0 + 4 * minute
    assert other_incident is None

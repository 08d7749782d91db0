"""MaintenanceWindowRepository and SuppressedAlertRepository on every backend.

Windows read back with their integrations; lists filter by team and by being on at an instant;
`covering` answers `MaintenanceWindow.covers` in one query (checked against the pure rule for every
instant and integration around a set of windows); references are held by the database: a deleted
integration leaves its windows' lists, suppressed alerts keep their window and outlive their
integration, a window's team and creator cannot be deleted under it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_integration, stored_team, stored_user

from incidentcore.errors import Conflict, NotFound
from incidentcore.maintenance import MaintenanceWindow, SuppressedAlert, covering
from incidentcore.model import Severity
from incidentcore.ports import MaintenanceWindowFilter, Page

pytestmark = pytest.mark.anyio

HOUR = timedelta(hours=1)


def window(start_hours: float = 0, hours: float = 2, **fields: object) -> MaintenanceWindow:
    start = T0 + start_hours * HOUR
    return MaintenanceWindow("database upgrade", start, start + hours * HOUR, created_at=T0, **fields)  # type: ignore[arg-type]


def suppressed(window_id: int, integration_id: int | None, key: str, minutes: int = 0) -> SuppressedAlert:
    return SuppressedAlert(
        window_id,
        integration_id,
        key,
        "alertmanager",
        "Disk full",
        Severity.CRITICAL,
        T0 + timedelta(minutes=minutes),
        {"labels": {"alertname": "DiskFull"}, "n": [1, 2]},
    )


async def test_add_get_list_update_delete(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        other = await stored_team(uow, "billing")
        ann = await stored_user(uow)
        first = await stored_integration(uow, team.id, "k1")
        second = await stored_integration(uow, other.id, "k2")
        teams = await uow.maintenance_windows.add(window(team_id=team.id, created_by_id=ann.id))
        listed = await uow.maintenance_windows.add(
            window(start_hours=3, team_id=None, integration_ids=(first.id, second.id))
        )
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.maintenance_windows.get(teams.id) == teams
        assert await uow.maintenance_windows.get(listed.id) == listed
        assert await uow.maintenance_windows.get(999) is None
        everything = await uow.maintenance_windows.list(MaintenanceWindowFilter(), Page())
        assert (everything.items, everything.total) == ([teams, listed], 2)
        first_page = await uow.maintenance_windows.list(MaintenanceWindowFilter(), Page(limit=1))
        assert (first_page.items, first_page.total) == ([teams], 2)
        by_team = await uow.maintenance_windows.list(MaintenanceWindowFilter(team_id=team.id), Page())
        assert by_team.items == [teams]
        on = MaintenanceWindowFilter(active=True, at=T0 + 3 * HOUR)
        assert (await uow.maintenance_windows.list(on, Page())).items == [listed]
        off = MaintenanceWindowFilter(active=False, at=T0 + 3 * HOUR)
        assert (await uow.maintenance_windows.list(off, Page())).items == [teams]
        listed.description, listed.end, listed.integration_ids = "longer", listed.end + HOUR, (second.id,)
        listed.team_id = team.id
        await uow.maintenance_windows.update(listed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.maintenance_windows.get(listed.id) == listed
        await uow.maintenance_windows.delete(teams.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.maintenance_windows.get(teams.id) is None
        with pytest.raises(NotFound):
            await uow.maintenance_windows.delete(teams.id)
        with pytest.raises(NotFound):
            await uow.maintenance_windows.update(teams)


async def test_references_that_do_not_exist_are_refused(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.maintenance_windows.add(window(team_id=999))
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.maintenance_windows.add(window(integration_ids=(999,)))
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.maintenance_windows.add(window(integration_ids=(), created_by_id=999))
    async with uow_factory() as uow:
        team = await stored_team(uow)
        stored = await uow.maintenance_windows.add(window(team_id=team.id))
        await uow.commit()
    async with uow_factory() as uow:
        stored.integration_ids = (999,)
        with pytest.raises(Conflict):
            await uow.maintenance_windows.update(stored)
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.suppressed_alerts.add_many([suppressed(999, None, "k")])


async def test_covering_answers_the_pure_rule_at_every_instant(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ops = await stored_team(uow)
        billing = await stored_team(uow, "billing")
        prometheus = await stored_integration(uow, ops.id, "k1")
        kibana = await stored_integration(uow, ops.id, "k2")
        invoices = await stored_integration(uow, billing.id, "k3")
        stored = [
            await uow.maintenance_windows.add(window(0, 2, team_id=ops.id)),
            await uow.maintenance_windows.add(window(1, 3, integration_ids=(kibana.id, invoices.id))),
            await uow.maintenance_windows.add(window(5, 1, team_id=billing.id, integration_ids=(prometheus.id,))),
        ]
        await uow.commit()
    cases = [
        (team_id, integration_id)
        for team_id in (ops.id, billing.id, None)
        for integration_id in (prometheus.id, kibana.id, invoices.id, None)
    ]
    instants = [T0 + k * HOUR / 2 for k in range(-1, 14)]
    async with uow_factory() as uow:
        for team_id, integration_id in cases:
            for at in instants:
                expected = covering(stored, team_id, integration_id, at)
                found = await uow.maintenance_windows.covering(team_id, integration_id, at)
                assert found == (expected.id if expected else None), (team_id, integration_id, at)


async def test_suppressed_alerts_list_oldest_first_and_hold_their_window(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        integration = await stored_integration(uow, team.id)
        kept = await uow.maintenance_windows.add(window(team_id=team.id))
        empty = await uow.maintenance_windows.add(window(team_id=team.id))
        alerts = [suppressed(kept.id, integration.id, f"key-{n}", minutes=10 - n) for n in range(3)]
        await uow.suppressed_alerts.add_many(alerts)
        await uow.suppressed_alerts.add_many([])
        await uow.commit()
    assert all(alert.id for alert in alerts)
    async with uow_factory() as uow:
        listed = await uow.suppressed_alerts.list_for_window(kept.id, Page())
        assert (listed.items, listed.total) == (list(reversed(alerts)), 3)
        second = await uow.suppressed_alerts.list_for_window(kept.id, Page(limit=1, offset=1))
        assert (second.items, second.total) == ([alerts[1]], 3)
        assert (await uow.suppressed_alerts.list_for_window(empty.id, Page())).total == 0
        with pytest.raises(Conflict, match="suppressed alerts"):
            await uow.maintenance_windows.delete(kept.id)
    async with uow_factory() as uow:
        await uow.maintenance_windows.delete(empty.id)
        await uow.commit()


async def test_a_deleted_integration_leaves_windows_and_its_suppressed_alerts_stay(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        gone = await stored_integration(uow, team.id, "k1")
        stays = await stored_integration(uow, team.id, "k2")
        stored = await uow.maintenance_windows.add(window(integration_ids=(gone.id, stays.id)))
        alert = suppressed(stored.id, gone.id, "disk-full")
        await uow.suppressed_alerts.add_many([alert])
        await uow.commit()
    async with uow_factory() as uow:
        await uow.integrations.delete(gone.id)
        await uow.commit()
    async with uow_factory() as uow:
        reread = await uow.maintenance_windows.get(stored.id)
        assert reread is not None and reread.integration_ids == (stays.id,)
        [kept] = (await uow.suppressed_alerts.list_for_window(stored.id, Page())).items
        assert (kept.integration_id, kept.dedup_key, kept.data) == (None, "disk-full", alert.data)


async def test_a_windows_team_and_creator_cannot_be_deleted_under_it(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        ann = await stored_user(uow)
        await uow.maintenance_windows.add(window(team_id=team.id, created_by_id=ann.id))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match=r"maintenance windows.* still reference the team"):
            await uow.teams.delete(team.id)
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="maintenance windows still reference the user"):
            await uow.users.delete(ann.id)

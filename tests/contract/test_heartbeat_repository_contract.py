"""HeartbeatRepository on every backend, and the one open incident per heartbeat the incident repository
holds to: round trips, look-up by secret hash, fenced updates, claims of missed heartbeats (earliest due
first, none claimed twice at once), and the Conflicts the database raises."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_incident, stored_integration, stored_team

from incidentcore.errors import Conflict, NotFound, StaleState
from incidentcore.escalation import PolicySnapshot
from incidentcore.heartbeats import Heartbeat
from incidentcore.maintenance import MaintenanceWindow
from incidentcore.ports import Page, UnitOfWork

pytestmark = pytest.mark.anyio

ALL = Page(limit=500)
MINUTE = timedelta(minutes=1)


def new_heartbeat(team_id: int, token_hash: str = "hash-1", **fields: object) -> Heartbeat:
    values: dict[str, object] = {"interval_minutes": 10, "grace_minutes": 5, "created_at": T0}
    return Heartbeat("backup", team_id, token_hash=token_hash, **{**values, **fields})  # type: ignore[arg-type]


async def stored_heartbeat(uow: UnitOfWork, team_id: int, token_hash: str = "hash-1", **fields: object) -> Heartbeat:
    return await uow.heartbeats.add(new_heartbeat(team_id, token_hash, **fields))


async def test_add_get_find_list_update_delete(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        other = await stored_team(uow, "other")
        first = await stored_heartbeat(uow, team.id, "h1", last_ping_at=T0 + MINUTE)
        second = await stored_heartbeat(uow, other.id, "h2")
        await uow.commit()
    assert first.id and second.id > first.id
    async with uow_factory() as uow:
        assert await uow.heartbeats.get(first.id) == first
        assert await uow.heartbeats.get_by_token_hash("h2") == second
        assert await uow.heartbeats.get_by_token_hash("h3") is None
        assert await uow.heartbeats.get(10_000) is None
        assert [h.id for h in (await uow.heartbeats.list(None, ALL)).items] == [first.id, second.id]
        assert [h.id for h in (await uow.heartbeats.list(other.id, ALL)).items] == [second.id]
        page = await uow.heartbeats.list(None, Page(limit=1, offset=1))
        assert ([h.id for h in page.items], page.total) == ([second.id], 2)
        loaded = await uow.heartbeats.get(first.id, for_update=True)
        assert loaded is not None
        loaded.name, loaded.interval_minutes, loaded.incident_id = "renamed", 30, 77
        await uow.heartbeats.update(loaded)
        assert loaded.version == first.version + 1
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.heartbeats.get(first.id) == loaded
        await uow.heartbeats.delete(first.id)
        with pytest.raises(NotFound):
            await uow.heartbeats.delete(first.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.heartbeats.get(first.id) is None
        with pytest.raises(NotFound):
            await uow.heartbeats.update(loaded)


async def test_an_update_of_a_stale_copy_is_refused(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        beat = await stored_heartbeat(uow, team.id)
        await uow.commit()
    async with uow_factory() as uow:
        fresh = await uow.heartbeats.get(beat.id)
        assert fresh is not None
        fresh.incident_id = 5
        await uow.heartbeats.update(fresh)
        await uow.commit()
    async with uow_factory() as uow:
        beat.last_ping_at = T0  # read before the update above: its version is old
        with pytest.raises(StaleState):
            await uow.heartbeats.update(beat)
    async with uow_factory() as uow:
        stored = await uow.heartbeats.get(beat.id)
        assert stored is not None and stored.incident_id == 5 and stored.last_ping_at is None


async def test_claim_missed_takes_the_due_without_an_incident_earliest_first(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        never_pinged = await stored_heartbeat(uow, team.id, "a")  # due T0 + 15 min
        pinged = await stored_heartbeat(uow, team.id, "b", last_ping_at=T0 - 10 * MINUTE)  # due T0 + 5 min
        await stored_heartbeat(uow, team.id, "c", last_ping_at=T0 + MINUTE)  # due T0 + 16 min
        await stored_heartbeat(uow, team.id, "d", incident_id=3)  # due, but its incident is recorded
        await uow.commit()
    now = T0 + 15 * MINUTE
    async with uow_factory() as uow:
        assert await uow.heartbeats.claim_missed(now - timedelta(seconds=1), 10) == [pinged]
    async with uow_factory() as uow:
        assert [h.id for h in await uow.heartbeats.claim_missed(now, 10)] == [pinged.id, never_pinged.id]
        assert await uow.heartbeats.claim_missed(now, 0) == []
    async with uow_factory() as uow:
        assert [h.id for h in await uow.heartbeats.claim_missed(now, 1)] == [pinged.id]


async def test_claim_missed_passes_over_a_team_a_team_wide_window_covers(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        quiet, other = await stored_team(uow, "quiet"), await stored_team(uow, "other")
        held = await stored_heartbeat(uow, quiet.id, "a")
        free = await stored_heartbeat(uow, other.id, "b")
        integration = await stored_integration(uow, other.id)
        window_end = T0 + 30 * MINUTE
        await uow.maintenance_windows.add(MaintenanceWindow("upgrade", T0, window_end, team_id=quiet.id))
        # a window listing an integration of the other team silences that integration, not the team
        listing = MaintenanceWindow("kibana", T0, window_end, integration_ids=(integration.id,))
        await uow.maintenance_windows.add(listing)
        await uow.commit()
    async with uow_factory() as uow:
        assert [h.id for h in await uow.heartbeats.claim_missed(window_end - MINUTE, 10)] == [free.id]
    async with uow_factory() as uow:
        assert [h.id for h in await uow.heartbeats.claim_missed(window_end, 10)] == [held.id, free.id]


async def test_a_claimed_heartbeat_is_skipped_by_another_claimer(
    uow_factory: UowFactory, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite has one writer at a time: a second claimer waits for the first (test_sqlite_claims)")
    async with uow_factory() as uow:
        team = await stored_team(uow)
        for n in range(5):
            await stored_heartbeat(uow, team.id, f"h{n}")
        await uow.commit()
    now = T0 + timedelta(hours=1)
    async with uow_factory() as first, uow_factory() as second:
        mine = {h.id for h in await first.heartbeats.claim_missed(now, 3)}
        theirs = {h.id for h in await second.heartbeats.claim_missed(now, 5)}
    assert len(mine) == 3 and len(theirs) == 2 and mine.isdisjoint(theirs)


async def test_references_and_secrets_are_checked(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        await stored_heartbeat(uow, team.id, "taken")
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await stored_heartbeat(uow, team.id, "taken")
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await stored_heartbeat(uow, 10_000, "fresh")
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="heartbeats still reference the team"):
            await uow.teams.delete(team.id)


async def test_one_open_incident_per_heartbeat(uow_factory: UowFactory) -> None:
    """Held by the store itself (a partial unique index in SQL), whatever a caller does."""
    async with uow_factory() as uow:
        team = await stored_team(uow)
        beat = await stored_heartbeat(uow, team.id)
        first = await stored_incident(uow, team_id=team.id, heartbeat_id=beat.id, source="heartbeat")
        await stored_incident(uow, team_id=team.id)  # others are not constrained
        await stored_incident(uow, team_id=team.id)
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="heartbeat"):
            await stored_incident(uow, team_id=team.id, heartbeat_id=beat.id)
    async with uow_factory() as uow:
        stored = await uow.incidents.get(first.id, for_update=True)
        assert stored is not None and stored.heartbeat_id == beat.id
        stored.trigger(PolicySnapshot.none(), T0, None)
        stored.resolve(None, T0)
        await uow.incidents.update(stored)
        second = await stored_incident(uow, team_id=team.id, heartbeat_id=beat.id)  # once resolved, a new one
        await uow.commit()
    async with uow_factory() as uow:
        await uow.heartbeats.delete(beat.id)  # its incidents stay as they are
        await uow.commit()
    async with uow_factory() as uow:
        kept = await uow.incidents.get(second.id)
        assert kept is not None and kept.heartbeat_id == beat.id and kept.is_open

"""Maintenance windows: while one covers an integration, alert ingestion suppresses its new alerts."""

from __future__ import annotations

from collections.abc import Sequence

from incidentcore.errors import FieldError, NotFound, ValidationFailed
from incidentcore.maintenance import MaintenanceWindow, MaintenanceWindowChanges, SuppressedAlert
from incidentcore.model import Integration, User
from incidentcore.permissions import Action, TeamScope, require
from incidentcore.ports import Clock, MaintenanceWindowFilter, Page, Paged, UnitOfWork


class MaintenanceWindows:
    """Anyone reads windows and what they suppressed; admins, and team leads and above of every team a
    window silences (its own team, and the teams of the integrations it lists), manage it."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def create(self, actor: User, window: MaintenanceWindow) -> MaintenanceWindow:
        """400 for an end not after the start or already past, a window covering nothing, or a team or
        integration that does not exist."""
        now = self.clock.now()
        window.validate(now)
        async with self.uow:
            await self._authorise(actor, window)
            window.created_by_id, window.created_at = actor.id, now
            window = await self.uow.maintenance_windows.add(window)
            await self.uow.commit()
        return window

    async def list(
        self, actor: User, team_id: int | None, active: bool | None, page: Page
    ) -> Paged[MaintenanceWindow]:
        """By start; only `team_id`'s (the window's own team) when given; `active`: only those on (or
        not on) now."""
        require(actor, Action.MAINTENANCE_READ)
        where = MaintenanceWindowFilter(team_id, active, self.clock.now())
        async with self.uow:
            return await self.uow.maintenance_windows.list(where, page)

    async def get(self, actor: User, window_id: int) -> MaintenanceWindow:
        require(actor, Action.MAINTENANCE_READ)
        async with self.uow:
            return await self._load(window_id)

    async def update(
        self, actor: User, window_id: int, changes: MaintenanceWindowChanges
    ) -> MaintenanceWindow:
        """See `MaintenanceWindow.changed`: an end at or before now ends a window that has started now;
        a window that has ended changes only its description. Listing other integrations or moving it
        to another team needs the right there too."""
        now = self.clock.now()
        async with self.uow:
            current = await self._load(window_id)
            await self._authorise(actor, current)
            window = current.changed(changes, now)
            if (window.team_id, window.integration_ids) != (current.team_id, current.integration_ids):
                await self._authorise(actor, window)
            await self.uow.maintenance_windows.update(window)
            await self.uow.commit()
        return window

    async def delete(self, actor: User, window_id: int) -> None:
        """409 once it has suppressed an alert: its record stays (end the window early instead)."""
        async with self.uow:
            window = await self._load(window_id)
            await self._authorise(actor, window)
            await self.uow.maintenance_windows.delete(window_id)
            await self.uow.commit()

    async def suppressed_alerts(self, actor: User, window_id: int, page: Page) -> Paged[SuppressedAlert]:
        """The alerts the window suppressed, oldest first."""
        require(actor, Action.MAINTENANCE_READ)
        async with self.uow:
            await self._load(window_id)
            return await self.uow.suppressed_alerts.list_for_window(window_id, page)

    async def _load(self, window_id: int) -> MaintenanceWindow:
        window = await self.uow.maintenance_windows.get(window_id)
        if window is None:
            raise NotFound(f"maintenance window {window_id} does not exist")
        return window

    async def _authorise(self, actor: User, window: MaintenanceWindow) -> None:
        """Requires the right in every team the window silences (403), then that its team and
        integrations exist (400): one who may not manage the window learns nothing of the ids."""
        integrations = await self.uow.integrations.get_many(window.integration_ids)
        require(actor, Action.MAINTENANCE_MANAGE, TeamScope(window.teams_silenced(integrations)))
        errors = _missing_integrations(window.integration_ids, integrations)
        if window.team_id is not None and await self.uow.teams.get(window.team_id) is None:
            errors.insert(0, FieldError("team_id", f"team {window.team_id} does not exist"))
        if errors:
            raise ValidationFailed(errors)


def _missing_integrations(wanted: Sequence[int], found: Sequence[Integration]) -> list[FieldError]:
    known = {integration.id for integration in found}
    return [
        FieldError("integration_ids", f"integration {integration_id} does not exist")
        for integration_id in wanted
        if integration_id not in known
    ]

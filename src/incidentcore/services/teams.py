"""Team administration."""

from __future__ import annotations

from dataclasses import dataclass

from incidentcore.changes import UNSET, Unset
from incidentcore.errors import Conflict, NotFound
from incidentcore.model import Team, User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, Page, Paged, UnitOfWork
from incidentcore.validation import NOTE_MAX, SHORT_NAME_MAX, check_text


@dataclass(frozen=True)
class TeamChanges:
    """What may be edited on a team."""

    name: str | Unset = UNSET
    description: str | Unset | None = UNSET


class Teams:
    """Teams (administration)."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def create(self, actor: User, name: str, description: str | None) -> Team:
        require(actor, Action.TEAM_MANAGE)
        check_text("name", name, SHORT_NAME_MAX, required=True)
        check_text("description", description, NOTE_MAX, required=False, multiline=True)
        async with self.uow:
            team = await self.uow.teams.add(Team(name.strip(), description, self.clock.now()))
            await self.uow.commit()
        return team

    async def list(self, actor: User, page: Page) -> Paged[Team]:
        require(actor, Action.TEAM_MANAGE)
        async with self.uow:
            return await self.uow.teams.list(page)

    async def get(self, actor: User, team_id: int) -> Team:
        require(actor, Action.TEAM_MANAGE)
        async with self.uow:
            return await self._load(team_id)

    async def update(self, actor: User, team_id: int, changes: TeamChanges) -> Team:
        require(actor, Action.TEAM_MANAGE)
        if changes.name is not UNSET:
            check_text("name", changes.name, SHORT_NAME_MAX, required=True)
        if changes.description is not UNSET:
            check_text("description", changes.description, NOTE_MAX, required=False, multiline=True)
        async with self.uow:
            team = await self._load(team_id)
            if changes.name is not UNSET:
                team.name = changes.name.strip()
            if changes.description is not UNSET:
                team.description = changes.description
            await self.uow.teams.update(team)
            await self.uow.commit()
        return team

    async def delete(self, actor: User, team_id: int) -> None:
        require(actor, Action.TEAM_MANAGE)
        async with self.uow:
            await self._load(team_id)
            for policy in await self.uow.policies.list_all():
                if policy.pages_team(team_id):
                    raise Conflict(f"escalation policy {policy.id} ({policy.name}) pages this team")
            await self.uow.teams.delete(team_id)
            await self.uow.commit()

    async def _load(self, team_id: int) -> Team:
        team = await self.uow.teams.get(team_id)
        if team is None:
            raise NotFound(f"team {team_id} does not exist")
        return team

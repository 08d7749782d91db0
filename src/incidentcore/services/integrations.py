"""Integrations: alert sources bound to a team, each with the secret key its tool presents."""

from __future__ import annotations

from incidentcore.errors import FieldError, NotFound, ValidationFailed
from incidentcore.model import Integration, User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, Page, Paged, SecretGenerator, UnitOfWork
from incidentcore.validation import SHORT_NAME_MAX, check_text


class Integrations:
    """Alert sources of a team, each with a secret key (administration)."""

    def __init__(self, uow: UnitOfWork, clock: Clock, secrets: SecretGenerator) -> None:
        self.uow = uow
        self.clock = clock
        self.secrets = secrets

    async def create(self, actor: User, name: str, team_id: int) -> Integration:
        require(actor, Action.INTEGRATION_MANAGE)
        check_text("name", name, SHORT_NAME_MAX, required=True)
        async with self.uow:
            if await self.uow.teams.get(team_id) is None:
                raise ValidationFailed(FieldError("team_id", f"team {team_id} does not exist"))
            integration = await self.uow.integrations.add(
                Integration(name.strip(), team_id, self.secrets.new_secret(), self.clock.now())
            )
            await self.uow.commit()
        return integration

    async def list(self, actor: User, page: Page) -> Paged[Integration]:
        require(actor, Action.INTEGRATION_MANAGE)
        async with self.uow:
            return await self.uow.integrations.list(page)

    async def delete(self, actor: User, integration_id: int) -> None:
        require(actor, Action.INTEGRATION_MANAGE)
        async with self.uow:
            if await self.uow.integrations.get(integration_id) is None:
                raise NotFound(f"integration {integration_id} does not exist")
            await self.uow.integrations.delete(integration_id)
            await self.uow.commit()

"""Who is who: people's and teams' names, for showing records to the people who read them."""

from __future__ import annotations

from collections.abc import Iterable

from incidentcore.model import Team, User
from incidentcore.permissions import Action, require
from incidentcore.ports import Page, UnitOfWork, UserFilter

DIRECTORY_LIMIT = Page.MAX_LIMIT
"""At most this many teams, or active users, in one answer."""


class Directory:
    """Names of users and teams: any active user reads them (records name people by id; emails,
    roles and the rest of an account stay with its owner and the admins)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def user_names(self, actor: User, user_ids: Iterable[int]) -> dict[int, str]:
        """The full names of those of `user_ids` that exist (deactivated users too: records outlive
        accounts), by id."""
        require(actor, Action.DIRECTORY_READ)
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        async with self.uow:
            return {user.id: user.full_name for user in await self.uow.users.get_many(wanted)}

    async def active_users(self, actor: User) -> list[User]:
        """The active users (the first `DIRECTORY_LIMIT` of them), by name: who an incident can be
        assigned to."""
        require(actor, Action.DIRECTORY_READ)
        async with self.uow:
            users = await self.uow.users.list(UserFilter(), Page(DIRECTORY_LIMIT))
        return sorted((u for u in users.items if u.is_active), key=lambda u: (u.full_name.casefold(), u.id))

    async def teams(self, actor: User) -> list[Team]:
        """The teams (the first `DIRECTORY_LIMIT` of them), by name."""
        require(actor, Action.DIRECTORY_READ)
        async with self.uow:
            teams = await self.uow.teams.list(Page(DIRECTORY_LIMIT))
        return sorted(teams.items, key=lambda t: (t.name.casefold(), t.id))

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody
from msgspec import UNSET, Meta, Struct, UnsetType

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import Limit, Offset, Page, PathId, RequestBody, changes, page, page_of, response
from incidentcore.permissions import Action
from incidentcore.services import TeamChanges, Teams
from incidentcore.validation import NOTE_MAX, SHORT_NAME_MAX


class CreateTeamRequest(RequestBody):
    name: Annotated[str, Meta(max_length=SHORT_NAME_MAX)]
    description: Annotated[str, Meta(max_length=NOTE_MAX)] | None = None


class UpdateTeamRequest(RequestBody):
    name: Annotated[str, Meta(max_length=SHORT_NAME_MAX)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=NOTE_MAX)] | UnsetType | None = UNSET


class TeamResponse(Struct):
    id: int
    name: str
    description: str | None
    created_at: datetime | None


class TeamPage(Page[TeamResponse]):
    """A page of teams."""



class TeamsController(Controller):
    path = "/v1/teams"
    tags = ["teams"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY
    guards = [permits(Action.TEAM_MANAGE)]

    @get("/", summary="List teams (admin)", responses=responses(400, 401, 403))
    @inject
    async def list_teams(
        self, actor: Actor, teams: FromDishka[Teams], limit: Limit = 50, offset: Offset = 0
    ) -> TeamPage:
        paged = await teams.list(actor, page(limit, offset))
        return page_of(TeamPage, paged)

    @post("/", status_code=201, summary="Create a team (admin)", responses=responses(400, 401, 403, 409, 413))
    @inject
    async def create_team(self, actor: Actor, data: JSONBody[CreateTeamRequest], teams: FromDishka[Teams]) -> TeamResponse:
        return response(await teams.create(actor, data.name, data.description), TeamResponse)

    @get("/{team_id:int}", summary="Get a team (admin)", responses=responses(400, 401, 403, 404))
    @inject
    async def get_team(self, actor: Actor, team_id: PathId, teams: FromDishka[Teams]) -> TeamResponse:
        return response(await teams.get(actor, team_id), TeamResponse)

    @put("/{team_id:int}", summary="Update a team (admin)", responses=responses(400, 401, 403, 404, 409, 413))
    @inject
    async def update_team(
        self, actor: Actor, team_id: PathId, data: JSONBody[UpdateTeamRequest], teams: FromDishka[Teams]
    ) -> TeamResponse:
        return response(await teams.update(actor, team_id, changes(data, TeamChanges)), TeamResponse)

    @delete(
        "/{team_id:int}",
        status_code=204,
        summary="Delete a team (admin)",
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_team(self, actor: Actor, team_id: PathId, teams: FromDishka[Teams]) -> None:
        """409 while users, incidents, policies or integrations reference the team."""
        await teams.delete(actor, team_id)

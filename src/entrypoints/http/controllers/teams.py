from __future__ import annotations

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.parameters import Limit, Offset, PathId, page
from entrypoints.http.problems import responses
from entrypoints.http.schemas import (
    CreateTeamRequest,
    TeamPage,
    TeamResponse,
    UpdateTeamRequest,
    changes,
    page_of,
    team_response,
)
from incidentcore.permissions import Action
from incidentcore.services import TeamChanges, Teams


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
        return page_of(TeamPage, paged, [team_response(t) for t in paged.items])

    @post("/", status_code=201, summary="Create a team (admin)", responses=responses(400, 401, 403, 409, 413))
    @inject
    async def create_team(self, actor: Actor, data: JSONBody[CreateTeamRequest], teams: FromDishka[Teams]) -> TeamResponse:
        return team_response(await teams.create(actor, data.name, data.description))

    @get("/{team_id:int}", summary="Get a team (admin)", responses=responses(400, 401, 403, 404))
    @inject
    async def get_team(self, actor: Actor, team_id: PathId, teams: FromDishka[Teams]) -> TeamResponse:
        return team_response(await teams.get(actor, team_id))

    @put("/{team_id:int}", summary="Update a team (admin)", responses=responses(400, 401, 403, 404, 409, 413))
    @inject
    async def update_team(
        self, actor: Actor, team_id: PathId, data: JSONBody[UpdateTeamRequest], teams: FromDishka[Teams]
    ) -> TeamResponse:
        return team_response(await teams.update(actor, team_id, changes(data, TeamChanges)))

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

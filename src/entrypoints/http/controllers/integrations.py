from __future__ import annotations

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post
from litestar.params import JSONBody

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.parameters import Limit, Offset, PathId, page
from entrypoints.http.problems import responses
from entrypoints.http.schemas import (
    CreateIntegrationRequest,
    IntegrationPage,
    IntegrationResponse,
    integration_response,
    page_of,
)
from incidentcore.permissions import Action
from incidentcore.services import Integrations


class IntegrationsController(Controller):
    path = "/v1/integrations"
    tags = ["integrations"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY
    guards = [permits(Action.INTEGRATION_MANAGE)]

    @get("/", summary="List integrations (admin)", responses=responses(400, 401, 403))
    @inject
    async def list_integrations(
        self, actor: Actor, integrations: FromDishka[Integrations], limit: Limit = 50, offset: Offset = 0
    ) -> IntegrationPage:
        paged = await integrations.list(actor, page(limit, offset))
        return page_of(IntegrationPage, paged, [integration_response(i) for i in paged.items])

    @post(
        "/",
        status_code=201,
        summary="Create an integration (admin)",
        responses=responses(400, 401, 403, 409, 413),
    )
    @inject
    async def create_integration(
        self, actor: Actor, data: JSONBody[CreateIntegrationRequest], integrations: FromDishka[Integrations]
    ) -> IntegrationResponse:
        """An alert source bound to a team; `key` is the secret its webhook calls present."""
        return integration_response(await integrations.create(actor, data.name, data.team_id))

    @delete(
        "/{integration_id:int}",
        status_code=204,
        summary="Delete an integration (admin)",
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_integration(
        self, actor: Actor, integration_id: PathId, integrations: FromDishka[Integrations]
    ) -> None:
        await integrations.delete(actor, integration_id)

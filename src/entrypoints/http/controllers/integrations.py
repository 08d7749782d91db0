from __future__ import annotations

from datetime import datetime
from typing import Annotated

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post
from litestar.params import JSONBody
from msgspec import Meta, Struct

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import Id, Limit, Offset, Page, PathId, RequestBody, page, page_of, response
from incidentcore.permissions import Action
from incidentcore.services import Integrations
from incidentcore.validation import SHORT_NAME_MAX


class CreateIntegrationRequest(RequestBody):
    name: Annotated[str, Meta(max_length=SHORT_NAME_MAX)]
    team_id: Id


class IntegrationResponse(Struct):
    id: int
    name: str
    team_id: int
    key: str
    created_at: datetime | None


class IntegrationPage(Page[IntegrationResponse]):
    """A page of integrations."""



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
        return page_of(IntegrationPage, paged)

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
        return response(await integrations.create(actor, data.name, data.team_id), IntegrationResponse)

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

from __future__ import annotations

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.parameters import Limit, Offset, PathId, page
from entrypoints.http.problems import responses
from entrypoints.http.schemas import (
    CreatePolicyRequest,
    PolicyPage,
    PolicyResponse,
    UpdatePolicyRequest,
    new_policy,
    page_of,
    policy_changes,
    policy_response,
)
from incidentcore.permissions import Action
from incidentcore.services import Policies


class PoliciesController(Controller):
    path = "/v1/escalation/policies"
    tags = ["escalation policies"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY
    guards = [permits(Action.POLICY_MANAGE)]

    @get("/", summary="List escalation policies (admin)", responses=responses(400, 401, 403))
    @inject
    async def list_policies(
        self, actor: Actor, policies: FromDishka[Policies], limit: Limit = 50, offset: Offset = 0
    ) -> PolicyPage:
        paged = await policies.list(actor, page(limit, offset))
        return page_of(PolicyPage, paged, [policy_response(p) for p in paged.items])

    @post(
        "/",
        status_code=201,
        summary="Create an escalation policy (admin)",
        responses=responses(400, 401, 403, 409, 413),
    )
    @inject
    async def create_policy(
        self, actor: Actor, data: JSONBody[CreatePolicyRequest], policies: FromDishka[Policies]
    ) -> PolicyResponse:
        """Chosen for a new incident when active and matching its team and severity (empty
        `severities` matches any); a team's own policy wins over a global one."""
        return policy_response(await policies.create(actor, new_policy(data)))

    @get("/{policy_id:int}", summary="Get an escalation policy (admin)", responses=responses(400, 401, 403, 404))
    @inject
    async def get_policy(self, actor: Actor, policy_id: PathId, policies: FromDishka[Policies]) -> PolicyResponse:
        return policy_response(await policies.get(actor, policy_id))

    @put(
        "/{policy_id:int}",
        summary="Update an escalation policy (admin)",
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def update_policy(
        self, actor: Actor, policy_id: PathId, data: JSONBody[UpdatePolicyRequest], policies: FromDishka[Policies]
    ) -> PolicyResponse:
        """Open incidents keep the policy as it was when they triggered."""
        return policy_response(await policies.update(actor, policy_id, policy_changes(data)))

    @delete(
        "/{policy_id:int}",
        status_code=204,
        summary="Delete an escalation policy (admin)",
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_policy(self, actor: Actor, policy_id: PathId, policies: FromDishka[Policies]) -> None:
        await policies.delete(actor, policy_id)

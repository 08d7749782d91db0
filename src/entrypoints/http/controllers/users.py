from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromQuery, JSONBody, QueryParameter
from msgspec import UNSET, Meta, Struct, UnsetType

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, client_address, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import (
    Email,
    FilterId,
    Id,
    Limit,
    Name,
    Offset,
    Page,
    Password,
    PathId,
    RequestBody,
    changes,
    page,
    page_of,
    response,
)
from incidentcore.model import Role
from incidentcore.permissions import Action
from incidentcore.ports import UserFilter
from incidentcore.services import Accounts, NewUser, ProfileChanges, UserChanges
from incidentcore.validation import PASSWORD_MAX


class UserResponse(Struct):
    id: int
    email: str
    full_name: str
    role: Role
    team_id: int | None
    is_active: bool
    created_at: datetime | None


class UpdateMeRequest(RequestBody):
    full_name: Name | UnsetType = UNSET
    email: Email | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    # Needed to change the email or the password.
    current_password: Annotated[str, Meta(max_length=PASSWORD_MAX)] | UnsetType = UNSET


class CreateUserRequest(RequestBody):
    email: Email
    password: Password
    full_name: Name
    role: Role = Role.USER
    team_id: Id | None = None


class UpdateUserRequest(RequestBody):
    email: Email | UnsetType = UNSET
    full_name: Name | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    team_id: Id | UnsetType | None = UNSET
    is_active: bool | UnsetType = UNSET


class UserPage(Page[UserResponse]):
    """A page of users."""


ADMIN = [permits(Action.USER_MANAGE)]


class UsersController(Controller):
    path = "/v1/users"
    tags = ["users"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY

    @get("/me", summary="Get my profile", guards=[permits(Action.SELF_MANAGE)], responses=responses(401))
    async def get_me(self, actor: Actor) -> UserResponse:
        return response(actor, UserResponse)

    @put(
        "/me",
        summary="Update my profile",
        guards=[permits(Action.SELF_MANAGE)],
        responses=responses(400, 401, 409, 413, 429),
    )
    @inject
    async def update_me(
        self,
        request: Request[Any, Any, Any],
        actor: Actor,
        data: JSONBody[UpdateMeRequest],
        accounts: FromDishka[Accounts],
    ) -> UserResponse:
        """Name, email and password only. A new email or password needs `current_password` (400
        naming it when missing or wrong; wrong ones count toward the login throttle, 429). A new
        email or password ends every earlier access token and every outstanding reset token."""
        return response(await accounts.update_me(actor, changes(data, ProfileChanges), client_address(request)), UserResponse)

    @get("/", summary="List users (admin)", guards=ADMIN, responses=responses(400, 401, 403))
    @inject
    async def list_users(
        self,
        actor: Actor,
        accounts: FromDishka[Accounts],
        team_id: FilterId = None,
        role: FromQuery[Role | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> UserPage:
        """Filter by team, role, or `q` (part of the email or name)."""
        paged = await accounts.list_users(actor, UserFilter(team_id, role, q or None), page(limit, offset))
        return page_of(UserPage, paged)

    @post("/", status_code=201, summary="Create a user (admin)", guards=ADMIN, responses=responses(400, 401, 403, 409, 413))
    @inject
    async def create_user(self, actor: Actor, data: JSONBody[CreateUserRequest], accounts: FromDishka[Accounts]) -> UserResponse:
        new = NewUser(data.email, data.password, data.full_name, data.role, data.team_id)
        return response(await accounts.create_user(actor, new), UserResponse)

    @get("/{user_id:int}", summary="Get a user (admin)", guards=ADMIN, responses=responses(400, 401, 403, 404))
    @inject
    async def get_user(self, actor: Actor, user_id: PathId, accounts: FromDishka[Accounts]) -> UserResponse:
        return response(await accounts.get_user(actor, user_id), UserResponse)

    @put(
        "/{user_id:int}",
        summary="Update a user (admin)",
        guards=ADMIN,
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def update_user(
        self, actor: Actor, user_id: PathId, data: JSONBody[UpdateUserRequest], accounts: FromDishka[Accounts]
    ) -> UserResponse:
        """May also set role, team and whether the account is active. A new email or password, or
        deactivation, ends the user's access tokens and outstanding reset tokens."""
        return response(await accounts.update_user(actor, user_id, changes(data, UserChanges)), UserResponse)

    @delete(
        "/{user_id:int}",
        status_code=204,
        summary="Delete a user (admin)",
        guards=ADMIN,
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_user(self, actor: Actor, user_id: PathId, accounts: FromDishka[Accounts]) -> None:
        """409 while incidents or comments still reference the user: deactivate instead."""
        await accounts.delete_user(actor, user_id)

from __future__ import annotations

from typing import Annotated, Any, Literal

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody, URLEncodedBody
from msgspec import Meta, Struct

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, client_address, permits
from entrypoints.http.controllers.users import UserResponse
from entrypoints.http.problems import responses
from entrypoints.http.wire import Email, Message, Name, Password, RequestBody, response
from incidentcore.permissions import Action
from incidentcore.services import Accounts


class SignupRequest(RequestBody):
    email: Email
    password: Password
    full_name: Name


class LoginForm(Struct):
    """The OAuth2 password grant form; `grant_type`, `scope` and client fields are accepted and unused."""

    username: str
    password: str
    grant_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class AccessTokenResponse(Struct):
    access_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"


class ResetPasswordRequest(RequestBody):
    token: Annotated[str, Meta(max_length=200)]
    new_password: Password


RECOVERY_MESSAGE = "If that address belongs to an active account, a password reset token is on its way."


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/signup", status_code=201, summary="Sign up", responses=responses(400, 403, 409, 413, 429))
    @inject
    async def signup(
        self, request: Request[Any, Any, Any], data: JSONBody[SignupRequest], accounts: FromDishka[Accounts]
    ) -> UserResponse:
        """Creates an account with the role `user` and no team. 403 while sign-up is closed
        (`SIGNUP_ENABLED`) or closed to the email's domain (`SIGNUP_ALLOWED_DOMAINS`); a few
        sign-ups per client address, then 429 with `Retry-After`."""
        return response(
            await accounts.signup(data.email, data.password, data.full_name, client_address(request))
        , UserResponse)

    @post(
        "/login/access-token",
        status_code=200,
        summary="Log in (OAuth2 password grant)",
        responses=responses(400, 401, 429),
    )
    @inject
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[LoginForm],
        accounts: FromDishka[Accounts],
    ) -> AccessTokenResponse:
        """`username` is the email. Unknown email and wrong password get the same 401. Repeated
        failures for one account from one client address, or from one address overall, are refused
        with 429 and `Retry-After`; failures for an account from many addresses only slow its
        logins down (a few seconds at most), so nobody can lock its owner out."""
        token = await accounts.login(data.username, data.password, client_address(request))
        return AccessTokenResponse(access_token=token.token, expires_in=token.expires_in)

    @post(
        "/login/test-token",
        status_code=200,
        summary="Check a token",
        guards=[permits(Action.SELF_MANAGE)],
        security=BEARER,
        dependencies=ACTOR_DEPENDENCY,
        responses=responses(401),
    )
    async def test_token(self, actor: Actor) -> UserResponse:
        """The user the bearer token belongs to."""
        return response(actor, UserResponse)

    @post(
        "/password-recovery/{email:str}",
        status_code=202,
        summary="Request a password reset token",
        responses=responses(400, 429),
    )
    @inject
    async def recover_password(
        self, request: Request[Any, Any, Any], email: FromPath[str], accounts: FromDishka[Accounts]
    ) -> Message:
        """Answers the same for known and unknown addresses; a known user gets a single-use token.
        A client address asking too often is refused with 429 and `Retry-After`."""
        await accounts.request_password_reset(email, client_address(request))
        return Message(RECOVERY_MESSAGE)

    @post(
        "/reset-password/",
        status_code=200,
        summary="Reset a password with a reset token",
        responses=responses(400, 413, 429),
    )
    @inject
    async def reset_password(
        self, request: Request[Any, Any, Any], data: JSONBody[ResetPasswordRequest], accounts: FromDishka[Accounts]
    ) -> Message:
        """400 for a token that is unknown, expired, used, or older than a later change of the
        account's password or email or its deactivation. Repeated failures from one client address
        are refused with 429 and `Retry-After`."""
        await accounts.reset_password(data.token, data.new_password, client_address(request))
        return Message("The password has been changed.")

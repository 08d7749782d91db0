"""Authentication and the RBAC guards, both driven by the domain's permission table.

Guards cannot be injected, so they pull the Accounts use case from the request's dishka container.
The authenticated user is kept on the connection state for the handler (`actor` dependency).
"""

from __future__ import annotations

from typing import Any

from dishka import AsyncContainer
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import SecurityRequirement
from litestar.types import Guard

from incidentcore.errors import AuthenticationFailed, PermissionDenied
from incidentcore.model import User
from incidentcore.permissions import PERMISSIONS, Action, can
from incidentcore.ports import TokenClaims, UnitOfWork
from incidentcore.services import Accounts

SECURITY_SCHEME = "OAuth2PasswordBearer"
BEARER: list[SecurityRequirement] = [{SECURITY_SCHEME: []}]
TOKEN_URL = "/v1/auth/login/access-token"

_ACTOR = "actor"


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's IP address (behind a trusted proxy, from X-Forwarded-For: see FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    """The active user the bearer token belongs to; 401 otherwise. Cached on the connection."""
    actor = connection.state.get(_ACTOR)
    if isinstance(actor, User):
        return actor
    token = bearer_token(connection.headers.get("authorization"))
    if token is None:
        raise AuthenticationFailed("a bearer token is required")
    container: AsyncContainer = connection.state.dishka_container
    await _reading_only_if_safe(connection, container)
    accounts = await container.get(Accounts)
    authenticated = await accounts.authenticate(token)
    connection.state[_ACTOR] = authenticated
    return authenticated


_SAFE_METHODS = frozenset({"GET", "HEAD"})


async def _reading_only_if_safe(connection: ASGIConnection[Any, Any, Any, Any], container: AsyncContainer) -> None:
    """A GET or HEAD only reads (HTTP's safe methods): its unit of work may skip the transaction."""
    if connection.scope.get("method") in _SAFE_METHODS:
        (await container.get(UnitOfWork)).reads_only()


SESSION_USER_ID = "user_id"
SESSION_CREDENTIALS_VERSION = "credentials_version"


def session_data(user: User) -> dict[str, int]:
    """What a web UI session holds: whose it is, and the credentials version it began under (a password
    or email change, or a deactivation, ends it as it ends the user's tokens)."""
    return {SESSION_USER_ID: user.id, SESSION_CREDENTIALS_VERSION: user.credentials_version}


async def authenticate_session(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    """The active user the connection's web session belongs to; AuthenticationFailed otherwise. Cached
    on the connection like `authenticate`."""
    actor = connection.state.get(_ACTOR)
    if isinstance(actor, User):
        return actor
    session = connection.scope.get("session")
    user_id = session.get(SESSION_USER_ID) if isinstance(session, dict) else None
    version = session.get(SESSION_CREDENTIALS_VERSION) if isinstance(session, dict) else None
    if not isinstance(user_id, int) or not isinstance(version, int):
        raise AuthenticationFailed("log in first")
    container: AsyncContainer = connection.state.dishka_container
    await _reading_only_if_safe(connection, container)
    accounts = await container.get(Accounts)
    authenticated = await accounts.authenticate_claims(TokenClaims(user_id, version))
    connection.state[_ACTOR] = authenticated
    return authenticated


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard for the web UI's pages: a web session of an active user (see `authenticate_session`)."""
    await authenticate_session(connection)


def permits(action: Action) -> Guard:
    """A guard: authenticated, and allowed `action` by the permission table.

    Actions whose rule depends on the resource (an incident's or a schedule's rules) are judged by the use case once
    it has loaded the resource; this guard only authenticates for them.
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        actor = await authenticate(connection)
        if not PERMISSIONS[action].depends_on_resource and not can(actor, action):
            raise PermissionDenied(f"{action.value} is not allowed for the role {actor.role.value}")

    guard.__name__ = f"permits_{action.name.lower()}"
    guard.action = action  # type: ignore[attr-defined]
    return guard


def current_actor(request: Request[Any, Any, Any]) -> User:
    actor = request.state.get(_ACTOR)
    if not isinstance(actor, User):  # a handler that takes `actor` without a guard: a wiring bug
        raise RuntimeError("no authenticated actor: the handler is missing its guard")
    return actor


ACTOR_DEPENDENCY = {"actor": Provide(current_actor, sync_to_thread=False)}
Actor = NamedDependency[User]
"""A handler parameter `actor: Actor` receives the authenticated user."""

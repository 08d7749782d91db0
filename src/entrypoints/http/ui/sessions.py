"""The web UI's sessions: Litestar's server-side sessions, kept in the session store the container
provides (the database's), with a cookie that script cannot read.

Two changes to Litestar's backend: the store is written only when the session changes (a login, a
logout), so page views and the lists' polling write nothing and an anonymous visit stores nothing; and
a login starts under a new session id (`start_session`), so an id planted in a browser before the
login is worth nothing after it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dishka import AsyncContainer
from litestar import Litestar, Request
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession

from entrypoints.http.auth import session_data
from entrypoints.settings import Settings
from incidentcore.model import User

UI_PATH = "/ui"
SESSION_COOKIE = "incidentcore_session"
CSRF_COOKIE = "incidentcore_csrf"
SESSION_STORE = "web-sessions"

_LOADED = "incidentcore.session_loaded"
_NEW_ID = "incidentcore.session_new_id"


class WebSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        loaded = await super().load_from_connection(connection)
        connection.scope["state"][_LOADED] = dict(loaded)
        return loaded

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        new_id = connection.scope["state"].get(_NEW_ID)
        return new_id if isinstance(new_id, str) else super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        state = connection.scope["state"]
        new_id = state.get(_NEW_ID)
        old_id = connection.cookies.get(self.config.key)
        store = self.config.get_store_from_app(connection.scope["app"])
        if scope_session is Empty or not scope_session:  # logged out, lapsed, or never logged in
            if old_id:
                await self.delete(old_id, store=store)
                MutableScopeHeaders.from_message(message).add("Set-Cookie", self._expired_cookie())
            return
        if new_id is None and scope_session == state.get(_LOADED):
            return  # unchanged: nothing to store, and the cookie stays as it is
        if new_id is not None and old_id:
            await self.delete(old_id, store=store)
        await super().store_in_message(scope_session, message, connection)

    def _expired_cookie(self) -> str:
        # Litestar's own "null" cookie keeps the configured Max-Age, which outranks its past Expires.
        config = self.config
        cookie = Cookie(
            key=config.key, value="", max_age=0, expires=0, path=config.path, domain=config.domain,
            secure=config.secure, httponly=config.httponly, samesite=config.samesite,
        )  # fmt: skip
        return cookie.to_header(header="")


@dataclass
class WebSessionConfig(ServerSideSessionConfig):
    _backend_class = WebSessionBackend


def start_session(request: Request[Any, Any, Any], user: User) -> None:
    """Signs `user` in on this browser, under a new session id."""
    request.scope["state"][_NEW_ID] = secrets.token_hex(32)
    request.set_session(session_data(user))


def end_session(request: Request[Any, Any, Any]) -> None:
    """Signs the browser out: the session is deleted from the store and its cookie expired."""
    request.clear_session()


def _derived(secret: str, purpose: str) -> str:
    return hashlib.sha256(f"{purpose}:{secret}".encode()).hexdigest()


def session_config(settings: Settings) -> WebSessionConfig:
    return WebSessionConfig(
        key=SESSION_COOKIE,
        store=SESSION_STORE,
        max_age=settings.web_session_hours * 3600,
        path=UI_PATH,
        secure=settings.public_url.lower().startswith("https://"),
        httponly=True,
        samesite="lax",
        scopes={ScopeType.HTTP},
    )


def csrf_config(settings: Settings) -> CSRFConfig:
    """Double-submit CSRF tokens signed with a key derived from SECRET_KEY; every form carries one."""
    return CSRFConfig(
        secret=_derived(settings.secret_key, "csrf"),
        cookie_name=CSRF_COOKIE,
        cookie_path=UI_PATH,
        cookie_secure=settings.public_url.lower().startswith("https://"),
        cookie_httponly=True,
        cookie_samesite="lax",
    )


def register_session_store(container: AsyncContainer) -> Callable[[Litestar], Awaitable[None]]:
    """An `on_startup` hook: the container's session store, where the session middleware looks for it."""

    async def register(app: Litestar) -> None:
        app.stores.register(SESSION_STORE, await container.get(Store), allow_override=True)

    return register

"""The web UI for responders under `/ui/`: server-rendered pages (Jinja2) with htmx, on the same use
cases as the JSON API. Sessions and CSRF protection apply to these routes only; the JSON API keeps its
bearer tokens, the alert webhooks their integration keys."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins.htmx import ClientRedirect, HTMXRequest
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from entrypoints.http.auth import current_actor
from entrypoints.http.problems import domain_error_handler, http_exception_handler, unexpected_error_handler
from entrypoints.http.ui.pages import PAGE_CONTROLLERS, error_fragment, error_page
from entrypoints.http.ui.sessions import (
    UI_PATH,
    csrf_config,
    end_session,
    register_session_store,
    session_config,
)
from entrypoints.http.ui.templating import template_config
from entrypoints.settings import Settings
from incidentcore.errors import AuthenticationFailed, DomainError
from incidentcore.model import User

__all__ = ["UI_PATH", "register_session_store", "template_config", "ui_router"]

logger = logging.getLogger("incidentcore.ui")


def _actor(request: Request[Any, Any, Any]) -> User | None:
    try:
        return current_actor(request)
    except RuntimeError:
        return None


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    # Exception handlers get the app's request class, not the router's HTMXRequest: read the header.
    return request.headers.get("hx-request") == "true"


def signed_out(request: Request[Any, Any, Any], error: AuthenticationFailed) -> Response[Any]:
    """No session, or one that ended (logout elsewhere, a new password, deactivation): to the login
    page, and back here after it. A dead session is removed from the store."""
    end_session(request)
    here = request.url.path if request.method == "GET" else request.headers.get("hx-current-url") or ""
    in_ui = here == UI_PATH or here.startswith(f"{UI_PATH}/")
    target = f"{UI_PATH}/login?next={quote(here)}" if in_ui else f"{UI_PATH}/login"
    if _is_htmx(request):  # a fragment request: the whole page goes to the login
        return ClientRedirect(target)
    return Redirect(target, status_code=303)


def shown_error(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Every other error as the problem+json answer would say it, shown as HTML: in the page's message
    area for htmx, else as a page. The status stays (a forged request is still a 403)."""
    if isinstance(error, DomainError):
        problem = domain_error_handler(request, error)
    elif isinstance(error, HTTPException):
        problem = http_exception_handler(request, error)
    else:
        problem = unexpected_error_handler(request, error)
    body = problem.content
    message = body.detail
    if body.errors:
        message = "; ".join(f"{e.field}: {e.message}" for e in body.errors)
    response = (
        error_fragment(body.status, message)
        if _is_htmx(request)
        else error_page(body.status, HTTPStatus(body.status).phrase, message, _actor(request))
    )
    response.headers.update({k: v for k, v in problem.headers.items() if k.lower() != "www-authenticate"})
    return response


UI_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    AuthenticationFailed: signed_out,
    DomainError: shown_error,
    ValidationException: shown_error,
    HTTPException: shown_error,
    Exception: shown_error,
}


def ui_router(settings: Settings) -> Router:
    """The pages under /ui/, with sessions (server-side) and CSRF checks on their own routes only."""
    return Router(
        path="/",
        route_handlers=PAGE_CONTROLLERS,
        middleware=[
            session_config(settings).middleware,
            DefineMiddleware(CSRFMiddleware, config=csrf_config(settings)),
        ],
        exception_handlers=UI_EXCEPTION_HANDLERS,
        request_class=HTMXRequest,
        include_in_schema=False,
    )

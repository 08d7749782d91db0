"""What every request and response goes through, whatever the route: the request checks that run
before any handler, and the security headers on every answer (errors and 404s included)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import NotFoundException
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT
from litestar.types import Message, Scope

from entrypoints.http.problems import check_body
from incidentcore.errors import FieldError, ValidationFailed

# Sent on every answer unless the handler set its own (the docs pages set a CSP that lets their
# scripts run; static files set a long Cache-Control). The API's answers carry tokens and incident
# data: no cache keeps them, no page frames them, no browser sniffs them into HTML.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cache-control": "no-store",
}

_ALLOWED_METHODS = "incidentcore_allowed_methods"


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook: runs for every response the app sends, routed or not."""
    if message["type"] == "http.response.start":
        headers = MutableScopeHeaders.from_message(message)
        for name, value in SECURITY_HEADERS.items():
            if name not in headers:
                headers[name] = value


def index_allowed_methods(app: Litestar) -> None:
    """An `on_startup` hook: every path template's methods, for OPTIONS. Litestar 2's own OPTIONS
    handler remembers only the methods registered before it was made (litestar#4169)."""
    app.state[_ALLOWED_METHODS] = {
        route.path_format: ", ".join(sorted(route.methods)) for route in app.routes if isinstance(route, HTTPRoute)
    }


async def check_request(request: Request[Any, Any, Any]) -> Response[None] | None:
    """Before every handler: no encoded slash in the path (it would act as a separator); OPTIONS
    answered with every method of the path; no NUL characters in parameters (no database stores
    them); then the body check (a JSON content type on JSON routes, no NUL, strictly typed)."""
    raw_path = request.scope.get("raw_path") or b""
    if b"%2f" in raw_path.split(b"?", 1)[0].lower():
        raise NotFoundException("No resource at this address: a path segment holds an encoded slash (%2F).")
    if request.method == "OPTIONS":
        allowed = request.app.state.get(_ALLOWED_METHODS, {}).get(request.scope.get("path_template"))
        if allowed:
            return Response(None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": allowed})
    for source, values in (("query", request.query_params), ("path", request.path_params)):
        for name, value in values.items():
            if "\x00" in str(value):
                raise ValidationFailed(FieldError(name, f"the {source} parameter contains a NUL character"))
    await check_body(request)
    return None

"""Every HTTP request observed once: its id, its access line, its metrics.

Wraps the whole app (outside routing), so a request no route matches is seen too. The request id is
the one a proxy in front set (`X-Request-ID`, when it is a sane token) or a new one; it is answered in
`X-Request-ID`, carried by every log line the request causes (`REQUEST_ID`) and named in a 500's
problem. The access line replaces uvicorn's: method, path (secret query values masked), status,
duration, route template and request id, as fields in JSON logs. Metrics use the route template,
never the path, so ids in paths do not make a series each.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from adapters.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from entrypoints.log_hygiene import REQUEST_ID, redact_query_secrets

access_logger = logging.getLogger("incidentcore.access")

REQUEST_ID_HEADER = b"x-request-id"
# What a proxy's id may be: a UUID, a hex or base64url token, an AWS-style trace id. Anything else
# (too long, spaces, control characters) is replaced by our own.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
UNMATCHED_ROUTE = "unmatched"  # no route: 404 for an unknown path, 405 for a method a path lacks
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            given = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


class RequestObservation:
    """ASGI middleware around the app's handler (see `create_app`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        # as asked (routing rewrites scope["path"] to its normalised form), secret query values masked
        path = redact_query_secrets(scope["path"] + (f"?{query}" if query else ""))
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        answered: dict[str, Any] = {"status": 500, "at": None}

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                headers = list(message.get("headers") or [])
                if not any(name.lower() == REQUEST_ID_HEADER for name, _ in headers):
                    headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                answered["at"] = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = (answered["at"] or time.perf_counter()) - started
            self._observe(scope, path, int(answered["status"]), seconds)
            REQUEST_ID.reset(token)

    @staticmethod
    def _observe(scope: HTTPScope, path: str, status: int, seconds: float) -> None:
        route = scope.get("path_template") or UNMATCHED_ROUTE  # set by Litestar's router once it matched
        method = scope["method"] if scope["method"] in METHODS else "other"
        HTTP_REQUESTS.labels(route, method, str(status)).inc()
        HTTP_REQUEST_DURATION.labels(route, method).observe(seconds)
        client = scope.get("client")
        address = f"{client[0]}:{client[1]}" if client else "-"
        duration_ms = round(seconds * 1000, 3)
        access_logger.info(
            '%s - "%s %s HTTP/%s" %d %.1fms request_id=%s',
            address,
            scope["method"],
            path,
            scope.get("http_version", "1.1"),
            status,
            duration_ms,
            REQUEST_ID.get(),
            extra={
                "method": scope["method"],
                "path": path,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "client": address,
            },
        )

from __future__ import annotations

import secrets
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, MediaType, Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from msgspec import Struct

from adapters.health import DatabaseHealth


class ServiceInfo(Struct):
    name: str
    version: str
    docs: str
    ui: str


class Health(Struct):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]


class Liveness(Struct):
    status: Literal["ok"]


class Readiness(Struct):
    status: Literal["ok", "error"]
    reason: str | None = None


SERVICE_NAME = "incidentcore"
DOCS_PATH = "/docs"
UI_HOME = "/ui/"


def service_version() -> str:
    try:
        return version(SERVICE_NAME)
    except PackageNotFoundError:
        return "0+unknown"


STATIC_PATH = "/static"
STATIC_DIRECTORY = Path(__file__).parent.parent / "static"
# Served from the package (see static/vendor/VENDORED.md): the docs work offline and run no third-party
# script; a nonce lets only the page's own inline start-up script run beside them.
SWAGGER_UI = f"{STATIC_PATH}/vendor/swagger-ui-5.35.0"
REDOC = f"{STATIC_PATH}/vendor/redoc-2.5.4/redoc.standalone.js"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_swagger = SwaggerRenderPlugin(
    js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
    css_url=f"{SWAGGER_UI}/swagger-ui.css",
    standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
    favicon="",
    init_oauth={"usePkceWithAuthorizationCodeGrant": False},
)
_redoc = RedocRenderPlugin(js_url=REDOC, google_fonts=False, favicon="")


def static_files() -> Router:
    """The package's static files; versioned paths, so browsers may keep them for a year."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIRECTORY],
        cache_control=CacheControlHeader(max_age=365 * 24 * 3600, public=True, immutable=True),
        include_in_schema=False,
    )


def docs_page(html: bytes) -> Response[bytes]:
    nonce = secrets.token_urlsafe(16)
    html = html.replace(b"<script ", f'<script nonce="{nonce}" '.encode())
    return Response(html, media_type=MediaType.HTML, headers={"Content-Security-Policy": DOCS_CSP.format(nonce=nonce)})


def _schema(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


class ServiceController(Controller):
    tags = ["service"]

    @get("/", summary="Service information")
    async def root(self, request: Request[Any, Any, Any]) -> Response[ServiceInfo]:
        """`ui` is the web UI's address; a browser (one that prefers HTML) is sent there (303)."""
        if request.accept.best_match([MediaType.JSON, MediaType.HTML]) == MediaType.HTML:
            return Redirect(UI_HOME, status_code=303)
        return Response(ServiceInfo(name=SERVICE_NAME, version=service_version(), docs=DOCS_PATH, ui=UI_HOME))

    @get(
        "/health",
        summary="Health check",
        responses={503: ResponseSpec(data_container=Health, description="The database is unreachable", generate_examples=False)},
    )
    @inject
    async def health(self, database: FromDishka[DatabaseHealth]) -> Response[Health]:
        if await database.ping():
            return Response(Health(status="ok", database="ok"))
        return Response(Health(status="error", database="error"), status_code=503)

    @get("/health/live", summary="Liveness: the process is up")
    async def live(self) -> Liveness:
        """Answers 200 while the process serves requests, whatever the database does: a failing
        liveness check means restart the process, which a database outage does not call for."""
        return Liveness(status="ok")

    @get(
        "/health/ready",
        summary="Readiness: the database answers and its migrations are at head",
        responses={503: ResponseSpec(data_container=Readiness, description="Not ready, with the reason", generate_examples=False)},
    )
    @inject
    async def ready(self, database: FromDishka[DatabaseHealth]) -> Response[Readiness]:
        """503 with the reason while the database does not answer or its schema is not the one this
        version expects (run `incidentcore migrate`); send traffic elsewhere until then."""
        reason = await database.not_ready()
        if reason is None:
            return Response(Readiness(status="ok"))
        return Response(Readiness(status="error", reason=reason), status_code=503)

    @get(DOCS_PATH, media_type=MediaType.HTML, include_in_schema=False)
    async def swagger_ui(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return docs_page(_swagger.render(request, _schema(request)))

    @get("/redoc", media_type=MediaType.HTML, include_in_schema=False)
    async def redoc(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return docs_page(_redoc.render(request, _schema(request)))

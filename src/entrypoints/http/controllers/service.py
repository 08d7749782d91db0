from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, MediaType, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin

from adapters.health import DatabaseHealth
from entrypoints.http.schemas import Health, ServiceInfo

SERVICE_NAME = "incidentcore"
DOCS_PATH = "/docs"


def service_version() -> str:
    try:
        return version(SERVICE_NAME)
    except PackageNotFoundError:
        return "0+unknown"


_swagger = SwaggerRenderPlugin(init_oauth={"usePkceWithAuthorizationCodeGrant": False})
_redoc = RedocRenderPlugin()


def _schema(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return request.app.openapi_schema.to_schema()


class ServiceController(Controller):
    tags = ["service"]

    @get("/", summary="Service information")
    async def root(self) -> ServiceInfo:
        return ServiceInfo(name=SERVICE_NAME, version=service_version(), docs=DOCS_PATH)

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

    @get(DOCS_PATH, media_type=MediaType.HTML, include_in_schema=False)
    async def swagger_ui(self, request: Request[Any, Any, Any]) -> bytes:
        return _swagger.render(request, _schema(request))

    @get("/redoc", media_type=MediaType.HTML, include_in_schema=False)
    async def redoc(self, request: Request[Any, Any, Any]) -> bytes:
        return _redoc.render(request, _schema(request))

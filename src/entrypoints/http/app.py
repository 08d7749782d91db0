"""The Litestar application factory."""

from __future__ import annotations

from dataclasses import replace

from dishka import AsyncContainer
from dishka.integrations.litestar import setup_dishka
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import (
    Components,
    OAuthFlow,
    OAuthFlows,
    OpenAPIResponse,
    RequestBody,
    SecurityScheme,
    Tag,
)

from entrypoints.di import build_container
from entrypoints.http.auth import SECURITY_SCHEME, TOKEN_URL
from entrypoints.http.controllers import API_CONTROLLERS, ServiceController
from entrypoints.http.controllers.metrics import metrics_handler
from entrypoints.http.controllers.service import service_version, static_files
from entrypoints.http.hardening import add_security_headers, check_request, index_allowed_methods
from entrypoints.http.observation import RequestObservation
from entrypoints.http.problems import EXCEPTION_HANDLERS, PROBLEM_DESCRIPTIONS
from entrypoints.http.ui import register_session_store, template_config, ui_router
from entrypoints.settings import Settings, configure_logging
from entrypoints.worker import run_worker_alongside

OPENAPI_PATH = "/v1/openapi.json"

# API.md writes these collection paths with a trailing slash; Litestar matches both forms but
# documents paths without it, so the published spec is put back in the contract's spelling.
CONTRACT_TRAILING_SLASH_PATHS = (
    "/v1/teams",
    "/v1/users",
    "/v1/incidents",
    "/v1/escalation/policies",
    "/v1/integrations",
    "/v1/auth/reset-password",
    "/v1/schedules",
    "/v1/maintenance-windows",
    "/v1/heartbeats",
)

TAGS = [
    Tag(name="auth", description="Sign-up, login (OAuth2 password grant), password recovery"),
    Tag(name="users", description="Profiles and user administration"),
    Tag(name="teams", description="Team administration"),
    Tag(name="incidents", description="Incidents, their actions, comments, timeline and pages"),
    Tag(name="escalation policies", description="Who is paged, in which order, after how long"),
    Tag(name="notification preferences", description="Channels, addresses and severity thresholds"),
    Tag(name="integrations", description="Alert sources and their keys"),
    Tag(name="alerts", description="Webhooks monitoring tools call"),
    Tag(name="schedules", description="On-call rotations, overrides, and who is on call when"),
    Tag(name="calendar feeds", description="On-call shifts in any calendar app"),
    Tag(name="maintenance windows", description="Silencing alerts while work is under way"),
    Tag(name="heartbeats", description="Monitors of jobs that ping: a missed ping opens an incident"),
    Tag(name="service", description="Health and service information"),
]

DESCRIPTION = """Incident management and on-call paging.

Log in with **Authorize** (your email as the username), or POST the form to `/v1/auth/login/access-token`
and send `Authorization: Bearer <access_token>`. Errors are RFC 9457 problem details."""


def openapi_config() -> OpenAPIConfig:
    password_flow = OAuthFlows(password=OAuthFlow(token_url=TOKEN_URL, scopes={}))
    return OpenAPIConfig(
        title="incidentcore",
        version=service_version(),
        description=DESCRIPTION,
        path=OPENAPI_PATH,
        render_plugins=[JsonRenderPlugin(path="/")],
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="oauth2", flows=password_flow, description="Email and password; a JWT bearer token"
                )
            }
        ),
        tags=TAGS,
        use_handler_docstrings=True,
    )


def document_json_only_bodies(app: Litestar) -> None:
    """Every operation with a JSON body also answers 415 (another content type): say so in the spec."""
    for item in (app.openapi_schema.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.patch, item.delete):
            body = operation.request_body if operation is not None else None
            if operation is None or operation.responses is None or not isinstance(body, RequestBody):
                continue
            invalid = operation.responses.get("400")  # the same problem+json shape, another description
            if "application/json" in body.content and isinstance(invalid, OpenAPIResponse):
                operation.responses.setdefault("415", replace(invalid, description=PROBLEM_DESCRIPTIONS[415]))


def spell_paths_as_contract(app: Litestar) -> None:
    paths = app.openapi_schema.paths
    if paths is None:
        return
    for path in CONTRACT_TRAILING_SLASH_PATHS:
        if path in paths:
            paths[path + "/"] = paths.pop(path)


def create_app(settings: Settings, container: AsyncContainer | None = None) -> Litestar:
    """The HTTP app. Without `container` it builds one from `settings` and closes it on shutdown."""
    owns_container = container is None
    di_container = build_container(settings) if container is None else container

    async def close_container() -> None:
        await di_container.close()

    app = Litestar(
        route_handlers=[
            ServiceController,
            static_files(),
            *API_CONTROLLERS,
            ui_router(settings),
            *([metrics_handler(settings)] if settings.metrics_enabled else []),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=check_request,
        before_send=[add_security_headers],
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        on_startup=[
            spell_paths_as_contract,
            document_json_only_bodies,
            index_allowed_methods,
            register_session_store(di_container),
        ],
        on_shutdown=[close_container] if owns_container else [],
        # Lifespans end before the shutdown hooks: the worker stops before the container closes.
        lifespan=[run_worker_alongside(di_container, settings)] if settings.worker_enabled else [],
        template_config=template_config(),
        logging_config=None,
        debug=False,
    )
    setup_dishka(di_container, app)
    # Outside routing (as Litestar's own OpenTelemetry middleware sits): requests no route matches count too.
    app.asgi_handler = RequestObservation(app.asgi_handler)
    return app


def app_from_environment() -> Litestar:
    """For `uvicorn --factory` (each worker process builds its own app from the environment)."""
    settings = Settings.from_environment()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)

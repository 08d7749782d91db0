from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, Meta, Struct, UnsetType, field

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import FilterId, Id, Limit, Offset, Page, PathId, RequestBody, page, page_of, sent
from incidentcore.maintenance import MaintenanceWindow, MaintenanceWindowChanges
from incidentcore.model import Severity
from incidentcore.permissions import Action
from incidentcore.ports import Clock
from incidentcore.services import MaintenanceWindows
from incidentcore.validation import NOTE_MAX

Description = Annotated[str, Meta(max_length=NOTE_MAX)]
IntegrationIds = Annotated[list[Id], Meta(max_length=MaintenanceWindow.MAX_INTEGRATIONS)]


class CreateMaintenanceWindowRequest(RequestBody):
    """From `start` to `end` (instants with an offset; `end` in the future), alerts of the listed
    integrations and of every integration of `team_id` are suppressed."""

    description: Description
    start: datetime
    end: datetime
    team_id: Id | None = None
    integration_ids: IntegrationIds = field(default_factory=list)


class UpdateMaintenanceWindowRequest(RequestBody):
    description: Description | UnsetType = UNSET
    start: datetime | UnsetType = UNSET
    end: datetime | UnsetType = UNSET
    team_id: Id | UnsetType | None = UNSET
    integration_ids: IntegrationIds | UnsetType = UNSET


class MaintenanceWindowResponse(Struct):
    id: int
    description: str
    start: datetime
    end: datetime
    team_id: int | None
    integration_ids: list[int]
    created_by_id: int | None
    created_at: datetime | None
    active: bool


class MaintenanceWindowPage(Page[MaintenanceWindowResponse]):
    """A page of maintenance windows, by start."""


class SuppressedAlertResponse(Struct):
    id: int
    window_id: int
    integration_id: int | None
    dedup_key: str
    source: str
    title: str
    severity: Severity
    received_at: datetime
    data: dict[str, Any]


class SuppressedAlertPage(Page[SuppressedAlertResponse]):
    """A page of the alerts a window suppressed, oldest first."""


def window_response(window: MaintenanceWindow, now: datetime) -> MaintenanceWindowResponse:
    return MaintenanceWindowResponse(
        id=window.id,
        description=window.description,
        start=window.start,
        end=window.end,
        team_id=window.team_id,
        integration_ids=list(window.integration_ids),
        created_by_id=window.created_by_id,
        created_at=window.created_at,
        active=window.is_active(now),
    )


def window_changes(body: UpdateMaintenanceWindowRequest) -> MaintenanceWindowChanges:
    fields = sent(body)
    if "integration_ids" in fields:
        fields["integration_ids"] = tuple(fields["integration_ids"])
    return MaintenanceWindowChanges(**fields)


class MaintenanceWindowsController(Controller):
    path = "/v1/maintenance-windows"
    tags = ["maintenance windows"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY

    @get(
        "/",
        summary="List maintenance windows",
        guards=[permits(Action.MAINTENANCE_READ)],
        responses=responses(400, 401),
    )
    @inject
    async def list_windows(
        self,
        actor: Actor,
        windows: FromDishka[MaintenanceWindows],
        clock: FromDishka[Clock],
        team_id: FilterId = None,
        active: Annotated[
            bool | None, QueryParameter(description="Only windows on now (true), or not on now (false)")
        ] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> MaintenanceWindowPage:
        """By start. `team_id`: the windows of that team (not those only listing its integrations)."""
        paged = await windows.list(actor, team_id, active, page(limit, offset))
        now = clock.now()
        return page_of(MaintenanceWindowPage, paged, [window_response(w, now) for w in paged.items])

    @post(
        "/",
        status_code=201,
        summary="Create a maintenance window",
        guards=[permits(Action.MAINTENANCE_MANAGE)],
        responses=responses(400, 401, 403, 413),
    )
    @inject
    async def create_window(
        self,
        actor: Actor,
        data: JSONBody[CreateMaintenanceWindowRequest],
        windows: FromDishka[MaintenanceWindows],
        clock: FromDishka[Clock],
    ) -> MaintenanceWindowResponse:
        """While it is on, alerts of the listed integrations and of every integration of `team_id` open
        no incident and page nobody: they are answered `suppressed` and kept (see its
        `suppressed-alerts`). Incidents already open go on as before. For admins, and team leads and
        above of every team it silences (its team, and the teams of the listed integrations)."""
        window = MaintenanceWindow(
            description=data.description,
            start=data.start,
            end=data.end,
            team_id=data.team_id,
            integration_ids=tuple(data.integration_ids),
        )
        return window_response(await windows.create(actor, window), clock.now())

    @get(
        "/{window_id:int}",
        summary="Get a maintenance window",
        guards=[permits(Action.MAINTENANCE_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def get_window(
        self,
        actor: Actor,
        window_id: PathId,
        windows: FromDishka[MaintenanceWindows],
        clock: FromDishka[Clock],
    ) -> MaintenanceWindowResponse:
        return window_response(await windows.get(actor, window_id), clock.now())

    @put(
        "/{window_id:int}",
        summary="Edit or end a maintenance window",
        guards=[permits(Action.MAINTENANCE_MANAGE)],
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def update_window(
        self,
        actor: Actor,
        window_id: PathId,
        data: JSONBody[UpdateMaintenanceWindowRequest],
        windows: FromDishka[MaintenanceWindows],
        clock: FromDishka[Clock],
    ) -> MaintenanceWindowResponse:
        """To end a window early, set `end` to now: on a window that has started, an `end` already past
        is taken as now (the answer shows the end recorded). A started window keeps its `start`; one
        that has ended changes only its `description` (409 otherwise)."""
        window = await windows.update(actor, window_id, window_changes(data))
        return window_response(window, clock.now())

    @delete(
        "/{window_id:int}",
        status_code=204,
        summary="Delete a maintenance window",
        guards=[permits(Action.MAINTENANCE_MANAGE)],
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_window(
        self, actor: Actor, window_id: PathId, windows: FromDishka[MaintenanceWindows]
    ) -> None:
        """409 once it has suppressed alerts, so that their record stays: end it instead (PUT `end`)."""
        await windows.delete(actor, window_id)

    @get(
        "/{window_id:int}/suppressed-alerts",
        summary="The alerts a maintenance window suppressed",
        guards=[permits(Action.MAINTENANCE_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def suppressed_alerts(
        self,
        actor: Actor,
        window_id: PathId,
        windows: FromDishka[MaintenanceWindows],
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SuppressedAlertPage:
        """Oldest first, each with what its tool sent (`data`, large bodies summarised)."""
        paged = await windows.suppressed_alerts(actor, window_id, page(limit, offset))
        return page_of(SuppressedAlertPage, paged)

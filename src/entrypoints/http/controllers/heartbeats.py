from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, Meta, Struct, UnsetType

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import FilterId, Id, Limit, Offset, Page, PathId, RequestBody, page, page_of
from entrypoints.settings import Settings
from incidentcore.heartbeats import Heartbeat, HeartbeatStatus
from incidentcore.permissions import Action
from incidentcore.services import HeartbeatChanges, Heartbeats, HeartbeatState, NewHeartbeat

PATH = "/v1/heartbeats"
PING = "/ping"

Name = Annotated[str, Meta(max_length=Heartbeat.NAME_MAX)]
IntervalMinutes = Annotated[
    int, Meta(ge=1, le=Heartbeat.MAX_INTERVAL_MINUTES, description="How often the job pings, in minutes")
]
GraceMinutes = Annotated[
    int, Meta(ge=0, le=Heartbeat.MAX_GRACE_MINUTES, description="How late a ping may be, in minutes")
]


class CreateHeartbeatRequest(RequestBody):
    name: Name
    team_id: Id
    interval_minutes: IntervalMinutes
    grace_minutes: GraceMinutes = 0


class UpdateHeartbeatRequest(RequestBody):
    """`rotate_ping_url`: a new ping URL, shown in the answer; the old one stops working at once."""

    name: Name | UnsetType = UNSET
    team_id: Id | UnsetType = UNSET
    interval_minutes: IntervalMinutes | UnsetType = UNSET
    grace_minutes: GraceMinutes | UnsetType = UNSET
    rotate_ping_url: bool = False


class HeartbeatResponse(Struct):
    id: int
    name: str
    team_id: int
    interval_minutes: int
    grace_minutes: int
    created_at: datetime
    last_ping_at: datetime | None
    status: HeartbeatStatus
    incident_id: int | None  # the incident its miss opened, until the next ping
    ping_url: str | None  # shown once, at creation (or rotation): only a hash of its secret is kept


class HeartbeatPage(Page[HeartbeatResponse]):
    """Heartbeats by id; each ping URL was shown once, when it was made."""


class PingResponse(Struct):
    id: int
    status: HeartbeatStatus
    last_ping_at: datetime | None


def ping_url(settings: Settings, secret: str) -> str:
    return f"{settings.public_url}{PATH}{PING}?{urlencode({'key': secret})}"


def heartbeat_response(state: HeartbeatState, settings: Settings | None = None) -> HeartbeatResponse:
    heartbeat = state.heartbeat
    url = ping_url(settings, state.secret) if settings is not None and state.secret is not None else None
    return HeartbeatResponse(
        id=heartbeat.id,
        name=heartbeat.name,
        team_id=heartbeat.team_id,
        interval_minutes=heartbeat.interval_minutes,
        grace_minutes=heartbeat.grace_minutes,
        created_at=heartbeat.created_at,
        last_ping_at=heartbeat.last_ping_at,
        status=state.status,
        incident_id=heartbeat.incident_id,
        ping_url=url,
    )


PingKey = Annotated[str, QueryParameter(max_length=200, description="The secret in the heartbeat's ping URL")]


class HeartbeatsController(Controller):
    path = PATH
    tags = ["heartbeats"]
    dependencies = ACTOR_DEPENDENCY

    @get(
        "/",
        summary="List heartbeats",
        security=BEARER,
        guards=[permits(Action.HEARTBEAT_READ)],
        responses=responses(400, 401),
    )
    @inject
    async def list_heartbeats(
        self,
        actor: Actor,
        heartbeats: FromDishka[Heartbeats],
        team_id: FilterId = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> HeartbeatPage:
        paged = await heartbeats.list(actor, team_id, page(limit, offset))
        return page_of(HeartbeatPage, paged, [heartbeat_response(s) for s in paged.items])

    @post(
        "/",
        status_code=201,
        summary="Create a heartbeat monitor",
        security=BEARER,
        guards=[permits(Action.HEARTBEAT_MANAGE)],
        responses=responses(400, 401, 403, 413),
    )
    @inject
    async def create_heartbeat(
        self,
        actor: Actor,
        data: JSONBody[CreateHeartbeatRequest],
        heartbeats: FromDishka[Heartbeats],
        settings: FromDishka[Settings],
    ) -> HeartbeatResponse:
        """For admins, and team leads and above of its team. A job pings `ping_url` (GET or POST, no
        bearer token) at least every `interval_minutes`; with no ping for `interval_minutes +
        grace_minutes` the team gets an incident (source `heartbeat`), which the next ping resolves.
        Never pinged, it first counts as missed interval + grace after creation. The URL is its only
        credential and is shown only now."""
        new = NewHeartbeat(data.name, data.team_id, data.interval_minutes, data.grace_minutes)
        return heartbeat_response(await heartbeats.create(actor, new), settings)

    @get(
        "/{heartbeat_id:int}",
        summary="Get a heartbeat",
        security=BEARER,
        guards=[permits(Action.HEARTBEAT_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def get_heartbeat(
        self, actor: Actor, heartbeat_id: PathId, heartbeats: FromDishka[Heartbeats]
    ) -> HeartbeatResponse:
        return heartbeat_response(await heartbeats.get(actor, heartbeat_id))

    @put(
        "/{heartbeat_id:int}",
        summary="Edit a heartbeat, or rotate its ping URL",
        security=BEARER,
        guards=[permits(Action.HEARTBEAT_MANAGE)],
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def update_heartbeat(
        self,
        actor: Actor,
        heartbeat_id: PathId,
        data: JSONBody[UpdateHeartbeatRequest],
        heartbeats: FromDishka[Heartbeats],
        settings: FromDishka[Settings],
    ) -> HeartbeatResponse:
        """Moving it to another team needs the right there too. With `rotate_ping_url` the answer holds
        the new `ping_url` (shown only now) and the old URL stops working."""
        changes = HeartbeatChanges(
            **{
                name: value
                for name in ("name", "team_id", "interval_minutes", "grace_minutes")
                if (value := getattr(data, name)) is not UNSET
            }
        )
        state = await heartbeats.update(actor, heartbeat_id, changes, rotate_secret=data.rotate_ping_url)
        return heartbeat_response(state, settings)

    @delete(
        "/{heartbeat_id:int}",
        status_code=204,
        summary="Delete a heartbeat",
        security=BEARER,
        guards=[permits(Action.HEARTBEAT_MANAGE)],
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_heartbeat(self, actor: Actor, heartbeat_id: PathId, heartbeats: FromDishka[Heartbeats]) -> None:
        """Its ping URL stops working; an incident it opened stays as it is."""
        await heartbeats.delete(actor, heartbeat_id)

    @get(PING, summary="Ping a heartbeat (its URL is its credential)", responses=responses(400, 404, 409))
    @inject
    async def ping_by_get(self, heartbeats: FromDishka[Heartbeats], key: PingKey) -> PingResponse:
        """The same as POST, for tools that only GET."""
        return ping_response(await heartbeats.ping(key))

    @post(
        PING,
        status_code=200,
        summary="Ping a heartbeat (its URL is its credential)",
        responses=responses(400, 404, 409),
    )
    @inject
    async def ping_by_post(self, heartbeats: FromDishka[Heartbeats], key: PingKey) -> PingResponse:
        """The job is alive: resolves the incident its last miss opened, if that is still open. Any
        body is ignored (`curl -fsS -X POST <ping_url>` from cron)."""
        return ping_response(await heartbeats.ping(key))


def ping_response(state: HeartbeatState) -> PingResponse:
    return PingResponse(state.heartbeat.id, state.status, state.heartbeat.last_ping_at)

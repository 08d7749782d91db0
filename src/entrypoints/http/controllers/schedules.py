from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET, Meta, Struct, UnsetType, field

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import (
    FilterId,
    Id,
    Limit,
    Offset,
    Page,
    PathId,
    RequestBody,
    page,
    page_of,
    response,
    sent,
)
from incidentcore.errors import FieldError, ValidationFailed
from incidentcore.permissions import Action
from incidentcore.schedules import (
    Layer,
    OnCallSource,
    Restriction,
    Schedule,
    TurnLength,
    TurnUnit,
    Weekday,
    parse_time_of_day,
)
from incidentcore.services import NewOverride, ScheduleChanges, Schedules

Text = Annotated[str, Meta(max_length=Schedule.DESCRIPTION_MAX)]
LocalDateTime = Annotated[
    str,
    Meta(
        max_length=40,
        description="A local date-time in the schedule's time zone, without an offset",
        examples=["2026-12-07T09:00"],
    ),
]
TimeOfDay = Annotated[str, Meta(max_length=8, description="A local time of day, HH:MM", examples=["09:00"])]


class TurnLengthBody(RequestBody):
    unit: TurnUnit
    count: Annotated[int, Meta(ge=-(2**31), le=2**31)]  # the range (1 hour to 12 weeks) is the core's


class RestrictionBody(RequestBody):
    """On call from `start_time` on each of `days` (null: every day) to `end_time`; an `end_time`
    before `start_time` runs past midnight, an equal one lasts 24 hours."""

    start_time: TimeOfDay
    end_time: TimeOfDay
    days: list[Weekday] | None = None


class LayerBody(RequestBody):
    """`participants` take turns of `turn_length` in order from `start` (local wall-clock time: a
    weekly Monday 09:00 handoff stays at 09:00 across daylight saving changes), until `end`."""

    name: Annotated[str, Meta(max_length=Layer.NAME_MAX)]
    start: LocalDateTime
    turn_length: TurnLengthBody
    participants: list[Id]
    restrictions: list[RestrictionBody] = field(default_factory=list)
    end: LocalDateTime | None = None


class CreateScheduleRequest(RequestBody):
    name: Annotated[str, Meta(max_length=Schedule.NAME_MAX)]
    time_zone: Annotated[str, Meta(max_length=100, examples=["Europe/Berlin"])]
    layers: list[LayerBody] = field(default_factory=list)
    description: Text | None = None
    team_id: Id | None = None


class UpdateScheduleRequest(RequestBody):
    name: Annotated[str, Meta(max_length=Schedule.NAME_MAX)] | UnsetType = UNSET
    time_zone: Annotated[str, Meta(max_length=100)] | UnsetType = UNSET
    layers: list[LayerBody] | UnsetType = UNSET
    description: Text | UnsetType | None = UNSET
    team_id: Id | UnsetType | None = UNSET


class TurnLengthResponse(Struct):
    unit: TurnUnit
    count: int


class RestrictionResponse(Struct):
    days: list[Weekday] | None
    start_time: str
    end_time: str


class LayerResponse(Struct):
    name: str
    start: str
    turn_length: TurnLengthResponse
    participants: list[int]
    restrictions: list[RestrictionResponse]
    end: str | None


class ScheduleResponse(Struct):
    id: int
    name: str
    description: str | None
    team_id: int | None
    time_zone: str
    layers: list[LayerResponse]
    created_at: datetime | None


class SchedulePage(Page[ScheduleResponse]):
    """A page of schedules, by id."""


class CreateOverrideRequest(RequestBody):
    user_id: Id
    start: datetime
    end: datetime


class OverrideResponse(Struct):
    id: int
    schedule_id: int
    user_id: int
    start: datetime
    end: datetime
    created_by_id: int | None
    created_at: datetime


class OverridePage(Page[OverrideResponse]):
    """A page of overrides, by start."""


class OnCallResponse(Struct):
    at: datetime
    user_ids: list[int]
    source: OnCallSource | None
    layer: int | None
    until: datetime | None


class ShiftResponse(Struct):
    user_id: int
    start: datetime
    end: datetime
    source: OnCallSource
    layer: int | None


class ShiftList(Struct):
    items: list[ShiftResponse]


class OnCallShiftResponse(Struct):
    schedule_id: int
    user_id: int
    start: datetime
    end: datetime | None
    source: OnCallSource
    layer: int | None


class OnCallList(Struct):
    at: datetime
    items: list[OnCallShiftResponse]


def _local_datetime(text: str, field: str, errors: list[FieldError]) -> datetime:
    try:
        return datetime.fromisoformat(text)  # an offset, if any, the core refuses by name
    except ValueError:
        errors.append(
            FieldError(field, "must be a local date-time like 2026-12-07T09:00 (the schedule's zone applies)")
        )
        return datetime.min  # not used: the errors are raised first


def _time_of_day(text: str, field: str, errors: list[FieldError]) -> time:
    try:
        return parse_time_of_day(text, field)
    except ValidationFailed as invalid:
        errors += invalid.errors
        return time()  # not used: the errors are raised first


def domain_layers(layers: list[LayerBody]) -> tuple[Layer, ...]:
    """The layers as the core takes them; every date-time and time of day that does not parse is
    named at once (the core names the rest)."""
    errors: list[FieldError] = []
    found = []
    for i, body in enumerate(layers):
        where = f"layers[{i}]"
        restrictions = tuple(
            Restriction(
                None if r.days is None else frozenset(r.days),
                _time_of_day(r.start_time, f"{where}.restrictions[{j}].start_time", errors),
                _time_of_day(r.end_time, f"{where}.restrictions[{j}].end_time", errors),
            )
            for j, r in enumerate(body.restrictions)
        )
        found.append(
            Layer(
                name=body.name,
                start=_local_datetime(body.start, f"{where}.start", errors),
                turn_length=TurnLength(body.turn_length.unit, body.turn_length.count),
                participants=tuple(body.participants),
                restrictions=restrictions,
                end=None if body.end is None else _local_datetime(body.end, f"{where}.end", errors),
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return tuple(found)


def new_schedule(body: CreateScheduleRequest) -> Schedule:
    return Schedule(
        name=body.name,
        time_zone=body.time_zone,
        layers=domain_layers(body.layers),
        description=body.description,
        team_id=body.team_id,
    )


def schedule_changes(body: UpdateScheduleRequest) -> ScheduleChanges:
    fields = sent(body)
    if "layers" in fields:
        fields["layers"] = domain_layers(fields["layers"])
    return ScheduleChanges(**fields)


def _minutes(value: datetime) -> str:
    return value.isoformat(timespec="minutes")


def _clock(value: time) -> str:
    return value.strftime("%H:%M")


def schedule_response(schedule: Schedule) -> ScheduleResponse:
    return ScheduleResponse(
        id=schedule.id,
        name=schedule.name,
        description=schedule.description,
        team_id=schedule.team_id,
        time_zone=schedule.time_zone,
        layers=[
            LayerResponse(
                name=layer.name,
                start=_minutes(layer.start),
                turn_length=TurnLengthResponse(layer.turn_length.unit, layer.turn_length.count),
                participants=list(layer.participants),
                restrictions=[
                    RestrictionResponse(
                        None if r.days is None else sorted(r.days, key=lambda day: day.number),
                        _clock(r.start_time),
                        _clock(r.end_time),
                    )
                    for r in layer.restrictions
                ],
                end=None if layer.end is None else _minutes(layer.end),
            )
            for layer in schedule.layers
        ],
        created_at=schedule.created_at,
    )


Instant = Annotated[datetime | None, QueryParameter(description="An instant with its offset (default: now)")]


class SchedulesController(Controller):
    path = "/v1/schedules"
    tags = ["schedules"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY

    @get("/", summary="List schedules", guards=[permits(Action.SCHEDULE_READ)], responses=responses(400, 401))
    @inject
    async def list_schedules(
        self,
        actor: Actor,
        schedules: FromDishka[Schedules],
        team_id: FilterId = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> SchedulePage:
        paged = await schedules.list(actor, team_id, page(limit, offset))
        return page_of(SchedulePage, paged, [schedule_response(s) for s in paged.items])

    @post(
        "/",
        status_code=201,
        summary="Create a schedule",
        guards=[permits(Action.SCHEDULE_MANAGE)],
        responses=responses(400, 401, 403, 413),
    )
    @inject
    async def create_schedule(
        self, actor: Actor, data: JSONBody[CreateScheduleRequest], schedules: FromDishka[Schedules]
    ) -> ScheduleResponse:
        """For admins, and team leads and above of its team. The last layer wins where several have
        someone on call; outside its restrictions a layer lets the ones below show through."""
        return schedule_response(await schedules.create(actor, new_schedule(data)))

    @get(
        "/{schedule_id:int}",
        summary="Get a schedule",
        guards=[permits(Action.SCHEDULE_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def get_schedule(
        self, actor: Actor, schedule_id: PathId, schedules: FromDishka[Schedules]
    ) -> ScheduleResponse:
        return schedule_response(await schedules.get(actor, schedule_id))

    @put(
        "/{schedule_id:int}",
        summary="Edit a schedule",
        guards=[permits(Action.SCHEDULE_MANAGE)],
        responses=responses(400, 401, 403, 404, 413),
    )
    @inject
    async def update_schedule(
        self,
        actor: Actor,
        schedule_id: PathId,
        data: JSONBody[UpdateScheduleRequest],
        schedules: FromDishka[Schedules],
    ) -> ScheduleResponse:
        """`layers`, when sent, replaces them all. Moving it to another team needs the right there too."""
        return schedule_response(await schedules.update(actor, schedule_id, schedule_changes(data)))

    @delete(
        "/{schedule_id:int}",
        status_code=204,
        summary="Delete a schedule",
        guards=[permits(Action.SCHEDULE_MANAGE)],
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_schedule(
        self, actor: Actor, schedule_id: PathId, schedules: FromDishka[Schedules]
    ) -> None:
        """409 while an escalation policy pages it. Its overrides and calendar feeds go with it."""
        await schedules.delete(actor, schedule_id)

    @get(
        "/{schedule_id:int}/overrides",
        summary="A schedule's overrides",
        guards=[permits(Action.SCHEDULE_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def list_overrides(
        self,
        actor: Actor,
        schedule_id: PathId,
        schedules: FromDishka[Schedules],
        since: Annotated[datetime | None, QueryParameter(description="Only those ending after it")] = None,
        until: Annotated[datetime | None, QueryParameter(description="Only those starting by it")] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> OverridePage:
        """By start."""
        paged = await schedules.overrides(actor, schedule_id, since, until, page(limit, offset))
        return page_of(OverridePage, paged)

    @post(
        "/{schedule_id:int}/overrides",
        status_code=201,
        summary="Put someone on call for a while",
        guards=[permits(Action.SCHEDULE_OVERRIDE)],
        responses=responses(400, 401, 403, 404, 413),
    )
    @inject
    async def create_override(
        self,
        actor: Actor,
        schedule_id: PathId,
        data: JSONBody[CreateOverrideRequest],
        schedules: FromDishka[Schedules],
    ) -> OverrideResponse:
        """Above every layer; where overrides overlap, the latest wins. Team leads and above of the
        schedule's team put anyone on call; any member of the team, themselves."""
        new = NewOverride(data.user_id, data.start, data.end)
        return response(await schedules.add_override(actor, schedule_id, new), OverrideResponse)

    @delete(
        "/{schedule_id:int}/overrides/{override_id:int}",
        status_code=204,
        summary="Delete an override",
        guards=[permits(Action.SCHEDULE_OVERRIDE)],
        responses=responses(400, 401, 403, 404),
    )
    @inject
    async def delete_override(
        self, actor: Actor, schedule_id: PathId, override_id: PathId, schedules: FromDishka[Schedules]
    ) -> None:
        """Team leads and above delete any; a member, one they made that puts themselves on call."""
        await schedules.delete_override(actor, schedule_id, override_id)

    @get(
        "/{schedule_id:int}/oncall",
        summary="Who is on call on a schedule",
        guards=[permits(Action.SCHEDULE_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def oncall(
        self, actor: Actor, schedule_id: PathId, schedules: FromDishka[Schedules], at: Instant = None
    ) -> OnCallResponse:
        """At `at` (default: now); `until` is when the answer next changes (null: never)."""
        at, now = await schedules.oncall(actor, schedule_id, at)
        return OnCallResponse(at, now.user_ids, now.source, now.layer, now.until)

    @get(
        "/{schedule_id:int}/shifts",
        summary="A schedule's shifts",
        guards=[permits(Action.SCHEDULE_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def shifts(
        self,
        actor: Actor,
        schedule_id: PathId,
        schedules: FromDishka[Schedules],
        since: Annotated[datetime, QueryParameter(description="The window's start, an instant")],
        until: Annotated[datetime, QueryParameter(description="The window's end, at most 93 days later")],
    ) -> ShiftList:
        """The final schedule (overrides, then the highest layer on call), adjacent equal shifts merged,
        the first and last clipped to the window."""
        found = await schedules.shifts(actor, schedule_id, since, until)
        return ShiftList([response(s, ShiftResponse) for s in found])


class OnCallController(Controller):
    path = "/v1/oncall"
    tags = ["schedules"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY

    @get("/", summary="Who is on call", guards=[permits(Action.SCHEDULE_READ)], responses=responses(400, 401))
    @inject
    async def oncall_everywhere(
        self,
        actor: Actor,
        schedules: FromDishka[Schedules],
        at: Instant = None,
        team_id: FilterId = None,
        user_id: FilterId = None,
    ) -> OnCallList:
        """On every schedule (of `team_id`; only `user_id`'s shifts when given): who is on call at `at`
        (default: now), since when (traced back at most 12 weeks) and until when (null: for good)."""
        at, found = await schedules.oncall_everywhere(actor, at, team_id, user_id)
        return OnCallList(at, [response(s, OnCallShiftResponse) for s in found])

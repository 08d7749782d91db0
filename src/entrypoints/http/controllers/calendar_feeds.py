from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from dishka.integrations.litestar import FromDishka, inject
from icalendar import Calendar, Event
from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody, QueryParameter
from msgspec import Struct

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import Id, Limit, Offset, Page, PathId, RequestBody, page, page_of
from entrypoints.settings import Settings
from incidentcore.permissions import Action
from incidentcore.schedules import CalendarFeed
from incidentcore.services import CalendarFeeds, FeedShifts, ScheduledShift

PATH = "/v1/calendar-feeds"
FILE = "/feed.ics"
CALENDAR_MEDIA_TYPE = "text/calendar"  # Litestar adds "; charset=utf-8"
# How often calendar apps should fetch the feed again (they are free to poll less often).
REFRESH_INTERVAL = timedelta(hours=1)


class CreateFeedRequest(RequestBody):
    """`schedule_id` null: your own shifts on every schedule."""

    schedule_id: Id | None = None


class FeedResponse(Struct):
    id: int
    schedule_id: int | None
    url: str | None  # shown once, when the feed is created: only a hash of its secret is kept
    created_at: datetime


class FeedPage(Page[FeedResponse]):
    """Your calendar feeds, by id; each URL was shown once, when its feed was created."""


def feed_response(feed: CalendarFeed, url: str | None = None) -> FeedResponse:
    return FeedResponse(feed.id, feed.schedule_id, url, feed.created_at)


def feed_url(settings: Settings, secret: str) -> str:
    return f"{settings.public_url}{PATH}{FILE}?{urlencode({'key': secret})}"


def shift_uid(feed: CalendarFeed, scheduled: ScheduledShift) -> str:
    """The same shift has the same UID in every fetch of the feed, so calendar apps update it in place."""
    shift = scheduled.shift
    return (
        f"feed-{feed.id}-schedule-{scheduled.schedule_id}-{shift.source.value}-{shift.layer or 0}"
        f"-user-{shift.user_id}-{shift.start:%Y%m%dT%H%M%SZ}@incidentcore"
    )


def icalendar_of(shown: FeedShifts) -> bytes:
    """RFC 5545: one VEVENT per shift, in UTC."""
    calendar = Calendar.new(
        name=shown.name,
        prodid="-//incidentcore//on-call shifts//EN",
        refresh_interval=REFRESH_INTERVAL,
        uid=f"feed-{shown.feed.id}@incidentcore",
    )
    for scheduled in shown.shifts:
        shift = scheduled.shift
        whose = scheduled.schedule_name if shown.feed.schedule_id is None else scheduled.user_name
        why = "an override" if shift.layer is None else f"layer {shift.layer}"
        calendar.add_component(
            Event.new(
                uid=shift_uid(shown.feed, scheduled),
                start=shift.start,
                end=shift.end,
                stamp=shown.at,
                summary=f"On call: {whose}",
                description=f"{scheduled.user_name} is on call on {scheduled.schedule_name} ({why}).",
            )
        )
    ical: bytes = calendar.to_ical()
    return ical


class CalendarFeedsController(Controller):
    path = PATH
    tags = ["calendar feeds"]
    dependencies = ACTOR_DEPENDENCY

    @post(
        "/",
        status_code=201,
        summary="Subscribe a calendar to on-call shifts",
        security=BEARER,
        guards=[permits(Action.SCHEDULE_READ)],
        responses=responses(400, 401, 413),
    )
    @inject
    async def create_feed(
        self,
        actor: Actor,
        data: JSONBody[CreateFeedRequest],
        feeds: FromDishka[CalendarFeeds],
        settings: FromDishka[Settings],
    ) -> FeedResponse:
        """A schedule's shifts, or (`schedule_id` null) your own on every schedule: the next 90 days,
        in any calendar app that subscribes to `url`. The URL is its only credential and is shown only
        now; revoke the feed to end it."""
        feed, secret = await feeds.create(actor, data.schedule_id)
        return feed_response(feed, feed_url(settings, secret))

    @get(
        "/",
        summary="Your calendar feeds",
        security=BEARER,
        guards=[permits(Action.SELF_MANAGE)],
        responses=responses(400, 401),
    )
    @inject
    async def list_feeds(
        self, actor: Actor, feeds: FromDishka[CalendarFeeds], limit: Limit = 50, offset: Offset = 0
    ) -> FeedPage:
        paged = await feeds.list(actor, page(limit, offset))
        return page_of(FeedPage, paged, [feed_response(f) for f in paged.items])

    @delete(
        "/{feed_id:int}",
        status_code=204,
        summary="Revoke a calendar feed",
        security=BEARER,
        guards=[permits(Action.SELF_MANAGE)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def revoke_feed(self, actor: Actor, feed_id: PathId, feeds: FromDishka[CalendarFeeds]) -> None:
        """Its URL stops working at once."""
        await feeds.revoke(actor, feed_id)

    @get(FILE, summary="A calendar feed (its URL is its credential)", responses=responses(400, 404))
    @inject
    async def calendar_file(
        self,
        feeds: FromDishka[CalendarFeeds],
        key: Annotated[str, QueryParameter(max_length=200, description="The secret in the feed's URL")],
    ) -> Response[bytes]:
        """iCalendar (RFC 5545): one event per shift, from the one in progress to 90 days on."""
        return Response(icalendar_of(await feeds.read(key)), media_type=CALENDAR_MEDIA_TYPE)

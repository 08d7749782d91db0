"""The web UI's pages. Each handler parses, calls the same use cases as the JSON API, and renders;
what a person may see or do is the core's to say (`Incidents.overview` lists the actions allowed).

Forms work without script (a post answers with a redirect to the page); with htmx, an action answers
with the fragment it changed, and lists refresh themselves every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from msgspec import Struct

from entrypoints.http.auth import ACTOR_DEPENDENCY, Actor, client_address, signed_in
from entrypoints.http.ui.sessions import end_session, start_session
from entrypoints.http.ui.templating import fragment_into, page
from entrypoints.http.wire import Offset, PathId
from incidentcore.errors import AuthenticationFailed, FieldError, RateLimited, ValidationFailed
from incidentcore.model import Channel, Incident, IncidentStatus, Severity, User
from incidentcore.ports import Clock, IncidentFilter, Page, Paged
from incidentcore.services import Accounts, Directory, IncidentOverview, Incidents, Preferences, Schedules
from incidentcore.validation import ADDRESS_MAX, COMMENT_MAX

E = TypeVar("E", bound=StrEnum)

UI = "/ui"
OPEN_GROUP_LIMIT = 100
RESOLVED_GROUP_LIMIT = 20
STATUS_PAGE = 50
SNOOZE_CHOICES = [(15, "15 minutes"), (30, "30 minutes"), (60, "1 hour"), (120, "2 hours"), (240, "4 hours"),
                  (480, "8 hours"), (1440, "24 hours")]  # fmt: skip
SCHEDULE_LIMIT = Page.MAX_LIMIT

Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class LoginForm(Struct):
    email: str = ""
    password: str = ""
    next: str = ""


class SnoozeForm(Struct):
    minutes: int


class AssignForm(Struct):
    user_id: int
    role: str = ""


class CommentForm(Struct):
    body: str = ""


class ChannelForm(Struct):
    channel: str
    address: str = ""
    min_severity: str = ""
    enabled: bool = False


def chosen(kind: type[E], field: str, value: str | None) -> E | None:
    """A select's value: empty for "any", otherwise one of `kind`'s values."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ValidationFailed(FieldError(field, f"must be one of {allowed}")) from None


def required(kind: type[E], field: str, value: str) -> E:
    choice = chosen(kind, field, value)
    if choice is None:
        raise ValidationFailed(FieldError(field, f"choose a {field}"))
    return choice


def chosen_id(field: str, value: str | None) -> int | None:
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 2**31 - 1:
        raise ValidationFailed(FieldError(field, "must be an id"))
    return int(value)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a page of the UI, never another site."""
    if target and target.startswith(f"{UI}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{UI}/"


@dataclass(frozen=True)
class Group:
    title: str
    paged: Paged[Incident]
    more_href: str | None = None
    more_text: str = ""


@dataclass(frozen=True)
class IncidentQuery:
    status: IncidentStatus | None
    team_id: int | None
    severity: Severity | None
    offset: int

    @classmethod
    def parse(cls, status: str | None, team_id: str | None, severity: str | None, offset: int) -> IncidentQuery:
        return cls(
            chosen(IncidentStatus, "status", status),
            chosen_id("team_id", team_id),
            chosen(Severity, "severity", severity),
            max(offset, 0),
        )

    def href(self, **changes: Any) -> str:
        values = {"status": self.status, "team_id": self.team_id, "severity": self.severity, "offset": self.offset}
        values.update(changes)
        kept = {k: getattr(v, "value", v) for k, v in values.items() if v not in (None, "") and v != 0}
        return urlencode(kept)


async def incident_list(
    actor: User, incidents: Incidents, directory: Directory, query: IncidentQuery
) -> dict[str, Any]:
    """The list's context: open incidents first (triggered, then acknowledged), then the latest resolved;
    or one status, paged. The counts per status come from the same queries."""
    groups: list[Group] = []
    totals: dict[IncidentStatus, int] = {}
    for status in IncidentStatus:
        shown = query.status in (None, status)
        limit = (OPEN_GROUP_LIMIT if status is not IncidentStatus.RESOLVED else RESOLVED_GROUP_LIMIT) if query.status is None else STATUS_PAGE
        paged = await incidents.list(
            actor,
            IncidentFilter(team_id=query.team_id, severity=query.severity, status=status),
            Page(limit if shown else 1, query.offset if query.status is status else 0),
        )
        totals[status] = paged.total
        if not shown:
            continue
        more = None
        if query.status is None and paged.total > len(paged.items):
            more = f"{UI}/?{query.href(status=status)}"
        groups.append(Group(status.value.title(), paged, more, f"Show all {paged.total} {status.value}"))
    pager = None
    if query.status is not None:
        paged = groups[0].paged
        pager = {
            "previous": f"{UI}/?{query.href(offset=max(query.offset - STATUS_PAGE, 0))}" if query.offset > 0 else None,
            "next": f"{UI}/?{query.href(offset=query.offset + STATUS_PAGE)}"
            if query.offset + len(paged.items) < paged.total
            else None,
        }
    shown_incidents = [incident for group in groups for incident in group.paged.items]
    names = await directory.user_names(actor, [i.assignee_id for i in shown_incidents if i.assignee_id is not None])
    teams = await directory.teams(actor)
    return {
        "groups": groups,
        "pager": pager,
        "counts": list(totals.items()),
        "names": names,
        "teams": teams,
        "team_names": {team.id: team.name for team in teams},
        "query": query.href(),
        "filters": query,
    }


def incident_context(overview: IncidentOverview, assignable: list[User], actor: User, now: datetime) -> dict[str, Any]:
    return {
        "overview": overview,
        "assignable": assignable,
        "snooze_choices": SNOOZE_CHOICES,
        "comment_max": COMMENT_MAX,
        "actor": actor,
        "now": now,
    }


class IncidentPages(Controller):
    """The incident list and one incident's page, with its actions."""

    path = UI
    guards = [signed_in]
    dependencies = ACTOR_DEPENDENCY

    @get(["/", "/incidents"])
    @inject
    async def incidents(
        self,
        request: HTMXRequest,
        actor: Actor,
        incidents: FromDishka[Incidents],
        directory: FromDishka[Directory],
        clock: FromDishka[Clock],
        status: FromQuery[str | None] = None,
        team_id: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
        offset: Offset = 0,
    ) -> Template:
        """The whole page; its list (and the counts, out of band) alone for htmx's refresh."""
        query = IncidentQuery.parse(status, team_id, severity, offset)
        context = await incident_list(actor, incidents, directory, query)
        context.update(
            actor=actor, now=clock.now(), section="incidents", statuses=list(IncidentStatus), severities=list(Severity)
        )
        if request.htmx:
            return page("_incident_list.html", oob=True, **context)
        return page("incidents.html", oob=False, **context)

    @get("/incidents/{incident_id:int}")
    @inject
    async def incident(
        self,
        actor: Actor,
        incident_id: PathId,
        incidents: FromDishka[Incidents],
        directory: FromDishka[Directory],
        clock: FromDishka[Clock],
    ) -> Template:
        return await self._render(actor, incident_id, incidents, directory, clock, "incident.html")

    @get("/incidents/{incident_id:int}/records")
    @inject
    async def records(
        self,
        actor: Actor,
        incident_id: PathId,
        incidents: FromDishka[Incidents],
        directory: FromDishka[Directory],
        clock: FromDishka[Clock],
        version: FromQuery[int | None] = None,
    ) -> Template:
        """The records, for the page's refresh; the head too (out of band) when the incident changed
        since the page showed it, so its buttons match its state."""
        overview = await incidents.overview(actor, incident_id)
        changed = version != overview.incident.version
        assignable = await self._assignable(actor, overview, directory) if changed else []
        context = incident_context(overview, assignable, actor, clock.now())
        return page("_records.html", oob=changed, **context)

    @post("/incidents/{incident_id:int}/acknowledge")
    @inject
    async def acknowledge(
        self, request: HTMXRequest, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents],
        directory: FromDishka[Directory], clock: FromDishka[Clock],
    ) -> Response[Any]:  # fmt: skip
        await incidents.acknowledge(actor, incident_id)
        return await self._after_action(request, actor, incident_id, incidents, directory, clock)

    @post("/incidents/{incident_id:int}/resolve")
    @inject
    async def resolve(
        self, request: HTMXRequest, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents],
        directory: FromDishka[Directory], clock: FromDishka[Clock],
    ) -> Response[Any]:  # fmt: skip
        await incidents.resolve(actor, incident_id)
        return await self._after_action(request, actor, incident_id, incidents, directory, clock)

    @post("/incidents/{incident_id:int}/escalate")
    @inject
    async def escalate(
        self, request: HTMXRequest, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents],
        directory: FromDishka[Directory], clock: FromDishka[Clock],
    ) -> Response[Any]:  # fmt: skip
        await incidents.escalate(actor, incident_id)
        return await self._after_action(request, actor, incident_id, incidents, directory, clock)

    @post("/incidents/{incident_id:int}/snooze")
    @inject
    async def snooze(
        self, request: HTMXRequest, actor: Actor, incident_id: PathId, data: Annotated[SnoozeForm, Form],
        incidents: FromDishka[Incidents], directory: FromDishka[Directory], clock: FromDishka[Clock],
    ) -> Response[Any]:  # fmt: skip
        await incidents.snooze(actor, incident_id, data.minutes)
        return await self._after_action(request, actor, incident_id, incidents, directory, clock)

    @post("/incidents/{incident_id:int}/assign")
    @inject
    async def assign(
        self, request: HTMXRequest, actor: Actor, incident_id: PathId, data: Annotated[AssignForm, Form],
        incidents: FromDishka[Incidents], directory: FromDishka[Directory], clock: FromDishka[Clock],
    ) -> Response[Any]:  # fmt: skip
        await incidents.assign(actor, incident_id, data.user_id, data.role.strip() or None)
        return await self._after_action(request, actor, incident_id, incidents, directory, clock)

    @post("/incidents/{incident_id:int}/comments")
    @inject
    async def comment(
        self, request: HTMXRequest, actor: Actor, incident_id: PathId, data: Annotated[CommentForm, Form],
        incidents: FromDishka[Incidents], directory: FromDishka[Directory], clock: FromDishka[Clock],
    ) -> Response[Any]:  # fmt: skip
        await incidents.comment(actor, incident_id, data.body)
        return await self._after_action(request, actor, incident_id, incidents, directory, clock)

    async def _after_action(
        self, request: HTMXRequest, actor: User, incident_id: PathId, incidents: Incidents,
        directory: Directory, clock: Clock,
    ) -> Response[Any]:  # fmt: skip
        if not request.htmx:  # a plain form post: back to the page (post, redirect, get)
            return Redirect(f"{UI}/incidents/{incident_id}", status_code=303)
        return await self._render(actor, incident_id, incidents, directory, clock, "_incident.html")

    async def _render(
        self, actor: User, incident_id: PathId, incidents: Incidents, directory: Directory, clock: Clock, template: str
    ) -> Template:
        overview = await incidents.overview(actor, incident_id)
        assignable = await self._assignable(actor, overview, directory)
        return page(template, oob=False, section="incidents", **incident_context(overview, assignable, actor, clock.now()))

    @staticmethod
    async def _assignable(actor: User, overview: IncidentOverview, directory: Directory) -> list[User]:
        if "incident.assign" not in overview.actions:
            return []
        return await directory.active_users(actor)


class OnCallPage(Controller):
    path = UI
    guards = [signed_in]
    dependencies = ACTOR_DEPENDENCY

    @get("/oncall")
    @inject
    async def oncall(
        self,
        actor: Actor,
        schedules: FromDishka[Schedules],
        directory: FromDishka[Directory],
    ) -> Template:
        """Who is on call on each schedule now, and until when."""
        listed = await schedules.list(actor, None, Page(SCHEDULE_LIMIT))
        at, shifts = await schedules.oncall_everywhere(actor, None, None, None)
        by_schedule = {shift.schedule_id: shift for shift in shifts}
        rows = [{"schedule": s, "shift": by_schedule.get(s.id)} for s in sorted(listed.items, key=lambda s: s.name.casefold())]
        names = await directory.user_names(actor, [shift.user_id for shift in shifts])
        teams = await directory.teams(actor)
        return page(
            "oncall.html",
            actor=actor,
            now=at,
            section="oncall",
            rows=rows,
            names=names,
            team_names={team.id: team.name for team in teams},
            more=listed.total > len(listed.items),
            total=listed.total,
        )


@dataclass(frozen=True)
class ChannelRow:
    channel: Channel
    address: str
    enabled: bool
    min_severity: Severity | None


class ProfilePage(Controller):
    path = UI
    guards = [signed_in]
    dependencies = ACTOR_DEPENDENCY

    @get("/profile")
    @inject
    async def profile(
        self, actor: Actor, preferences: FromDishka[Preferences], directory: FromDishka[Directory]
    ) -> Template:
        return page("profile.html", **await self._context(actor, preferences, directory))

    @post("/profile/channels")
    @inject
    async def set_channel(
        self,
        request: HTMXRequest,
        actor: Actor,
        data: Annotated[ChannelForm, Form],
        preferences: FromDishka[Preferences],
        directory: FromDishka[Directory],
    ) -> Response[Any]:
        await preferences.set_for(
            actor,
            actor.id,
            required(Channel, "channel", data.channel),
            enabled=data.enabled,
            address=data.address or None,
            min_severity=chosen(Severity, "min_severity", data.min_severity),
        )
        if not request.htmx:
            return Redirect(f"{UI}/profile", status_code=303)
        return page("_channels.html", **await self._context(actor, preferences, directory))

    @post("/profile/channels/{channel:str}/test")
    @inject
    async def send_test(
        self,
        request: HTMXRequest,
        actor: Actor,
        channel: FromPath[str],
        preferences: FromDishka[Preferences],
        directory: FromDishka[Directory],
    ) -> Template:
        """Sends a test page now and says what became of it."""
        report = await preferences.send_test(actor, required(Channel, "channel", channel))
        if request.htmx:
            return page("_delivery_report.html", report=report)
        context = await self._context(actor, preferences, directory)
        return page("profile.html", **{**context, "report": report})

    @staticmethod
    async def _context(actor: User, preferences: Preferences, directory: Directory) -> dict[str, Any]:
        mine = await preferences.list_for(actor, actor.id)
        rows = [ChannelRow(p.channel, p.address or actor.email, p.enabled, p.min_severity) for p in mine]
        if not any(row.channel is Channel.EMAIL for row in rows):
            rows.insert(0, ChannelRow(Channel.EMAIL, actor.email, not mine, None))  # the default channel
        team = None
        if actor.team_id is not None:
            team = next((t for t in await directory.teams(actor) if t.id == actor.team_id), None)
        return {
            "actor": actor,
            "section": "profile",
            "preferences": mine,
            "rows": rows,
            "team": team,
            "channels": list(Channel),
            "severities": list(Severity),
            "address_max": ADDRESS_MAX,
            "report": None,
        }


class SessionPages(Controller):
    """Logging in and out."""

    path = UI

    @get("/login")
    async def login_form(self, request: HTMXRequest, next: FromQuery[str | None] = None) -> Response[Any]:
        if request.session:  # signed in already (or a lapsed session, which the page will clear)
            return Redirect(safe_next(next), status_code=303)
        return page("login.html", actor=None, section="login", message=None, email="", next=safe_next(next))

    @post("/login")
    @inject
    async def login(
        self, request: HTMXRequest, data: Annotated[LoginForm, Form], accounts: FromDishka[Accounts]
    ) -> Response[Any]:
        """The same throttle as the API's login (`Accounts.check_login`); a new session id on success."""
        target = safe_next(data.next)
        try:
            user = await accounts.check_login(data.email, data.password, client_address(request))
        except (AuthenticationFailed, RateLimited) as refused:
            status = 429 if isinstance(refused, RateLimited) else 401
            headers = {"Retry-After": str(refused.retry_after)} if isinstance(refused, RateLimited) else {}
            response = page(
                "login.html", status_code=status, actor=None, section="login", message=refused.detail,
                email=data.email, next=target,
            )  # fmt: skip
            response.headers.update(headers)
            return response
        start_session(request, user)
        return Redirect(target, status_code=303)

    @post("/logout")
    async def logout(self, request: HTMXRequest) -> Redirect:
        """Ends the session in the store (everywhere), and expires its cookie."""
        end_session(request)
        return Redirect(f"{UI}/login", status_code=303)


PAGE_CONTROLLERS = [IncidentPages, OnCallPage, ProfilePage, SessionPages]


def error_page(status: int, title: str, message: str, actor: User | None) -> Template:
    return page("error.html", status_code=status, title=title, message=message, actor=actor, section="")


def error_fragment(status: int, message: str) -> Template:
    return fragment_into("#flash", "_flash.html", status_code=status, kind="problem", message=message)

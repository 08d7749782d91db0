from __future__ import annotations

from datetime import datetime
from typing import Annotated

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, get
from litestar.params import QueryParameter
from msgspec import Struct

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import FilterId, response
from incidentcore.analytics import IncidentFigures, IncidentReport
from incidentcore.model import Severity
from incidentcore.permissions import Action
from incidentcore.services import Analytics


class DurationsResponse(Struct):
    """Seconds; null without samples. Percentiles are nearest-rank: a duration that occurred."""

    mean: float | None
    p50: float | None
    p90: float | None


class SeverityFiguresResponse(Struct):
    count: int
    acknowledged: int
    resolved: int
    escalated: int
    mtta_seconds: DurationsResponse
    mttr_seconds: DurationsResponse


class BySeverityResponse(Struct):
    critical: SeverityFiguresResponse
    high: SeverityFiguresResponse
    medium: SeverityFiguresResponse
    low: SeverityFiguresResponse
    info: SeverityFiguresResponse


class PagesResponse(Struct):
    sent: int
    failed: int


class ResponderResponse(Struct):
    user_id: int
    pages: int
    acknowledgements: int


class IncidentReportResponse(Struct):
    since: datetime
    until: datetime
    team_id: int | None
    count: int
    acknowledged: int
    resolved: int
    escalated: int
    mtta_seconds: DurationsResponse
    mttr_seconds: DurationsResponse
    by_severity: BySeverityResponse
    pages: PagesResponse
    responders: list[ResponderResponse]


def report_response(report: IncidentReport) -> IncidentReportResponse:
    def figures(of: IncidentFigures) -> SeverityFiguresResponse:
        return response(of, SeverityFiguresResponse)

    totals = report.totals
    return IncidentReportResponse(
        since=report.since,
        until=report.until,
        team_id=report.team_id,
        count=totals.count,
        acknowledged=totals.acknowledged,
        resolved=totals.resolved,
        escalated=totals.escalated,
        mtta_seconds=response(totals.mtta_seconds, DurationsResponse),
        mttr_seconds=response(totals.mttr_seconds, DurationsResponse),
        by_severity=BySeverityResponse(**{s.value: figures(report.by_severity[s]) for s in Severity}),
        pages=response(report.pages, PagesResponse),
        responders=[response(r, ResponderResponse) for r in report.responders],
    )


Since = Annotated[
    datetime | None, QueryParameter(description="Incidents created at or after this instant (default: a week before until)")
]
Until = Annotated[datetime | None, QueryParameter(description="Incidents created before this instant (default: now)")]


class AnalyticsController(Controller):
    path = "/v1/analytics"
    tags = ["analytics"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY

    @get(
        "/incidents",
        summary="Incident report: MTTA, MTTR, escalations, pages, responders",
        guards=[permits(Action.ANALYTICS_READ)],
        responses=responses(400, 401, 403, 404),
    )
    @inject
    async def incident_report(
        self,
        actor: Actor,
        analytics: FromDishka[Analytics],
        since: Since = None,
        until: Until = None,
        team_id: FilterId = None,
    ) -> IncidentReportResponse:
        """Over the incidents created in [since, until) (at most 366 days; default: the last 7 days), of
        `team_id` when given. `acknowledged`: ever acknowledged; `escalated`: reached step 1 or later;
        MTTA from creation to the first acknowledgement, MTTR to resolution (mean, p50, p90 in seconds,
        nearest-rank); `pages`: sent and failed pages; `responders`: per user, pages delivered to them
        and acknowledgements they made, most pages first. A team's report: its members, and manager and
        above; without `team_id` (every team): manager and above."""
        return report_response(await analytics.incident_report(actor, since, until, team_id))

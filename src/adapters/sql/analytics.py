"""The incident report in two aggregate statements, the same on SQLite and Postgres.

1. The figures per severity and over all: the window's incidents joined to their first acknowledgement
   and to whether they escalated, each as one row of facts (counted twice: under its severity and
   under the overall scope, NULL); durations in whole microseconds; nearest-rank percentiles from
   `row_number()` and `count()` windows (both engines have them; only Postgres has percentile_disc).
2. Per user, pages sent and failed and acknowledgements made: the pages' totals and the responders.

Every statement starts from the window on `incidents` (ix_incidents_created_at, or
ix_incidents_team_id_created_at with a team) and reaches the other tables by incident id through their
(incident_id, ...) indexes; the first acknowledgements and the escalations have partial indexes of their
own (tables.py). Only aggregates come back: never a row per incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql.tables import (
    escalation_events,
    escalation_fire_past_first_step,
    incidents,
    notifications,
    timeline_acknowledged,
    timeline_events,
)
from incidentcore.analytics import (
    PERCENTILES,
    Durations,
    IncidentFigures,
    IncidentReport,
    PageFigures,
    ResponderFigures,
)
from incidentcore.model import IncidentStatus, NotificationStatus, Severity
from incidentcore.ports import AnalyticsQueries

MICROS_PER_SECOND = 1_000_000
SEVERITIES = list(Severity)


class SessionSource(Protocol):
    @property
    def session(self) -> AsyncSession: ...

    @property
    def dialect_name(self) -> str: ...


class SqlAnalyticsQueries(AnalyticsQueries):
    def __init__(self, source: SessionSource) -> None:
        self._source = source

    async def incident_report(self, since: datetime, until: datetime, team_id: int | None) -> IncidentReport:
        if self._source.dialect_name != "postgresql":
            return await self._incident_report(since, until, team_id, postgres=False)
        # The plan's cost (a sort per percentile over every incident of a long window) passes
        # Postgres's JIT threshold, and compiling takes longer than the query: not for this one. A
        # unit of work that only reads runs in autocommit, where SET LOCAL would not last: SET, RESET.
        session = self._source.session
        options = session.bind.sync_engine.get_execution_options() if session.bind is not None else {}
        autocommit = options.get("isolation_level") == "AUTOCOMMIT"
        await session.execute(text("SET jit = off" if autocommit else "SET LOCAL jit = off"))
        try:
            return await self._incident_report(since, until, team_id, postgres=True)
        finally:
            if autocommit:
                await session.execute(text("RESET jit"))

    async def _incident_report(
        self, since: datetime, until: datetime, team_id: int | None, *, postgres: bool
    ) -> IncidentReport:
        session = self._source.session
        in_window = [incidents.c.created_at >= since, incidents.c.created_at < until]
        if team_id is not None:
            in_window.append(incidents.c.team_id == team_id)
        totals, by_severity = IncidentFigures(), {severity: IncidentFigures() for severity in Severity}
        for row in await session.execute(_figures(and_(*in_window), postgres)):
            figures = _figures_of(row)
            if row.scope is None:
                totals = figures
            else:
                by_severity[SEVERITIES[row.scope]] = figures
        responses = (await session.execute(_responses(select(incidents.c.id).where(*in_window)))).all()
        return IncidentReport(
            since=since,
            until=until,
            team_id=team_id,
            totals=totals,
            by_severity=by_severity,
            pages=PageFigures(sum(int(r.sent) for r in responses), sum(int(r.failed) for r in responses)),
            responders=[
                ResponderFigures(int(r.user_id), int(r.sent), int(r.acks))
                for r in responses
                if r.user_id is not None and (r.sent or r.acks)
            ],
        )


def _micros_between(start: ColumnElement[Any], end: ColumnElement[Any], postgres: bool) -> ColumnElement[int]:
    """`end - start` in whole microseconds, exactly (NULL when either is NULL)."""
    if postgres:
        return cast(extract("epoch", end - start) * MICROS_PER_SECOND, BigInteger)

    # SQLite stores UTC times as fixed-width text, 'YYYY-MM-DD HH:MM:SS.ffffff', and computes dates in
    # milliseconds (julianday() and strftime() round the microseconds): the whole seconds go through
    # strftime, the microseconds are read from the text, both as integers.
    def micros(instant: ColumnElement[Any]) -> ColumnElement[int]:
        seconds = cast(func.strftime("%s", func.substr(instant, 1, 19)), BigInteger) * MICROS_PER_SECOND
        return seconds + cast(func.substr(instant, 21, 6), BigInteger)

    return micros(end) - micros(start)


def _figures(in_window: ColumnElement[bool], postgres: bool) -> Any:
    # One row of facts per incident of the window: its first acknowledgement from a join (an index-only
    # probe per incident for a short window, one hash join for a long one), whether it escalated from
    # an EXISTS on the partial index.
    first_ack_at = func.min(timeline_events.c.created_at)
    is_resolved = incidents.c.status == IncidentStatus.RESOLVED
    escalated = exists().where(escalation_events.c.incident_id == incidents.c.id, escalation_fire_past_first_step)
    # Severities as small integers: the percentiles sort by scope, and text sorts by collation (slowly).
    severity_code = case(*((incidents.c.severity == severity, code) for code, severity in enumerate(SEVERITIES)))
    facts = (
        select(
            severity_code.label("severity"),
            case((first_ack_at.is_not(None), 1), else_=0).label("acknowledged"),
            case((is_resolved, 1), else_=0).label("resolved"),
            case((escalated, 1), else_=0).label("escalated"),
            _micros_between(incidents.c.created_at, first_ack_at, postgres).label("mtta"),
            case((is_resolved, _micros_between(incidents.c.created_at, incidents.c.resolved_at, postgres))).label(
                "mttr"
            ),
        )
        .select_from(
            incidents.outerjoin(
                timeline_events, and_(timeline_events.c.incident_id == incidents.c.id, timeline_acknowledged)
            )
        )
        .where(in_window)
        .group_by(incidents.c.id)  # the other columns of incidents depend on it
        .cte("facts")  # read twice below: Postgres computes it once
    )
    samples = ("acknowledged", "resolved", "escalated", "mtta", "mttr")
    # each incident counts under its severity and under the overall scope (NULL)
    scopes = union_all(
        select(facts.c.severity.label("scope"), *(facts.c[name] for name in samples)),
        select(null().label("scope"), *(facts.c[name] for name in samples)),
    ).subquery("scopes")
    ranks = []
    for metric in ("mtta", "mttr"):
        value = scopes.c[metric]
        ranks += [
            # samples first, then the NULLs (the engines sort NULLs differently: rank them apart)
            func.row_number()
            .over(partition_by=(scopes.c.scope, value.is_(None)), order_by=value)
            .label(f"{metric}_rank"),
            func.count(value).over(partition_by=scopes.c.scope).label(f"{metric}_samples"),
        ]
    ranked = select(*scopes.c, *ranks).subquery("ranked")
    aggregates: list[ColumnElement[Any]] = [
        func.count().label("count"),
        *(func.coalesce(func.sum(ranked.c[name]), 0).label(name) for name in samples[:3]),
    ]
    for metric in ("mtta", "mttr"):
        value, rank, count = ranked.c[metric], ranked.c[f"{metric}_rank"], ranked.c[f"{metric}_samples"]
        aggregates += [func.count(value).label(f"{metric}_samples"), func.sum(value).label(f"{metric}_total")]
        for percentile in PERCENTILES:
            at_rank = and_(value.is_not(None), rank == (percentile * count + 99) // 100)  # analytics.nearest_rank
            aggregates.append(func.max(case((at_rank, value))).label(f"{metric}_p{percentile}"))
    return select(ranked.c.scope, *aggregates).group_by(ranked.c.scope)


def _figures_of(row: Any) -> IncidentFigures:
    def durations(metric: str) -> Durations:
        def whole(name: str) -> int | None:
            value = getattr(row, f"{metric}_{name}")
            return None if value is None else int(value)

        return Durations.of(whole("samples") or 0, whole("total") or 0, whole("p50"), whole("p90"))

    return IncidentFigures(
        count=int(row.count),
        acknowledged=int(row.acknowledged),
        resolved=int(row.resolved),
        escalated=int(row.escalated),
        mtta_seconds=durations("mtta"),
        mttr_seconds=durations("mttr"),
    )


def _responses(scoped_ids: Any) -> Any:
    """Per user (NULL: pages to no user), pages sent and failed about the incidents, and acknowledgements."""
    sent, failed = (notifications.c.status == status for status in (NotificationStatus.SENT, NotificationStatus.FAILED))
    paged = select(
        notifications.c.user_id.label("user_id"),
        case((sent, 1), else_=0).label("sent"),
        case((failed, 1), else_=0).label("failed"),
        literal(0, Integer).label("acks"),
    ).where(notifications.c.incident_id.in_(scoped_ids), or_(sent, failed))
    acknowledged = select(
        timeline_events.c.actor_id, literal(0, Integer), literal(0, Integer), literal(1, Integer)
    ).where(timeline_events.c.incident_id.in_(scoped_ids), timeline_acknowledged, timeline_events.c.actor_id.is_not(None))
    both = union_all(paged, acknowledged).subquery("responses")
    totals = [func.sum(both.c[name]).label(name) for name in ("sent", "failed", "acks")]
    return (
        select(both.c.user_id, *totals)
        .group_by(both.c.user_id)
        .order_by(totals[0].desc(), totals[2].desc(), both.c.user_id)  # analytics.responders_order
    )

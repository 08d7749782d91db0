"""The incident report a team reviews every week: how many incidents, how fast they were acknowledged and
resolved, how far they escalated, and who carried the pages.

The figures, over the incidents created in [since, until) (of one team, when a team is given):

- `count`: those incidents.
- `acknowledged`: of those, how many were ever acknowledged (an `acknowledged` timeline event, whoever
  made it: a person, or an alert source's acknowledge).
- `resolved`: how many are resolved now.
- `escalated`: how many reached escalation step 1 or later: an escalation event that paged (on
  schedule or by hand) a step of index 1 or more, in any cycle. Step 0 paged again (a repeat of a
  one-step policy, a re-trigger) is not an escalation.
- `mtta_seconds`: time to acknowledge, from `created_at` to the FIRST acknowledgement (an incident
  re-triggered and acknowledged again counts its first); over the acknowledged incidents.
- `mttr_seconds`: time to resolve, from `created_at` to `resolved_at`; over the resolved incidents.
  Each as `mean`, `p50` and `p90`; None when there is no sample. Percentiles are nearest-rank: the
  p-th percentile of n sorted samples is the one of rank ceil(p * n / 100) (1-based), a value that
  occurred, so every backend gives the same answer. Durations are whole microseconds, reported in
  seconds; the mean is rounded to the microsecond.
- `by_severity`: the same figures for the incidents of each severity (every severity, zeros included).
- `pages`: the notifications written for those incidents that were sent, and those that failed for good.
- `responders`: per user, `pages` delivered to them (notifications with status sent) about those
  incidents, and `acknowledgements` they made on them (every acknowledgement, re-acknowledgements
  included); users with neither are left out; most pages first, then most acknowledgements, then by id.

`incident_report` computes all this from the entities: it is the definition the database queries
(`AnalyticsQueries`) are held to, and what the in-memory adapter runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from incidentcore.errors import FieldError, ValidationFailed
from incidentcore.escalation import EffectKind
from incidentcore.model import (
    EscalationEvent,
    Incident,
    IncidentStatus,
    Notification,
    NotificationStatus,
    Severity,
    TimelineEvent,
    TimelineKind,
)
from incidentcore.schedules import check_instant

DEFAULT_REPORT_WINDOW = timedelta(days=7)
"""The window when `since` is not given: the week before `until`."""

MAX_REPORT_WINDOW = timedelta(days=366)
"""The longest window a report may span."""

PERCENTILES = (50, 90)
"""The percentiles reported, as `p50` and `p90`."""

ESCALATION_FIRES = (EffectKind.FIRED, EffectKind.MANUAL)
"""The escalation events that page a step."""


def nearest_rank(percentile: int, samples: int) -> int:
    """The 1-based rank of the `percentile`-th percentile among `samples` sorted samples (nearest-rank
    method: ceil(percentile * samples / 100), in integers); `samples` must be positive."""
    return (percentile * samples + 99) // 100


def micros(duration: timedelta) -> int:
    """`duration` in whole microseconds (exact: a timedelta is whole microseconds)."""
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


@dataclass(frozen=True)
class Durations:
    """The mean, median and 90th percentile of some durations, in seconds; None without samples."""

    mean: float | None = None
    p50: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, samples: int, total_micros: int, p50_micros: int | None, p90_micros: int | None) -> Durations:
        """From the aggregates over the samples (in microseconds): their number, their sum, and the
        samples at the nearest ranks of the 50th and 90th percentiles."""
        if samples == 0:
            return cls()
        seconds = [None if m is None else m / 1_000_000 for m in (p50_micros, p90_micros)]
        return cls(round(total_micros / samples) / 1_000_000, seconds[0], seconds[1])

    @classmethod
    def from_samples(cls, samples_micros: Iterable[int]) -> Durations:
        """From the samples themselves, in microseconds."""
        ordered = sorted(samples_micros)
        if not ordered:
            return cls()
        p50, p90 = (ordered[nearest_rank(p, len(ordered)) - 1] for p in PERCENTILES)
        return cls.of(len(ordered), sum(ordered), p50, p90)


@dataclass(frozen=True)
class IncidentFigures:
    """The core figures over a set of incidents (see the module's docstring)."""

    count: int = 0
    acknowledged: int = 0
    resolved: int = 0
    escalated: int = 0
    mtta_seconds: Durations = Durations()
    mttr_seconds: Durations = Durations()


@dataclass(frozen=True)
class PageFigures:
    """How many pages about the report's incidents were sent, and how many failed for good."""

    sent: int = 0
    failed: int = 0


@dataclass(frozen=True)
class ResponderFigures:
    """What one user did for the report's incidents: pages delivered to them, acknowledgements made."""

    user_id: int
    pages: int
    acknowledgements: int


@dataclass(frozen=True)
class IncidentReport:
    """The report over the incidents created in [since, until) (of `team_id`'s, when given)."""

    since: datetime
    until: datetime
    team_id: int | None
    totals: IncidentFigures
    by_severity: dict[Severity, IncidentFigures]
    pages: PageFigures
    responders: list[ResponderFigures]


def report_window(since: datetime | None, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The window a report covers, in UTC: `until` defaults to `now`, `since` to a week before `until`.
    Refuses naive instants, `since` not before `until`, and a window longer than `MAX_REPORT_WINDOW`."""
    errors: list[FieldError] = []
    checked: dict[str, datetime] = {}
    for field, value in (("since", since), ("until", until)):
        if value is not None:
            try:
                checked[field] = check_instant(field, value)
            except ValidationFailed as invalid:
                errors += invalid.errors
    if errors:
        raise ValidationFailed(errors)
    end = checked.get("until", now.astimezone(UTC))
    start = checked.get("since", end - DEFAULT_REPORT_WINDOW)
    if start >= end:
        raise ValidationFailed(FieldError("since", "must be before until"))
    if end - start > MAX_REPORT_WINDOW:
        raise ValidationFailed(FieldError("since", f"the window may span at most {MAX_REPORT_WINDOW.days} days"))
    return start, end


def responders_order(responder: ResponderFigures) -> tuple[int, int, int]:
    """The order of `IncidentReport.responders`: most pages, then most acknowledgements, then by id."""
    return (-responder.pages, -responder.acknowledgements, responder.user_id)


def incident_report(
    since: datetime,
    until: datetime,
    team_id: int | None,
    incidents: Iterable[Incident],
    timeline: Iterable[TimelineEvent],
    escalation_events: Iterable[EscalationEvent],
    notifications: Iterable[Notification],
) -> IncidentReport:
    """The report, from every incident, timeline event, escalation event and notification there is
    (those that do not belong are passed over): the definition of each figure, as code."""
    scoped = {
        i.id: i for i in incidents if since <= i.created_at < until and (team_id is None or i.team_id == team_id)
    }
    first_ack: dict[int, datetime] = {}
    acknowledgements: Counter[int] = Counter()
    for event in timeline:
        if event.kind is TimelineKind.ACKNOWLEDGED and event.incident_id in scoped:
            known = first_ack.get(event.incident_id)
            first_ack[event.incident_id] = event.created_at if known is None else min(known, event.created_at)
            if event.actor_id is not None:
                acknowledgements[event.actor_id] += 1
    escalated = {
        e.incident_id
        for e in escalation_events
        if e.incident_id in scoped and e.kind in ESCALATION_FIRES and (e.step_index or 0) >= 1
    }
    page_statuses: Counter[NotificationStatus] = Counter()
    pages: Counter[int] = Counter()
    for page in notifications:
        if page.incident_id in scoped:
            page_statuses[page.status] += 1
            if page.user_id is not None and page.status is NotificationStatus.SENT:
                pages[page.user_id] += 1

    def figures(group: Sequence[Incident]) -> IncidentFigures:
        resolved = [i for i in group if i.status is IncidentStatus.RESOLVED and i.resolved_at is not None]
        return IncidentFigures(
            count=len(group),
            acknowledged=sum(1 for i in group if i.id in first_ack),
            resolved=sum(1 for i in group if i.status is IncidentStatus.RESOLVED),
            escalated=sum(1 for i in group if i.id in escalated),
            mtta_seconds=Durations.from_samples(
                micros(first_ack[i.id] - i.created_at) for i in group if i.id in first_ack
            ),
            mttr_seconds=Durations.from_samples(
                micros(i.resolved_at - i.created_at) for i in resolved if i.resolved_at is not None
            ),
        )

    everyone = list(scoped.values())
    responders = [
        ResponderFigures(user_id, pages[user_id], acknowledgements[user_id])
        for user_id in set(pages) | set(acknowledgements)
    ]
    return IncidentReport(
        since=since,
        until=until,
        team_id=team_id,
        totals=figures(everyone),
        by_severity={s: figures([i for i in everyone if i.severity is s]) for s in Severity},
        pages=PageFigures(page_statuses[NotificationStatus.SENT], page_statuses[NotificationStatus.FAILED]),
        responders=sorted(responders, key=responders_order),
    )

"""The incident report (MTTA, MTTR and the rest) teams review every week; see `incidentcore.analytics`."""

from __future__ import annotations

from datetime import datetime

from incidentcore.analytics import IncidentReport, report_window
from incidentcore.errors import NotFound
from incidentcore.model import User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, UnitOfWork


class Analytics:
    """Reports computed where the rows are (by the unit of work's analytics queries), one read-only
    transaction each."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def incident_report(
        self, actor: User, since: datetime | None, until: datetime | None, team_id: int | None
    ) -> IncidentReport:
        """The report over the incidents created in [since, until) (default: the week up to now), of
        `team_id` when given. A team's report: its members, and manager and above; the report over
        every team: manager and above only (a team's member asks for their team by its id)."""
        since, until = report_window(since, until, self.clock.now())
        async with self.uow:
            if team_id is None:
                require(actor, Action.ANALYTICS_READ)
            else:
                team = await self.uow.teams.get(team_id)
                if team is None:
                    raise NotFound(f"team {team_id} does not exist")
                require(actor, Action.ANALYTICS_READ, team)
            return await self.uow.analytics.incident_report(since, until, team_id)

"""The monitor: a failing check opens an incident, a passing one resolves it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from incidentcore import Action, Incident, InvalidTransition, Severity, User, can
from incidentcore.services import Incidents, NewIncident


@dataclass(frozen=True)
class CheckResult:
    """One run of a check named `name`: it passed (`ok`) or failed, with what it saw."""

    name: str
    ok: bool
    detail: str = ""


class UptimeMonitor:
    """Opens one incident per failing check, as `account` and for `team_id`, and resolves it when the
    check passes again. `incidents` gives the use cases on a fresh unit of work for each call, as a
    request scope would."""

    def __init__(self, incidents: Callable[[], Incidents], account: User, team_id: int | None) -> None:
        self.incidents = incidents
        self.account = account
        self.team_id = team_id
        self.open: dict[str, int] = {}  # check name -> the incident it opened

    async def report(self, result: CheckResult) -> Incident | None:
        """The incident the result opened or resolved, or None when it changed nothing."""
        incident_id = self.open.get(result.name)
        if not result.ok and incident_id is None:
            new = NewIncident(
                title=f"{result.name} is down",
                description=result.detail or None,
                severity=Severity.CRITICAL,
                team_id=self.team_id,
                source="uptime",
            )
            incident = await self.incidents().open(self.account, new)
            self.open[result.name] = incident.id
            return incident
        if result.ok and incident_id is not None:
            del self.open[result.name]
            try:
                return await self.incidents().resolve(self.account, incident_id)
            except InvalidTransition:  # someone resolved it already
                return None
        return None


def responders(users: Iterable[User], incident: Incident, paged_user_ids: set[int]) -> list[User]:
    """Who may acknowledge `incident`, by incidentcore's permission table."""
    return [
        user
        for user in users
        if can(user, Action.INCIDENT_ACKNOWLEDGE, incident, was_paged=user.id in paged_user_ids)
    ]

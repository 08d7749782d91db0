"""Who may do what: one table, one question (`can`).

Seven kinds of rule:
- ANYONE: any active user (reading and raising incidents, commenting, one's own profile and
  preferences, the names of people and teams).
- ADMIN: administration (teams, users, policies, integrations, other people's preferences).
- INCIDENT_OWNERS: actions that change who owns an incident or end it (edit, resolve, snooze, assign,
  escalate), and reading why its pages failed (everyone else sees only each page's status: an
  error message tells open ports from closed ones). Allowed on an incident without a team to anyone;
  on a team's incident to that team's members, the incident's assignee and creator, and managers
  and above.
- INCIDENT_RESPONDERS: acknowledging, which stops the paging. The owners, and whoever was paged for
  the incident, whatever their team: a page must always be answerable by the person it woke up.
- TEAM_LEADS: managing a team's resource (a schedule: creating, editing, deleting it, and any of its
  overrides; a heartbeat monitor): team_lead and above who belong to the resource's team; a resource
  without a team only admins. Managing a maintenance window likewise, judged on every team it silences
  (a `TeamScope`: its own team and its integrations' teams), so one needs the right in each.
- TEAM_LEADS_OR_THEMSELVES: overriding a schedule. TEAM_LEADS, and any member of the schedule's team
  for an override that puts themselves on call (`for_themselves`).
- TEAM_MEMBERS: reading a team's incident report: the team's members, and manager and above for any
  team; the report over every team (no resource) manager and above only.

Moving an incident to another team (`can_move`) needs the right in both teams, judged without the
actor's part in the incident (assignee, creator), which would otherwise carry over to any team.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Protocol

from incidentcore.errors import PermissionDenied
from incidentcore.model import Incident, Role, Team, User


class TeamResource(Protocol):
    """What TEAM_LEADS rules judge a resource by (a schedule, a heartbeat): the team it belongs to."""

    @property
    def team_id(self) -> int | None: ...


class Action(StrEnum):
    """Everything a user may be allowed to do; `can` answers for each."""

    INCIDENT_READ = "incident.read"
    INCIDENT_CREATE = "incident.create"
    INCIDENT_COMMENT = "incident.comment"
    INCIDENT_ACKNOWLEDGE = "incident.acknowledge"
    INCIDENT_UPDATE = "incident.update"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_SNOOZE = "incident.snooze"
    INCIDENT_ASSIGN = "incident.assign"
    INCIDENT_ESCALATE = "incident.escalate"
    INCIDENT_READ_DELIVERY_ERRORS = "incident.read_delivery_errors"
    SELF_MANAGE = "self.manage"
    TEAM_MANAGE = "team.manage"
    USER_MANAGE = "user.manage"
    POLICY_MANAGE = "policy.manage"
    INTEGRATION_MANAGE = "integration.manage"
    PREFERENCE_MANAGE_OTHERS = "preference.manage_others"
    SCHEDULE_READ = "schedule.read"
    SCHEDULE_MANAGE = "schedule.manage"
    SCHEDULE_OVERRIDE = "schedule.override"
    DIRECTORY_READ = "directory.read"
    MAINTENANCE_READ = "maintenance.read"
    MAINTENANCE_MANAGE = "maintenance.manage"
    HEARTBEAT_READ = "heartbeat.read"
    HEARTBEAT_MANAGE = "heartbeat.manage"
    ANALYTICS_READ = "analytics.read"


class Rule(Enum):
    ANYONE = "any active user"
    ADMIN = "admin only"
    INCIDENT_OWNERS = "team members, assignee, creator, manager and above; anyone if no team"
    INCIDENT_RESPONDERS = "incident owners, and anyone paged for the incident"
    TEAM_LEADS = "team_lead and above in the resource's team (in every team of a TeamScope)"
    TEAM_LEADS_OR_THEMSELVES = "team_lead and above in the schedule's team; its members for themselves"
    TEAM_MEMBERS = "members of the team; manager and above for any team"

    @property
    def depends_on_resource(self) -> bool:
        """Whether the rule is judged on the resource (an incident, a schedule, a heartbeat, a team scope),
        once it is loaded."""
        return self not in (Rule.ANYONE, Rule.ADMIN)


PERMISSIONS: dict[Action, Rule] = {
    Action.INCIDENT_READ: Rule.ANYONE,
    Action.INCIDENT_CREATE: Rule.ANYONE,
    Action.INCIDENT_COMMENT: Rule.ANYONE,
    Action.INCIDENT_ACKNOWLEDGE: Rule.INCIDENT_RESPONDERS,
    Action.INCIDENT_UPDATE: Rule.INCIDENT_OWNERS,
    Action.INCIDENT_RESOLVE: Rule.INCIDENT_OWNERS,
    Action.INCIDENT_SNOOZE: Rule.INCIDENT_OWNERS,
    Action.INCIDENT_ASSIGN: Rule.INCIDENT_OWNERS,
    Action.INCIDENT_ESCALATE: Rule.INCIDENT_OWNERS,
    Action.INCIDENT_READ_DELIVERY_ERRORS: Rule.INCIDENT_OWNERS,
    Action.SELF_MANAGE: Rule.ANYONE,
    Action.TEAM_MANAGE: Rule.ADMIN,
    Action.USER_MANAGE: Rule.ADMIN,
    Action.POLICY_MANAGE: Rule.ADMIN,
    Action.INTEGRATION_MANAGE: Rule.ADMIN,
    Action.PREFERENCE_MANAGE_OTHERS: Rule.ADMIN,
    Action.SCHEDULE_READ: Rule.ANYONE,
    Action.SCHEDULE_MANAGE: Rule.TEAM_LEADS,
    Action.SCHEDULE_OVERRIDE: Rule.TEAM_LEADS_OR_THEMSELVES,
    Action.DIRECTORY_READ: Rule.ANYONE,
    Action.MAINTENANCE_READ: Rule.ANYONE,
    Action.MAINTENANCE_MANAGE: Rule.TEAM_LEADS,
    Action.HEARTBEAT_READ: Rule.ANYONE,
    Action.HEARTBEAT_MANAGE: Rule.TEAM_LEADS,
    Action.ANALYTICS_READ: Rule.TEAM_MEMBERS,
}

CROSS_TEAM_ROLE = Role.MANAGER


@dataclass(frozen=True)
class TeamScope:
    """A resource that belongs to several teams at once (a maintenance window silences its own team and
    the teams of the integrations it lists): TEAM_LEADS asks for the right in each of `team_ids`, and
    an empty scope is nobody's team (admins only)."""

    team_ids: frozenset[int]


Resource = Incident | TeamResource | TeamScope | Team | None
"""What a rule may be judged on: an incident, a schedule or heartbeat (each names its team), a team
scope, or a team itself."""


def _teams_of(resource: Resource) -> frozenset[int]:
    if isinstance(resource, TeamScope):
        return resource.team_ids
    if isinstance(resource, Team):
        return frozenset({resource.id})
    return frozenset() if resource is None or resource.team_id is None else frozenset({resource.team_id})


def can(
    actor: User,
    action: Action,
    resource: Resource = None,
    *,
    was_paged: bool = False,
    for_themselves: bool = False,
) -> bool:
    """Whether `actor` may do `action` (on the incident, schedule, heartbeat, team scope or team
    `resource`). An inactive actor may do nothing. `was_paged`: a page for `resource` was written for
    `actor` (only INCIDENT_RESPONDERS asks: whoever was paged may always answer the page).
    `for_themselves`: the override puts `actor` on call (only TEAM_LEADS_OR_THEMSELVES asks)."""
    if not actor.is_active:
        return False
    if actor.role is Role.ADMIN:
        return True
    rule = PERMISSIONS[action]
    if rule is Rule.ANYONE:
        return True
    if rule is Rule.ADMIN:
        return False
    teams = _teams_of(resource)
    in_team = bool(teams) and teams == {actor.team_id}
    if rule is Rule.TEAM_MEMBERS:
        return in_team or actor.role.at_least(CROSS_TEAM_ROLE)
    if rule in (Rule.TEAM_LEADS, Rule.TEAM_LEADS_OR_THEMSELVES):
        if rule is Rule.TEAM_LEADS_OR_THEMSELVES and for_themselves:
            return in_team
        return in_team and actor.role.at_least(Role.TEAM_LEAD)
    if not isinstance(resource, Incident):  # judged as for a team incident not one's own
        return actor.role.at_least(CROSS_TEAM_ROLE)
    if rule is Rule.INCIDENT_RESPONDERS and was_paged:
        return True
    return (
        resource.team_id is None
        or resource.team_id == actor.team_id
        or actor.id in (resource.assignee_id, resource.created_by_id)
        or actor.role.at_least(CROSS_TEAM_ROLE)
    )


def can_move(actor: User, incident: Incident, team_id: int | None) -> bool:
    """Whether `actor` may move `incident` to `team_id`: they may edit it where it is, and the new team
    is theirs (manager and above: any team); out of every team only manager and above."""
    if not actor.is_active:
        return False
    if actor.role.at_least(CROSS_TEAM_ROLE):
        return True
    return team_id is not None and team_id == actor.team_id and can(actor, Action.INCIDENT_UPDATE, incident)


def require(
    actor: User,
    action: Action,
    resource: Resource = None,
    *,
    was_paged: bool = False,
    for_themselves: bool = False,
) -> None:
    """Raises PermissionDenied unless `can` allows it."""
    if not can(actor, action, resource, was_paged=was_paged, for_themselves=for_themselves):
        raise PermissionDenied(f"{actor.role.value} may not {action.value.replace('.', ' ')} here")


def require_move(actor: User, incident: Incident, team_id: int | None) -> None:
    """Raises PermissionDenied unless `can_move` allows it."""
    if not can_move(actor, incident, team_id):
        where = f"team {team_id}" if team_id is not None else "no team"
        raise PermissionDenied(
            f"{actor.role.value} may not move the incident to {where}: moving needs the right in both "
            "teams (a member of the new team, or manager and above; to no team, manager and above)"
        )

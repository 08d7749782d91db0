"""Who may do what: every (role, action) pair against every kind of resource, from a table written here.

The expected table is deliberately spelled out rather than derived from `permissions.PERMISSIONS`,
so that a change to the code's table shows up as a failing test.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentcore.errors import PermissionDenied
from incidentcore.heartbeats import Heartbeat
from incidentcore.model import Incident, Role, Team, User
from incidentcore.permissions import Action, TeamScope, can, can_move, require, require_move
from incidentcore.schedules import Schedule

T0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
ACTOR_ID = 10
MY_TEAM = 1
OTHER_TEAM = 2

# The seven roles, spelled out. "Cross-team" roles may act on any team's incident.
CROSS_TEAM = {"manager", "vp", "cto", "admin"}
EVERY_ROLE = {"user", "oncall_engineer", "team_lead", "manager", "vp", "cto", "admin"}

# Resource situations, from the actor's point of view.
NO_RESOURCE = "no resource"
NO_TEAM = "incident without a team"
MY_TEAMS = "incident of the actor's team"
OTHER_TEAMS = "incident of another team"
ASSIGNEE = "another team's incident, actor is the assignee"
CREATOR = "another team's incident, actor created it"
PAGED = "another team's incident, actor was paged for it"
SITUATIONS = [NO_RESOURCE, NO_TEAM, MY_TEAMS, OTHER_TEAMS, ASSIGNEE, CREATOR, PAGED]

ANYONE = {situation: EVERY_ROLE for situation in SITUATIONS}
ADMIN_ONLY = {situation: {"admin"} for situation in SITUATIONS}
OWNERS = {
    NO_RESOURCE: CROSS_TEAM,  # judged as for a team incident that is not one's own
    NO_TEAM: EVERY_ROLE,
    MY_TEAMS: EVERY_ROLE,
    OTHER_TEAMS: CROSS_TEAM,
    ASSIGNEE: EVERY_ROLE,
    CREATOR: EVERY_ROLE,
    PAGED: CROSS_TEAM,  # being paged lets one answer the page, not own the incident
}
RESPONDERS = {**OWNERS, PAGED: EVERY_ROLE}
# Schedules are judged on their team alone (an incident in these situations stands for a resource of
# that team): team_lead and above of that team; a schedule without a team, admins only.
TEAM_LEADS_AND_ABOVE = {"team_lead", "manager", "vp", "cto", "admin"}
SCHEDULE_MANAGERS = {**ADMIN_ONLY, MY_TEAMS: TEAM_LEADS_AND_ABOVE}
# A team's report (an incident in these situations stands for its team): its members, and manager and
# above for any team; the report over every team (no resource) manager and above only.
TEAM_MEMBERS = {**{situation: CROSS_TEAM for situation in SITUATIONS}, MY_TEAMS: EVERY_ROLE}

# action value -> situation -> the roles allowed
EXPECTED: dict[str, dict[str, set[str]]] = {
    "incident.read": ANYONE,
    "incident.create": ANYONE,
    "incident.comment": ANYONE,
    "incident.acknowledge": RESPONDERS,  # whoever is paged must be able to acknowledge
    "incident.update": OWNERS,
    "incident.resolve": OWNERS,
    "incident.snooze": OWNERS,
    "incident.assign": OWNERS,
    "incident.escalate": OWNERS,
    "incident.read_delivery_errors": OWNERS,  # others see each page's status, not why it failed
    "self.manage": ANYONE,
    "team.manage": ADMIN_ONLY,
    "user.manage": ADMIN_ONLY,
    "policy.manage": ADMIN_ONLY,
    "integration.manage": ADMIN_ONLY,
    "preference.manage_others": ADMIN_ONLY,
    "schedule.read": ANYONE,
    "schedule.manage": SCHEDULE_MANAGERS,
    "schedule.override": SCHEDULE_MANAGERS,  # someone else on call; for oneself, see below
    "directory.read": ANYONE,
    "maintenance.read": ANYONE,
    # Judged like a schedule on each team the window silences (see the team scope tests below).
    "maintenance.manage": SCHEDULE_MANAGERS,
    "heartbeat.read": ANYONE,
    "heartbeat.manage": SCHEDULE_MANAGERS,  # the same rule on the heartbeat's team
    "analytics.read": TEAM_MEMBERS,
}


def test_the_expected_table_covers_every_action() -> None:
    assert set(EXPECTED) == {a.value for a in Action}
    assert {r.value for r in Role} == EVERY_ROLE


def actor(role: Role, *, active: bool = True, team_id: int | None = MY_TEAM) -> User:
    return User("a@example.com", "A", "hash", role=role, team_id=team_id, is_active=active, id=ACTOR_ID)


def resource(situation: str) -> Incident | None:
    def incident(
        team_id: int | None, assignee_id: int | None = 99, created_by_id: int | None = 98
    ) -> Incident:
        return Incident(
            "disk full", T0, team_id=team_id, assignee_id=assignee_id, created_by_id=created_by_id, id=5
        )

    return {
        NO_RESOURCE: None,
        NO_TEAM: incident(None),
        MY_TEAMS: incident(MY_TEAM),
        OTHER_TEAMS: incident(OTHER_TEAM),
        ASSIGNEE: incident(OTHER_TEAM, assignee_id=ACTOR_ID),
        CREATOR: incident(OTHER_TEAM, created_by_id=ACTOR_ID),
        PAGED: incident(OTHER_TEAM),
    }[situation]


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_every_role_action_and_resource(role: Role, action: Action, situation: str) -> None:
    allowed = role.value in EXPECTED[action.value][situation]
    target = resource(situation)
    paged = situation == PAGED
    assert can(actor(role), action, target, was_paged=paged) is allowed
    if allowed:
        require(actor(role), action, target, was_paged=paged)
    else:
        with pytest.raises(PermissionDenied, match=role.value):
            require(actor(role), action, target, was_paged=paged)


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_inactive_users_can_do_nothing(role: Role, action: Action, situation: str) -> None:
    assert can(actor(role, active=False), action, resource(situation), was_paged=True) is False
    with pytest.raises(PermissionDenied):
        require(actor(role, active=False), action, resource(situation), was_paged=True)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_an_actor_without_a_team_is_not_a_member_of_a_teamless_incident(role: Role, action: Action) -> None:
    """team_id None on both sides is "no team", which anyone may act on; not a team match."""
    loner = actor(role, team_id=None)
    assert can(loner, action, resource(NO_TEAM)) is (role.value in EXPECTED[action.value][NO_TEAM])
    assert can(loner, action, resource(OTHER_TEAMS)) is (role.value in EXPECTED[action.value][OTHER_TEAMS])


@pytest.mark.parametrize("role", list(Role))
def test_any_member_of_a_schedules_team_may_put_themselves_on_call_there(role: Role) -> None:
    mine, others, teamless = (Schedule("ops", "UTC", team_id=team) for team in (MY_TEAM, OTHER_TEAM, None))
    me = actor(role)
    assert can(me, Action.SCHEDULE_OVERRIDE, mine, for_themselves=True)
    assert can(me, Action.SCHEDULE_OVERRIDE, mine) is (role.value in TEAM_LEADS_AND_ABOVE)
    for elsewhere in (others, teamless):
        assert can(me, Action.SCHEDULE_OVERRIDE, elsewhere, for_themselves=True) is (role is Role.ADMIN)
    # putting oneself on call is an override, not a licence to edit the schedule
    assert can(me, Action.SCHEDULE_MANAGE, mine, for_themselves=True) is (role.value in TEAM_LEADS_AND_ABOVE)
    assert not can(actor(role, active=False), Action.SCHEDULE_OVERRIDE, mine, for_themselves=True)


@given(
    role=st.sampled_from(Role),
    active=st.booleans(),
    actor_team=st.none() | st.integers(1, 3),
    teams=st.frozensets(st.integers(1, 3), max_size=3),
)
def test_a_team_scope_needs_the_right_in_each_of_its_teams(
    role: Role, active: bool, actor_team: int | None, teams: frozenset[int]
) -> None:
    """A maintenance window's scope (its team and its integrations' teams): admins, or team leads and
    above who belong to every team in it; an empty scope is nobody's team."""
    who = User("a@example.com", "A", "h", role=role, team_id=actor_team, is_active=active, id=1)
    allowed = can(who, Action.MAINTENANCE_MANAGE, TeamScope(teams))
    if role is Role.ADMIN:
        assert allowed is active
    else:
        assert allowed is (active and role.at_least(Role.TEAM_LEAD) and bool(teams) and teams == {actor_team})
    # the right in a scope is the right in each of its teams, judged alone
    each = [can(who, Action.MAINTENANCE_MANAGE, TeamScope(frozenset({team}))) for team in teams]
    if teams:
        assert allowed is all(each)
    assert can(who, Action.MAINTENANCE_READ, TeamScope(teams)) is active


@pytest.mark.parametrize("role", list(Role))
def test_heartbeats_are_managed_by_team_leads_and_above_of_their_team(role: Role) -> None:
    mine, others = (Heartbeat("backup", team, 60, 5, "hash", T0) for team in (MY_TEAM, OTHER_TEAM))
    me = actor(role)
    assert can(me, Action.HEARTBEAT_MANAGE, mine) is (role.value in TEAM_LEADS_AND_ABOVE)
    assert can(me, Action.HEARTBEAT_MANAGE, others) is (role is Role.ADMIN)
    assert can(me, Action.HEARTBEAT_READ, others)
    assert not can(actor(role, active=False), Action.HEARTBEAT_READ, mine)
    if role is not Role.ADMIN:
        with pytest.raises(PermissionDenied):
            require(me, Action.HEARTBEAT_MANAGE, others)


@pytest.mark.parametrize("role", list(Role))
def test_a_teams_report_is_for_its_members_and_managers_and_above(role: Role) -> None:
    mine, others = Team("mine", id=MY_TEAM), Team("others", id=OTHER_TEAM)
    cross_team = role.value in CROSS_TEAM
    assert can(actor(role), Action.ANALYTICS_READ, mine)
    assert can(actor(role), Action.ANALYTICS_READ, others) is cross_team
    assert can(actor(role), Action.ANALYTICS_READ) is cross_team  # every team's
    assert can(actor(role, team_id=None), Action.ANALYTICS_READ, Team("teamless", id=0)) is cross_team
    assert not can(actor(role, active=False), Action.ANALYTICS_READ, mine)


ROLES_BY_RANK = sorted(Role, key=lambda r: r.rank)


@given(
    action=st.sampled_from(Action),
    active=st.booleans(),
    actor_team=st.none() | st.integers(1, 3),
    actor_id=st.integers(1, 4),
    incident=st.none()
    | st.builds(
        Incident,
        title=st.just("x"),
        created_at=st.just(T0),
        team_id=st.none() | st.integers(1, 3),
        assignee_id=st.none() | st.integers(1, 4),
        created_by_id=st.none() | st.integers(1, 4),
    ),
)
def test_can_is_monotonic_in_role_rank(
    action: Action, active: bool, actor_team: int | None, actor_id: int, incident: Incident | None
) -> None:
    """Whatever a role may do, every higher role may do too (same person, same resource)."""
    verdicts = [
        can(
            User("a@example.com", "A", "h", role=r, team_id=actor_team, is_active=active, id=actor_id),
            action,
            incident,
        )
        for r in ROLES_BY_RANK
    ]
    assert verdicts == sorted(verdicts)  # False ... False True ... True


@given(
    action=st.sampled_from(Action),
    role=st.sampled_from(Role),
    actor_team=st.none() | st.integers(1, 3),
    incident_team=st.none() | st.integers(1, 3),
    assignee_id=st.none() | st.integers(1, 4),
)
def test_being_paged_widens_only_acknowledge(
    action: Action, role: Role, actor_team: int | None, incident_team: int | None, assignee_id: int | None
) -> None:
    """Whoever could act without the page still can; the page adds acknowledging and nothing else."""
    who = User("a@example.com", "A", "h", role=role, team_id=actor_team, id=1)
    incident = Incident("x", T0, team_id=incident_team, assignee_id=assignee_id)
    unpaged, paged = can(who, action, incident), can(who, action, incident, was_paged=True)
    assert paged >= unpaged
    if action is Action.INCIDENT_ACKNOWLEDGE:
        assert paged
    else:
        assert paged == unpaged


# Moves: (actor role, actor's team, new team) -> allowed, for an incident of OTHER_TEAM the actor is
# assigned to (so the edit itself is allowed where the incident is).
MOVES = [
    ("user", MY_TEAM, MY_TEAM, True),  # into one's own team
    ("team_lead", MY_TEAM, 3, False),  # into a third team: the assignee's part does not carry over
    ("team_lead", MY_TEAM, None, False),  # out of every team: anyone could then resolve it
    ("oncall_engineer", None, None, False),
    ("manager", MY_TEAM, 3, True),
    ("manager", MY_TEAM, None, True),
    ("cto", None, None, True),
    ("admin", MY_TEAM, None, True),
]


@pytest.mark.parametrize(("role", "actor_team", "new_team", "allowed"), MOVES)
def test_moving_an_incident_needs_the_right_in_both_teams(
    role: str, actor_team: int | None, new_team: int | None, allowed: bool
) -> None:
    incident = Incident("x", T0, team_id=OTHER_TEAM, assignee_id=ACTOR_ID)
    mover = actor(Role(role), team_id=actor_team)
    assert can(mover, Action.INCIDENT_UPDATE, incident)
    assert can_move(mover, incident, new_team) is allowed
    if allowed:
        require_move(mover, incident, new_team)
    else:
        with pytest.raises(PermissionDenied, match="move"):
            require_move(mover, incident, new_team)


@given(
    role=st.sampled_from(Role),
    active=st.booleans(),
    actor_team=st.none() | st.integers(1, 3),
    incident_team=st.none() | st.integers(1, 3),
    new_team=st.none() | st.integers(1, 3),
    assignee_id=st.none() | st.integers(1, 4),
)
def test_a_move_is_allowed_only_where_the_edit_is_allowed_on_both_sides(
    role: Role,
    active: bool,
    actor_team: int | None,
    incident_team: int | None,
    new_team: int | None,
    assignee_id: int | None,
) -> None:
    who = User("a@example.com", "A", "h", role=role, team_id=actor_team, is_active=active, id=1)
    incident = Incident("x", T0, team_id=incident_team, assignee_id=assignee_id)
    moved = Incident("x", T0, team_id=new_team)  # where it lands, with nobody's part in it yet
    if can_move(who, incident, new_team):
        assert can(who, Action.INCIDENT_UPDATE, incident)
        assert can(who, Action.INCIDENT_UPDATE, moved)
        if new_team is None:
            assert role.at_least(Role.MANAGER)
    if role.at_least(Role.MANAGER) and active:
        assert can_move(who, incident, new_team)

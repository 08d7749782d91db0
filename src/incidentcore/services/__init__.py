"""Use cases: each method is one unit of work against the ports, committed explicitly."""

from incidentcore.services.accounts import Accounts, NewUser, ProfileChanges, SignupPolicy, UserChanges
from incidentcore.services.alerts import Alert, AlertAction, AlertIngestion, AlertLimits, AlertReceipt
from incidentcore.services.analytics import Analytics
from incidentcore.services.directory import Directory
from incidentcore.services.heartbeats import (
    HeartbeatChanges,
    HeartbeatCheck,
    Heartbeats,
    HeartbeatState,
    NewHeartbeat,
    open_missed_heartbeat_incident,
)
from incidentcore.services.incidents import IncidentOverview, Incidents, NewIncident, open_incident
from incidentcore.services.integrations import Integrations
from incidentcore.services.maintenance import MaintenanceWindows
from incidentcore.services.paging import PagingConfig, record_outcome, record_outcomes
from incidentcore.services.policies import Policies, PolicyChanges, PreviewOptions
from incidentcore.services.preferences import DeliveryReport, Preferences
from incidentcore.services.schedules import (
    CalendarFeeds,
    FeedShifts,
    NewOverride,
    OnCallShift,
    ScheduleChanges,
    ScheduledShift,
    Schedules,
)
from incidentcore.services.teams import TeamChanges, Teams
from incidentcore.services.worker import EscalationTick, NotificationDispatch, SendSlots

__all__ = [
    "Accounts",
    "Alert",
    "AlertAction",
    "AlertIngestion",
    "AlertLimits",
    "AlertReceipt",
    "Analytics",
    "CalendarFeeds",
    "DeliveryReport",
    "Directory",
    "EscalationTick",
    "FeedShifts",
    "HeartbeatChanges",
    "HeartbeatCheck",
    "HeartbeatState",
    "Heartbeats",
    "IncidentOverview",
    "Incidents",
    "Integrations",
    "MaintenanceWindows",
    "NewHeartbeat",
    "NewIncident",
    "NewOverride",
    "NewUser",
    "NotificationDispatch",
    "OnCallShift",
    "PagingConfig",
    "Policies",
    "PolicyChanges",
    "Preferences",
    "PreviewOptions",
    "ProfileChanges",
    "ScheduleChanges",
    "ScheduledShift",
    "Schedules",
    "SendSlots",
    "SignupPolicy",
    "TeamChanges",
    "Teams",
    "UserChanges",
    "open_incident",
    "open_missed_heartbeat_incident",
    "record_outcome",
    "record_outcomes",
]

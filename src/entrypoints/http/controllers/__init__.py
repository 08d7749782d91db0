"""One Litestar controller per resource; each handler parses, calls one use case, maps the result."""

from entrypoints.http.controllers.alerts import AlertsController
from entrypoints.http.controllers.analytics import AnalyticsController
from entrypoints.http.controllers.auth import AuthController
from entrypoints.http.controllers.calendar_feeds import CalendarFeedsController
from entrypoints.http.controllers.events import EventsController
from entrypoints.http.controllers.heartbeats import HeartbeatsController
from entrypoints.http.controllers.incidents import IncidentsController
from entrypoints.http.controllers.integrations import IntegrationsController
from entrypoints.http.controllers.maintenance_windows import MaintenanceWindowsController
from entrypoints.http.controllers.policies import PoliciesController
from entrypoints.http.controllers.preferences import PreferencesController
from entrypoints.http.controllers.schedules import OnCallController, SchedulesController
from entrypoints.http.controllers.service import ServiceController
from entrypoints.http.controllers.teams import TeamsController
from entrypoints.http.controllers.users import UsersController

API_CONTROLLERS = [
    AuthController,
    UsersController,
    TeamsController,
    IncidentsController,
    PoliciesController,
    PreferencesController,
    IntegrationsController,
    AlertsController,
    SchedulesController,
    OnCallController,
    CalendarFeedsController,
    EventsController,
    MaintenanceWindowsController,
    HeartbeatsController,
    AnalyticsController,
]

__all__ = ["API_CONTROLLERS", "ServiceController"]

"""Use cases: each method is one unit of work against the ports, committed explicitly."""

from incidentcore.services.accounts import Accounts, NewUser, SignupPolicy
from incidentcore.services.incidents import Incidents, NewIncident
from incidentcore.services.integrations import Alert, AlertIngestion, AlertReceipt, Integrations
from incidentcore.services.paging import Pager, PagingConfig
from incidentcore.services.policies import Policies
from incidentcore.services.preferences import Preferences
from incidentcore.services.teams import Teams
from incidentcore.services.worker import EscalationTick, NotificationDispatch, SendSlots

__all__ = [
    "Accounts",
    "Alert",
    "AlertIngestion",
    "AlertReceipt",
    "EscalationTick",
    "Incidents",
    "Integrations",
    "NewIncident",
    "NewUser",
    "NotificationDispatch",
    "Pager",
    "PagingConfig",
    "Policies",
    "Preferences",
    "SendSlots",
    "SignupPolicy",
    "Teams",
]

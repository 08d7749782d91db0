"""An uptime monitor, as another team would write it on top of incidentcore.

It imports only incidentcore's public surface: `forecast` runs the escalation state machine to say
who is paged when if nobody answers, `replay` runs it over a sequence of events, `responders` asks the
permission table who may acknowledge, and `UptimeMonitor` drives the incident use cases.
"""

from escalation_consumer.forecast import PlannedPage, Replay, forecast, replay
from escalation_consumer.monitor import CheckResult, UptimeMonitor, responders

__all__ = ["CheckResult", "PlannedPage", "Replay", "UptimeMonitor", "forecast", "replay", "responders"]

"""What library users need to test against the core: a fake clock, in-memory adapters for every port,
and `InMemoryServices`, every use case wired to them (a whole service in a test, no database).

The in-memory adapters are also the reference behaviour of the ports: an adapter of your own should
pass the same contract tests (tests/contract in the source repository).

Two modules need hypothesis, which the core does not depend on, and are imported on their own:
`incidentcore.testing.strategies` (strategies for policies, event runs, incidents, schedules) and
`incidentcore.testing.stateful` (`incidentcore.testing.stateful.EscalationMachine`, a stateful test
of the escalation state machine to subclass).
"""

from incidentcore.testing.clock import FakeClock
from incidentcore.testing.memory import (
    CountingNudge,
    FakePasswordHasher,
    FakeTokenService,
    FixedRetryPolicy,
    MemoryCalendarFeedRepository,
    MemoryCommentRepository,
    MemoryEscalationEventRepository,
    MemoryIncidentRepository,
    MemoryIntegrationRepository,
    MemoryMaintenanceWindowRepository,
    MemoryNotificationRepository,
    MemoryOverrideRepository,
    MemoryPasswordResetTokenRepository,
    MemoryPolicyRepository,
    MemoryPreferenceRepository,
    MemoryScheduleRepository,
    MemoryStore,
    MemorySuppressedAlertRepository,
    MemoryTeamRepository,
    MemoryTimelineRepository,
    MemoryUnitOfWork,
    MemoryUserRepository,
    RecordedSleeps,
    RecordingNotifier,
    RefusedAddresses,
    RefusedHosts,
    SequentialSecrets,
)
from incidentcore.testing.world import MAX_WORKER_ROUNDS, InMemoryServices, drain

__all__ = [
    "MAX_WORKER_ROUNDS",
    "CountingNudge",
    "FakeClock",
    "FakePasswordHasher",
    "FakeTokenService",
    "FixedRetryPolicy",
    "InMemoryServices",
    "MemoryCalendarFeedRepository",
    "MemoryCommentRepository",
    "MemoryEscalationEventRepository",
    "MemoryIncidentRepository",
    "MemoryIntegrationRepository",
    "MemoryMaintenanceWindowRepository",
    "MemoryNotificationRepository",
    "MemoryOverrideRepository",
    "MemoryPasswordResetTokenRepository",
    "MemoryPolicyRepository",
    "MemoryPreferenceRepository",
    "MemoryScheduleRepository",
    "MemoryStore",
    "MemorySuppressedAlertRepository",
    "MemoryTeamRepository",
    "MemoryTimelineRepository",
    "MemoryUnitOfWork",
    "MemoryUserRepository",
    "RecordedSleeps",
    "RecordingNotifier",
    "RefusedAddresses",
    "RefusedHosts",
    "SequentialSecrets",
    "drain",
]

"""What library users need to test against the core: a fake clock, and in-memory adapters for every port.

The hypothesis strategies live in `incidentcore.testing.strategies` (imported separately: they need
hypothesis, which the core does not depend on).
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
    MemoryNotificationRepository,
    MemoryOverrideRepository,
    MemoryPasswordResetTokenRepository,
    MemoryPolicyRepository,
    MemoryPreferenceRepository,
    MemoryScheduleRepository,
    MemoryStore,
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

__all__ = [
    "CountingNudge",
    "FakeClock",
    "FakePasswordHasher",
    "FakeTokenService",
    "FixedRetryPolicy",
    "MemoryCalendarFeedRepository",
    "MemoryCommentRepository",
    "MemoryEscalationEventRepository",
    "MemoryIncidentRepository",
    "MemoryIntegrationRepository",
    "MemoryNotificationRepository",
    "MemoryOverrideRepository",
    "MemoryPasswordResetTokenRepository",
    "MemoryPolicyRepository",
    "MemoryPreferenceRepository",
    "MemoryScheduleRepository",
    "MemoryStore",
    "MemoryTeamRepository",
    "MemoryTimelineRepository",
    "MemoryUnitOfWork",
    "MemoryUserRepository",
    "RecordedSleeps",
    "RecordingNotifier",
    "RefusedAddresses",
    "RefusedHosts",
    "SequentialSecrets",
]

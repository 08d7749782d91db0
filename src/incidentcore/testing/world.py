"""Every use case wired to in-memory adapters that share one store: a whole service in a test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from incidentcore.model import Role, User
from incidentcore.services import (
    Accounts,
    AlertIngestion,
    AlertLimits,
    Analytics,
    CalendarFeeds,
    Directory,
    EscalationTick,
    HeartbeatCheck,
    Heartbeats,
    Incidents,
    Integrations,
    MaintenanceWindows,
    NewUser,
    NotificationDispatch,
    PagingConfig,
    Policies,
    Preferences,
    Schedules,
    SignupPolicy,
    Teams,
)
from incidentcore.testing.clock import FakeClock
from incidentcore.testing.memory import (
    CountingNudge,
    FakePasswordHasher,
    FakeTokenService,
    FixedRetryPolicy,
    MemoryStore,
    MemoryUnitOfWork,
    RecordedSleeps,
    RecordingNotifier,
    RefusedAddresses,
    RefusedHosts,
    SequentialSecrets,
)
from incidentcore.throttle import InMemoryLoginThrottle


class InMemoryServices:
    """Builds each use case on a fresh unit of work over the shared `store`, as a request scope would."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.store = MemoryStore()
        self.clock = clock or FakeClock()
        self.hasher = FakePasswordHasher()
        self.tokens = FakeTokenService(self.clock)
        self.secrets = SequentialSecrets()
        self.sleeps = RecordedSleeps()  # the throttle's slow-down waits, recorded, not slept
        self.throttle = InMemoryLoginThrottle(sleep=self.sleeps)
        self.signup_policy = SignupPolicy()
        self.nudge = CountingNudge()
        self.notifier = RecordingNotifier()
        self.retry = FixedRetryPolicy([timedelta(seconds=30), timedelta(minutes=2)])
        self.paging = PagingConfig()
        self.alert_limits = AlertLimits()
        self.destinations = RefusedHosts()
        self.addresses = RefusedAddresses()

    def uow(self) -> MemoryUnitOfWork:
        """A fresh unit of work over `store`."""
        return MemoryUnitOfWork(self.store)

    @property
    def accounts(self) -> Accounts:
        """`Accounts` on a fresh unit of work."""
        return Accounts(
            self.uow(), self.clock, self.hasher, self.tokens, self.secrets, self.throttle, self.signup_policy
        )

    @property
    def teams(self) -> Teams:
        """`Teams` on a fresh unit of work."""
        return Teams(self.uow(), self.clock)

    @property
    def incidents(self) -> Incidents:
        """`Incidents` on a fresh unit of work."""
        return Incidents(self.uow(), self.clock, self.nudge, self.paging)

    @property
    def policies(self) -> Policies:
        """`Policies` on a fresh unit of work."""
        return Policies(self.uow(), self.clock)

    @property
    def preferences(self) -> Preferences:
        """`Preferences` on a fresh unit of work."""
        return Preferences(
            self.uow(), self.destinations, self.addresses, self.notifier, self.clock, self.throttle
        )

    @property
    def directory(self) -> Directory:
        """`Directory` on a fresh unit of work."""
        return Directory(self.uow())

    @property
    def analytics(self) -> Analytics:
        """`Analytics` on a fresh unit of work."""
        return Analytics(self.uow(), self.clock)

    @property
    def schedules(self) -> Schedules:
        return Schedules(self.uow(), self.clock)

    @property
    def calendar_feeds(self) -> CalendarFeeds:
        return CalendarFeeds(self.uow(), self.clock, self.secrets)

    @property
    def maintenance_windows(self) -> MaintenanceWindows:
        """`MaintenanceWindows` on a fresh unit of work."""
        return MaintenanceWindows(self.uow(), self.clock)

    @property
    def heartbeats(self) -> Heartbeats:
        """`Heartbeats` on a fresh unit of work."""
        return Heartbeats(self.uow(), self.clock, self.secrets, self.paging)

    @property
    def heartbeat_check(self) -> HeartbeatCheck:
        """`HeartbeatCheck` on a fresh unit of work."""
        return HeartbeatCheck(self.uow(), self.clock, self.paging)

    @property
    def integrations(self) -> Integrations:
        """`Integrations` on a fresh unit of work."""
        return Integrations(self.uow(), self.clock, self.secrets)

    @property
    def alerts(self) -> AlertIngestion:
        """`AlertIngestion` on a fresh unit of work."""
        return AlertIngestion(self.uow(), self.clock, self.nudge, self.paging, self.alert_limits)

    @property
    def escalation_tick(self) -> EscalationTick:
        """`EscalationTick` on a fresh unit of work."""
        return EscalationTick(self.uow(), self.clock, self.paging)

    @property
    def dispatch(self) -> NotificationDispatch:
        """`NotificationDispatch` on a fresh unit of work."""
        return NotificationDispatch(
            self.uow(), self.clock, self.notifier, self.retry, destinations=self.destinations
        )

    async def user(
        self, email: str, role: Role = Role.USER, team_id: int | None = None, password: str = "password1"
    ) -> User:
        """Creates an active user directly: no actor, no sign-up policy or throttle."""
        password_hash = await self.hasher.hash(password)
        async with self.uow() as uow:
            user = await uow.users.add(
                User(email, email.split("@")[0].title(), password_hash, role, team_id, created_at=self.clock.now())
            )
            await uow.commit()
        return user

    async def admin(self, email: str = "admin@example.com") -> User:
        """Creates (or promotes) an admin, through `Accounts.ensure_admin`."""
        return await self.accounts.ensure_admin(email, "admin-password")

    async def run_worker(self) -> None:
        """One tick (missed heartbeats, then due escalations) and one dispatch round, draining full batches.

        Bounded: a due incident or page that never stops being due (a broken due check) fails the
        test with a clear error instead of looping forever.
        """
        await drain(lambda: self.heartbeat_check.run(), "the heartbeat check")
        await drain(lambda: self.escalation_tick.run(), "the escalation tick")
        await drain(lambda: self.dispatch.run(), "the notification dispatch")


MAX_WORKER_ROUNDS = 100
"""How many batches `drain` runs at one instant before it decides something never stops being due."""


async def drain(run_batch: Callable[[], Awaitable[int]], what: str) -> None:
    """Runs `run_batch` until it finds no work; raises after `MAX_WORKER_ROUNDS` batches."""
    for _ in range(MAX_WORKER_ROUNDS):
        if not await run_batch():
            return
    raise RuntimeError(
        f"{what} still found work after {MAX_WORKER_ROUNDS} batches at one instant: "
        "something stays due without ever being done"
    )


__all__ = ["MAX_WORKER_ROUNDS", "InMemoryServices", "NewUser", "drain"]

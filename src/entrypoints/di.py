"""The composition root: the only module that knows every adapter.

Providers are grouped by what they wire. The HTTP app, the CLI and the worker each build one
container from the same providers; every HTTP request (and every worker tick) opens one REQUEST
scope, which holds one unit of work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from dishka import (
    AsyncContainer,
    Provider,
    Scope,
    alias,
    decorate,
    from_context,
    make_async_container,
    provide,
)
from litestar.stores.base import Store
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.clock import SystemClock
from adapters.health import DatabaseHealth, SqlDatabaseHealth
from adapters.metrics import MeteredAccounts, MeteredAlertIngestion, MeteredUnitOfWork
from adapters.notify.apprise_notifier import AppriseConfig, AppriseNotifier
from adapters.notify.channels import CHANNELS
from adapters.notify.destinations import AddressPolicy
from adapters.notify.logging import LoggingNotifier
from adapters.notify.retry import ExponentialBackoff
from adapters.nudge import AsyncioNudge
from adapters.security import BcryptPasswordHasher, JwtTokenService, UrlSafeSecrets
from adapters.sql.engine import create_engine, create_session_factory
from entrypoints.settings import Settings
from incidentcore.ports import (
    ChannelAddresses,
    Clock,
    DestinationPolicy,
    LoginThrottle,
    Notifier,
    PasswordHasher,
    RetryPolicy,
    SchedulerNudge,
    SecretGenerator,
    TokenService,
    UnitOfWork,
)
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
    NotificationDispatch,
    PagingConfig,
    Policies,
    Preferences,
    Schedules,
    SendSlots,
    SignupPolicy,
    Teams,
)
from incidentcore.throttle import InMemoryLoginThrottle


class ConfigProvider(Provider):
    settings = from_context(provides=Settings, scope=Scope.APP)


class SecurityProvider(Provider):
    scope = Scope.APP

    @provide
    def clock(self) -> Clock:
        return SystemClock()

    @provide
    def password_hasher(self, settings: Settings) -> PasswordHasher:
        return BcryptPasswordHasher(rounds=settings.bcrypt_rounds)

    @provide
    def token_service(self, settings: Settings, clock: Clock) -> TokenService:
        return JwtTokenService(
            settings.secret_key, timedelta(minutes=settings.access_token_expire_minutes), clock
        )

    @provide
    def secret_generator(self) -> SecretGenerator:
        return UrlSafeSecrets()

    @provide
    def login_throttle(self) -> LoginThrottle:
        return InMemoryLoginThrottle()

    @provide
    def signup_policy(self, settings: Settings) -> SignupPolicy:
        return SignupPolicy(settings.signup_enabled, settings.signup_allowed_domains)


class MessagingProvider(Provider):
    scope = Scope.APP

    @provide
    def asyncio_nudge(self) -> AsyncioNudge:
        return AsyncioNudge()

    nudge = alias(source=AsyncioNudge, provides=SchedulerNudge)

    @provide
    def notifier(self, settings: Settings) -> Notifier:
        """Apprise for every channel. Outside production, email and SMS without a configured provider
        (SMTP, Twilio) are written to the log instead, password reset tokens included, so development
        needs no provider; webhooks, Slack and Apprise URLs are delivered for real everywhere."""
        unconfigured = None if settings.is_production else LoggingNotifier()
        return AppriseNotifier(AppriseConfig.from_settings(settings), unconfigured=unconfigured)

    @provide
    def channel_addresses(self) -> ChannelAddresses:
        return CHANNELS

    @provide
    def destination_policy(self, settings: Settings) -> DestinationPolicy:
        return AddressPolicy(
            block_private=settings.notify_block_private_addresses,
            allowed_hosts=settings.notify_allowed_hosts,
            apprise_schemes=settings.notify_apprise_schemes,
        )

    @provide
    def send_slots(self, settings: Settings) -> SendSlots:
        """One per process: every dispatch batch counts its sends here."""
        return SendSlots(per_destination=settings.notification_max_sends_per_host)

    @provide
    def retry_policy(self, settings: Settings) -> RetryPolicy:
        return ExponentialBackoff(max_attempts=settings.notification_max_attempts)

    @provide
    def paging_config(self, settings: Settings) -> PagingConfig:
        return PagingConfig(
            public_url=settings.public_url,
            manual_escalations_per_incident=settings.manual_escalations_per_incident,
            manual_pages_per_user=settings.manual_pages_per_user,
            manual_page_window=timedelta(minutes=settings.manual_page_window_minutes),
        )


class SqlPersistenceProvider(Provider):
    """SQLite or Postgres through the SQL adapters; one session (unit of work) per REQUEST scope."""

    @provide(scope=Scope.APP)
    async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        yield engine
        await engine.dispose()

    @provide(scope=Scope.APP)
    def session_factory(self, engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
        return create_session_factory(engine)

    @provide(scope=Scope.APP)
    def database_health(self, engine: AsyncEngine) -> DatabaseHealth:
        return SqlDatabaseHealth(engine)

    @provide(scope=Scope.APP)
    def web_session_store(self, engine: AsyncEngine) -> Store:
        """The web UI's sessions, in the database: every process sees a login and a logout."""
        from adapters.sql.web_sessions import SqlSessionStore

        return SqlSessionStore(engine)

    @provide(scope=Scope.REQUEST)
    async def unit_of_work(self, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
        """One per request (and per worker batch). Authentication reads the actor before the use case's
        block, in the transaction the block continues; a request that never enters a block (a profile
        read) leaves that transaction open, so it ends here, when the request does."""
        from adapters.sql import SqlUnitOfWork

        uow = SqlUnitOfWork(sessions)
        yield uow
        async with uow:  # ends (rolls back) whatever is still open, and returns the connection
            pass


class UseCaseProvider(Provider):
    scope = Scope.REQUEST

    accounts = provide(Accounts)
    teams = provide(Teams)
    incidents = provide(Incidents)
    policies = provide(Policies)
    integrations = provide(Integrations)
    alert_ingestion = provide(AlertIngestion)
    schedules = provide(Schedules)
    calendar_feeds = provide(CalendarFeeds)
    maintenance_windows = provide(MaintenanceWindows)
    escalation_tick = provide(EscalationTick)
    heartbeats = provide(Heartbeats)
    heartbeat_check = provide(HeartbeatCheck)
    directory = provide(Directory)
    analytics = provide(Analytics)

    @provide
    def preferences(
        self,
        uow: UnitOfWork,
        destinations: DestinationPolicy,
        addresses: ChannelAddresses,
        notifier: Notifier,
        clock: Clock,
        throttle: LoginThrottle,
        settings: Settings,
    ) -> Preferences:
        timeout = timedelta(seconds=settings.notification_send_timeout_seconds)
        return Preferences(uow, destinations, addresses, notifier, clock, throttle, send_timeout=timeout)

    @provide(scope=Scope.APP)
    def alert_limits(self, settings: Settings) -> AlertLimits:
        return AlertLimits(timeline_events=settings.alert_timeline_max)

    @provide
    def notification_dispatch(
        self,
        uow: UnitOfWork,
        clock: Clock,
        notifier: Notifier,
        retry: RetryPolicy,
        settings: Settings,
        slots: SendSlots,
        destinations: DestinationPolicy,
    ) -> NotificationDispatch:
        return NotificationDispatch(
            uow,
            clock,
            notifier,
            retry,
            lease=timedelta(seconds=settings.notification_lease_seconds),
            slots=slots,
            destinations=destinations,
            send_timeout=timedelta(seconds=settings.notification_send_timeout_seconds),
        )


class MetricsProvider(Provider):
    """Counts at the use-case boundary (`adapters.metrics`): the core never knows it is measured."""

    scope = Scope.REQUEST

    @decorate
    def metered_unit_of_work(self, uow: UnitOfWork) -> UnitOfWork:
        return MeteredUnitOfWork(uow)

    @decorate
    def metered_alert_ingestion(self, alerts: AlertIngestion) -> AlertIngestion:
        return MeteredAlertIngestion(alerts)

    @decorate
    def metered_accounts(self, accounts: Accounts) -> Accounts:
        return MeteredAccounts(accounts)


def providers(persistence: Provider | None = None) -> list[Provider]:
    """Every provider the entrypoints share; `persistence` swaps the SQL adapters (tests use memory)."""
    return [
        ConfigProvider(),
        SecurityProvider(),
        MessagingProvider(),
        persistence if persistence is not None else SqlPersistenceProvider(),
        UseCaseProvider(),
        MetricsProvider(),
    ]


def build_container(
    settings: Settings, *extra: Provider, persistence: Provider | None = None
) -> AsyncContainer:
    return make_async_container(*providers(persistence), *extra, context={Settings: settings})
